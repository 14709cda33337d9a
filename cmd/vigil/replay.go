package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/correlate"
	"github.com/vigilsoc/vigil/ingest"
	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/sinks"
)

func cmdReplay(args []string, io stdio) int {
	fs := newFlags("vigil replay", "vigil replay --rules PATH --input FILE|- [--output FILE|-] [--tenant NAME] [--enrich CONFIG] [--format F] [--parsers FILE]", io)
	rulePaths := fs.StringSlice("rules", nil, "rule files or folders (repeatable, or comma-separated)")
	exceptions := addExceptionsFlag(fs)
	input := fs.String("input", "", "file of JSON events, one per line or concatenated (or of raw records: --format); - for stdin")
	ff := addFormatFlags(fs)
	output := fs.String("output", "-", "where to write alert documents, one JSON object per line; - for stdout")
	tenant := fs.String("tenant", rules.DefaultTenant, "tenant of the replayed events")
	enrichPath := fs.String("enrich", "", enrichFlagHelp+"; alerts are enriched too")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics, /healthz and /readyz on this address while the replay runs (default: off)")
	webConfig := fs.String("web-config-file", "", "Prometheus web configuration file: TLS and basic auth for those endpoints")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if len(*rulePaths) == 0 || *input == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if err := vigil.CheckTenant(*tenant); err != nil {
		fmt.Fprintln(io.err, "vigil replay:", err)
		return 2
	}
	env, enr, err := ruleEnvFromFlag(*enrichPath)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	set, err := env.LoadSetWith(*rulePaths, exceptions.paths())
	if err != nil {
		printErrors(io, err)
		return 1
	}
	engine := rules.NewEngine(set)
	src, err := ingest.NewFile("replay", ingest.FileConfig{Paths: []string{*input}, Tenant: *tenant, Config: ff.config()}, io.in)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	defer src.Close()
	sink, err := sinks.NewFile(*output, io.out)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	correlations := correlate.New(set, correlate.Config{})
	p := &vigil.Pipeline{Detector: engine, Sink: sink, Enrichers: enr.enrichers(), EnrichTimeout: enr.timeout(),
		Correlator: correlate.NewInProcess(correlations, 1)}
	mon := newMonitor(slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelWarn})))
	metered := mon.source("replay", src, p)
	p.Source = metered
	mon.addRules(engine, nil)
	mon.ready.set("rules", nil)
	mon.ready.set("source replay", nil)
	if err := mon.serveWeb(*metricsAddr, *webConfig); err != nil {
		fmt.Fprintln(io.err, "vigil replay:", err)
		return 1
	}
	defer mon.close()
	skipped := &skipReporter{io: io}
	var prog *progress
	if showProgress(io.err, io.out, *output) {
		prog = newProgress(io.err, metered, p, inputSize(*input, io.in))
		skipped.io.err = prog.writer()
		prog.Start()
	}
	p.DeadLetters = mon.deadLetters(skipped)
	sink.DeadLetters = p.DeadLetters // an alert that cannot be encoded is reported, and the replay goes on
	p.Sink = mon.sinks(sinks.Fanout{sink}, []SinkConfig{{Type: "file"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first SIGINT or SIGTERM stops reading and lets the batches in flight finish; a second one, or a drain still
	// running after replayDrain, exits at once.
	p.DrainTimeout = replayDrain
	go handleSignals(ctx, cancel, replayDrain+shutdownGrace, mon.log)
	start := time.Now()
	runErr := p.Run(ctx)
	if err := sink.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if prog != nil {
		prog.Stop()
	}
	printReplaySummary(io, p, engine, correlations, skipped.n.Load(), time.Since(start))
	if runErr != nil {
		fmt.Fprintln(io.err, "vigil replay:", runErr)
		return 1
	}
	return 0
}

// replayDrain bounds how long replay's batches in flight may take to finish after a signal.
const replayDrain = 10 * time.Second

// skipReporter is replay's dead-letter queue: it reports each skipped record with its line number and counts it.
type skipReporter struct {
	io stdio
	n  atomic.Int64
}

func (s *skipReporter) Park(ctx context.Context, letters []vigil.DeadLetter) error {
	for _, l := range letters {
		fmt.Fprintf(s.io.err, "skipped %s: %s\n", l.Origin, l.Detail)
	}
	s.n.Add(int64(len(letters)))
	return nil
}

func (s *skipReporter) Close() error { return nil }

func printReplaySummary(io stdio, p *vigil.Pipeline, engine *rules.Engine, correlations *correlate.Engine, skipped int64, took time.Duration) {
	events := p.Stats.Events.Load()
	fmt.Fprintf(io.err, "replay: %d events, %d alerts, %d correlation alert versions, %d skipped lines in %s (%.0f events/s)\n",
		events, p.Stats.Alerts.Load(), p.Stats.Correlations.Load(), skipped, took.Round(time.Millisecond), float64(events)/took.Seconds())
	printRuleCounts(io.err, "replay", engine, correlations)
}

// printRuleCounts prints the correlation inputs dropped as late, and the matches of every rule that matched or failed.
func printRuleCounts(w io.Writer, label string, engine *rules.Engine, correlations *correlate.Engine) {
	if late := correlations.Stats.Late.Load(); late > 0 {
		fmt.Fprintf(w, "%s: %d matches of correlation inputs or suppressing rules came more than the allowed "+
			"lateness (%s) after a newer event and were dropped: sort the input by time (docs/rules.md, \"Semantics\")\n",
			label, late, correlate.Config{}.WithDefaults().AllowedLateness)
	}
	stats := engine.Stats()
	ids := make([]string, 0, len(stats))
	for id, s := range stats {
		if s.Matches.Load() > 0 || s.Errors.Load() > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		s := stats[id]
		fmt.Fprintf(w, "  %6d  %s", s.Matches.Load(), id)
		if e := s.Errors.Load(); e > 0 {
			fmt.Fprintf(w, "  (%d events could not be evaluated: missing or mistyped fields)", e)
		}
		fmt.Fprintln(w)
	}
}

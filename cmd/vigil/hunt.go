package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/correlate"
	"github.com/vigilsoc/vigil/hunt"
	"github.com/vigilsoc/vigil/ingest"
	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/sinks"
)

// huntFlags are `vigil hunt`'s options.
type huntFlags struct {
	config, since, until, tenant string
	rules, topics                []string
	exceptions                   *exceptionsFlag
	dryRun                       bool
}

func cmdHunt(args []string, io stdio) int {
	fs := newFlags("vigil hunt", "vigil hunt -c FILE --rules PATH [--since 24h] [--until T] [--topics T,...] [--tenant T] [--dry-run]", io)
	var f huntFlags
	fs.StringVarP(&f.config, "config", "c", "", "configuration file of `vigil run`: its Kafka sources, tenants, enrichment and sinks")
	fs.StringSliceVar(&f.rules, "rules", nil, "rule files or folders (repeatable, or comma-separated)")
	f.exceptions = addExceptionsFlag(fs)
	fs.StringVar(&f.since, "since", "24h", "first record time: a duration back from now (24h, 7d, 2w) or a time (2026-11-01, RFC 3339)")
	fs.StringVar(&f.until, "until", "", "end of the range (exclusive), like --since (default: the end of each partition at start)")
	fs.StringSliceVar(&f.topics, "topics", nil, "only these topics of the configured Kafka sources (default: all)")
	fs.StringVar(&f.tenant, "tenant", "", "only this tenant's events (default: every tenant)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "evaluate and print the counts, write no alert")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if f.config == "" || len(f.rules) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	plan, err := f.plan(time.Now())
	if err != nil {
		fmt.Fprintln(io.err, "vigil hunt:", err)
		return 2
	}
	if err := runHunt(plan, io); err != nil {
		fmt.Fprintln(io.err, "vigil hunt:", err)
		return 1
	}
	return 0
}

// huntPlan is a checked `vigil hunt` invocation.
type huntPlan struct {
	huntFlags
	cfg          *Config
	source       hunt.Config
	start        time.Time
	since, until time.Time // until is zero for "the end of each partition"
}

// plan reads the configuration and checks the flags against it, without any I/O but reading files.
func (f huntFlags) plan(now time.Time) (*huntPlan, error) {
	p := &huntPlan{huntFlags: f, start: now}
	var err error
	if p.since, err = parseTimeArg(f.since, now); err != nil {
		return nil, fmt.Errorf("--since: %w", err)
	}
	if f.until != "" {
		if p.until, err = parseTimeArg(f.until, now); err != nil {
			return nil, fmt.Errorf("--until: %w", err)
		}
		if !p.until.After(p.since) {
			return nil, fmt.Errorf("--until (%s) is not after --since (%s)", p.until.Format(time.RFC3339), p.since.Format(time.RFC3339))
		}
	}
	if f.tenant != "" {
		if err := vigil.CheckTenant(f.tenant); err != nil {
			return nil, fmt.Errorf("--tenant: %w", err)
		}
	}
	if p.cfg, err = loadConfig(f.config); err != nil {
		return nil, err
	}
	p.source = hunt.Config{Tenants: p.cfg.Tenants, Since: p.since, Until: p.until, Tenant: f.tenant}
	if p.source.Inputs, err = huntInputs(p.cfg, f.topics); err != nil {
		return nil, err
	}
	return p, nil
}

// huntInputs are the configured Kafka sources, with only the topics asked for (all when topics is empty).
func huntInputs(cfg *Config, topics []string) ([]hunt.Input, error) {
	var inputs []hunt.Input
	found := map[string]bool{}
	for _, sc := range cfg.Sources {
		if sc.Kafka == nil {
			continue
		}
		k := *sc.Kafka
		k.Topics = slices.DeleteFunc(slices.Clone(k.Topics), func(t ingest.KafkaTopic) bool {
			return len(topics) > 0 && !slices.Contains(topics, t.Name)
		})
		for _, t := range k.Topics {
			found[t.Name] = true
		}
		if len(k.Topics) > 0 {
			inputs = append(inputs, hunt.Input{Name: sc.Name, Kafka: k})
		}
	}
	for _, t := range topics {
		if !found[t] {
			return nil, fmt.Errorf("--topics: %q is not a topic of the configured Kafka sources", t)
		}
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("the configuration has no Kafka source: hunting reads the records Kafka retains")
	}
	return inputs, nil
}

// huntSinks are the configured sinks an alert found by hunting goes to: not the notification sinks (the events are
// old; analysts find the alerts in the index).
func huntSinks(cfgs []SinkConfig) []SinkConfig {
	return slices.DeleteFunc(slices.Clone(cfgs), func(s SinkConfig) bool { return s.Type == "notify" })
}

func runHunt(plan *huntPlan, io stdio) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log, err := newLogger(LogConfig{Level: "warn", Format: "text"}, io.err)
	if err != nil {
		return err
	}
	go handleSignals(ctx, cancel, replayDrain+shutdownGrace, log)
	enr, err := newEnrichment(plan.cfg.Enrich)
	if err != nil {
		return err
	}
	env, err := newRuleEnv(rules.WithCostLimit(plan.cfg.Rules.CostLimit), enr.ruleLibrary())
	if err != nil {
		return err
	}
	set, err := env.LoadSetWith(plan.rules, plan.exceptions.paths())
	if err != nil {
		return fmt.Errorf("rules:\n%w", err)
	}
	src, err := hunt.Open(ctx, plan.source)
	if err != nil {
		return err
	}
	defer src.Close()
	fmt.Fprintf(io.err, "hunt: %s records from %s to %s in %d partitions\n", groupDigits(src.Total()),
		plan.since.UTC().Format(time.RFC3339), untilText(plan.until), len(src.Spans()))
	skipped := &skipReporter{io: io}
	var out sinks.Fanout // the dry run writes nothing
	if !plan.dryRun {
		if out, err = buildSinks(ctx, huntSinks(plan.cfg.Sinks), skipped, io, log); err != nil {
			return err
		}
		defer out.Close()
	}
	engine := rules.NewEngine(set)
	correlations := correlate.New(set, plan.cfg.Correlate.Config)
	p := &vigil.Pipeline{Detector: engine, DeadLetters: skipped, Workers: plan.cfg.Pipeline.Workers,
		MaxInFlight: plan.cfg.Pipeline.MaxInFlight, DrainTimeout: replayDrain, Enrichers: enr.enrichers(),
		EnrichTimeout: enr.timeout(), Correlator: correlate.NewInProcess(correlations, 1),
		Sink: hunt.Tag{Sink: out, Key: "hunt", Value: plan.tag()}}
	mon := newMonitor(log)
	defer mon.close()
	metered := mon.source("hunt", src, p)
	p.Source = metered
	if showProgress(io.err, io.out, "") {
		prog := newProgress(io.err, metered, p, 0)
		prog.label, prog.fraction = "hunt", func() float64 { return float64(src.Fetched()) / float64(max(1, src.Total())) }
		skipped.io.err = prog.writer()
		prog.Start()
		defer prog.Stop()
	}
	runErr := p.Run(ctx)
	if runErr == nil && !plan.dryRun {
		runErr = out.Close()
	}
	plan.summary(io.err, p, engine, correlations, src, skipped.n.Load())
	return runErr
}

// tag is the vigil.hunt field of the alerts this hunt writes.
func (p *huntPlan) tag() map[string]any {
	t := map[string]any{"id": "hunt-" + p.start.UTC().Format("20060102T150405Z"), "started": p.start.UTC().Format(time.RFC3339),
		"since": p.since.UTC().Format(time.RFC3339), "rules": strings.Join(p.rules, ",")}
	if !p.until.IsZero() {
		t["until"] = p.until.UTC().Format(time.RFC3339)
	}
	return t
}

func untilText(until time.Time) string {
	if until.IsZero() {
		return "now"
	}
	return until.UTC().Format(time.RFC3339)
}

// summary prints what the hunt read and found, per rule.
func (p *huntPlan) summary(w io.Writer, pl *vigil.Pipeline, engine *rules.Engine, correlations *correlate.Engine, src *hunt.Source, skipped int64) {
	took := time.Since(p.start)
	verb := "written"
	if p.dryRun {
		verb = "found (dry run: nothing written)"
	}
	events := pl.Stats.Events.Load()
	fmt.Fprintf(w, "hunt: %d records read, %d events evaluated, %d of other tenants left out, %d records that cannot be "+
		"processed skipped (live detection dead-lettered them)\n", src.Fetched(), events, src.Others(), skipped)
	fmt.Fprintf(w, "hunt: %d alerts and %d correlation alert versions %s in %s (%.0f events/s)\n", pl.Stats.Alerts.Load(),
		pl.Stats.Correlations.Load(), verb, took.Round(time.Millisecond), float64(events)/took.Seconds())
	printRuleCounts(w, "hunt", engine, correlations)
}

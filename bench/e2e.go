package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/ingest"
	"github.com/vigilsoc/vigil/sinks"
)

// E2EOptions configure RunE2E.
type E2EOptions struct {
	Vigil      string         // the vigil binary that runs `vigil run` and `vigil replay`
	Kafka      string         // a broker's host:port (PLAINTEXT)
	Search     []SearchTarget // the search engines, each measured in turn
	Events     int            // records produced; default 100,000
	Tenants    int            // default 4
	Partitions int            // of the topic; default 12
	Seed       uint64         // of the events; default 1
	Base       time.Time      // the first event's time; default: the start of yesterday, UTC
	Rates      []string       // default RateRealistic and RateStorm
	// BulkWorkers are the worker counts tried for esutil.BulkIndexer besides its default; default 1, 2, 4, 8.
	BulkWorkers []int
	Dir         string        // work folder (rule files, event files, replay output, logs); required
	Name        string        // prefix of the topic, groups and indices; default "vigil-bench-e2e-<time>"
	Keep        bool          // keep the topic and the indices (tests inspect them)
	Timeout     time.Duration // bound of one end-to-end run; default 10 minutes
	Log         io.Writer     // progress lines; nil discards them
	// Profile, when set, is a folder where each end-to-end run's `vigil run` writes its CPU profile
	// (<rate>-<flavor>.cpu.pprof, through VIGIL_CPUPROFILE).
	Profile string
	// Settings override `vigil run`'s defaults in the end-to-end runs (and in the sink's measurement alone).
	Settings RunSettings
	// Outage, when set, adds the catch-up measurement (RunCatchUp) on the first engine at the first rate: the
	// records arrive evenly over 20 s + Outage + 20 s, with the engine away for Outage after the first 20 s.
	Outage time.Duration
	// Scale lists instance counts (e.g. 1, 2, 4): each runs RunScale on the first engine at the first rate.
	Scale []int
	// Variants are further settings, each run end to end after the main run on the same records (a new group and
	// indices): the before and after of a tuning, from the same run.
	Variants []RunSettings
}

// SearchTarget is one search engine.
type SearchTarget struct {
	Flavor string `json:"flavor"` // sinks.FlavorElasticsearch or sinks.FlavorOpenSearch
	URL    string `json:"url"`
}

func (o *E2EOptions) defaults() {
	if o.Events <= 0 {
		o.Events = 100_000
	}
	if o.Tenants <= 0 {
		o.Tenants = 4
	}
	if o.Partitions <= 0 {
		o.Partitions = 12
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Base.IsZero() {
		o.Base = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	}
	if len(o.Rates) == 0 {
		o.Rates = []string{RateRealistic, RateStorm}
	}
	if len(o.BulkWorkers) == 0 {
		o.BulkWorkers = []int{1, 2, 4, 8}
	}
	if o.Name == "" {
		o.Name = "vigil-bench-e2e-" + strconv.FormatInt(time.Now().UnixMilli(), 36)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// RunE2E produces the workload into a new topic and measures, for each alert rate and search engine, the parts alone
// and `vigil run` end to end (docs/benchmarks.md). The measurements run one after another, never at once.
func RunE2E(ctx context.Context, o E2EOptions) (*E2EReport, error) {
	o.defaults()
	if o.Vigil == "" || o.Kafka == "" || len(o.Search) == 0 || o.Dir == "" {
		return nil, errors.New("bench e2e: the vigil binary, a broker, a search engine and a work folder are required")
	}
	w := NewE2EWorkload(o.Events, o.Tenants, o.Seed, o.Base)
	rep := &E2EReport{Machine: fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()),
		Events: o.Events, Tenants: len(w.Tenants), Partitions: o.Partitions, Topic: o.Name + "-events", Settings: o.Settings}
	if err := CreateTopic(ctx, o.Kafka, rep.Topic, o.Partitions); err != nil {
		return nil, err
	}
	if !o.Keep {
		defer func() { _ = DeleteTopic(context.WithoutCancel(ctx), o.Kafka, rep.Topic) }()
	}
	took, err := w.Produce(ctx, o.Kafka, rep.Topic, "tenant")
	if err != nil {
		return nil, err
	}
	rep.ProduceSeconds = took.Seconds()
	fmt.Fprintf(o.Log, "produced %d records into %s (%d partitions) in %.1f s\n", o.Events, rep.Topic, o.Partitions, took.Seconds())
	if rep.Source, err = MeasureSource(ctx, o.sourceConfig(rep.Topic, o.Name+"-source"), w.Tenants, o.Events); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "kafka source alone: %.0f records/s\n", rep.Source.PerSec)
	events := filepath.Join(o.Dir, "events")
	if err := os.MkdirAll(events, 0o755); err != nil {
		return nil, err
	}
	for tenant, lines := range w.ByTenant() {
		if err := os.WriteFile(filepath.Join(events, tenant+".jsonl"), lines, 0o644); err != nil {
			return nil, err
		}
	}
	for _, rate := range o.Rates {
		r, err := o.runRate(ctx, w, rep, rate)
		if err != nil {
			return nil, fmt.Errorf("bench e2e: %s: %w", rate, err)
		}
		rep.Rates = append(rep.Rates, r)
	}
	for _, n := range o.Scale {
		r := rep.Rates[0]
		fmt.Fprintf(o.Log, "scale: %d instances in one group, %s, %s\n", n, r.Rate, o.Search[0].Flavor)
		sc, err := RunScale(ctx, o, o.Search[0], filepath.Join(o.Dir, r.Rate), r.Expected, n)
		if err != nil {
			return nil, fmt.Errorf("bench e2e: scale %d: %w", n, err)
		}
		rep.Scale = append(rep.Scale, *sc)
	}
	if o.Outage > 0 {
		r := rep.Rates[0]
		fmt.Fprintf(o.Log, "catch-up: %s, %s away for %s\n", r.Rate, o.Search[0].Flavor, o.Outage)
		if rep.CatchUp, err = RunCatchUp(ctx, o, o.Search[0], r.Rate, r.Expected, nil, 20*time.Second, o.Outage,
			20*time.Second); err != nil {
			return nil, fmt.Errorf("bench e2e: catch-up: %w", err)
		}
	}
	return rep, nil
}

// sourceConfig is the Kafka source's configuration in `vigil run` and alone: the defaults, a fresh group.
func (o *E2EOptions) sourceConfig(topic, group string) ingest.KafkaConfig {
	cfg := ingest.KafkaConfig{GroupID: group, Topics: []ingest.KafkaTopic{{Name: topic, MultiTenant: true}}}
	cfg.Brokers = []string{o.Kafka}
	return cfg
}

// runRate measures one alert rate: detection alone, then per engine the end-to-end run and the indexing parts.
func (o *E2EOptions) runRate(ctx context.Context, w E2EWorkload, rep *E2EReport, rate string) (E2ERate, error) {
	rs, err := E2ERules(rate)
	if err != nil {
		return E2ERate{}, err
	}
	dir := filepath.Join(o.Dir, rate)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return E2ERate{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), RuleFile(rs), 0o644); err != nil {
		return E2ERate{}, err
	}
	res := E2ERate{Rate: rate, Rules: len(rs), Expected: map[string]string{}}
	docs, detection, err := o.replay(ctx, w, dir)
	if err != nil {
		return res, err
	}
	res.Detection, res.Alerts = detection, len(docs)
	res.AlertPct = 100 * float64(len(docs)) / float64(len(w.Events))
	for _, d := range docs {
		res.Expected[d.ID] = d.Tenant
	}
	if len(res.Expected) != len(docs) {
		return res, fmt.Errorf("replay gives %d alerts but %d distinct ids", len(docs), len(res.Expected))
	}
	fmt.Fprintf(o.Log, "%s: %d rules, %d alerts (%.2f%%); detection alone (vigil replay): %.0f events/s\n", rate, len(rs),
		len(docs), res.AlertPct, detection.PerSec)
	alerts, err := Alerts(docs)
	if err != nil {
		return res, err
	}
	for _, target := range o.Search {
		e := E2EEngine{Flavor: target.Flavor}
		prefix := fmt.Sprintf("%s-%s-%s", o.Name, rate, target.Flavor)
		mapping, err := WarmMapping(ctx, searchConfig(target, prefix), alerts)
		if err != nil {
			return res, fmt.Errorf("%s: %w", target.Flavor, err)
		}
		for i, settings := range append([]RunSettings{o.Settings}, o.Variants...) {
			tag := "run"
			if i > 0 {
				tag = fmt.Sprintf("v%d", i)
			}
			run, err := o.endToEnd(ctx, w, rep, &res, alerts, mapping, dir, target, prefix+"-"+tag, tag, settings)
			if err != nil {
				return res, fmt.Errorf("%s: end to end (%s): %w", target.Flavor, settings, err)
			}
			fmt.Fprintf(o.Log, "%s %s (%s): end to end %.0f events/s, %.0f alerts/s; stored %d, missing %d, duplicated %d\n",
				rate, target.Flavor, settings, run.EventsPerSec, run.AlertsPerSec, run.Stored, run.Missing, run.Duplicated)
			if i == 0 {
				e.Run = run
			} else {
				e.Variants = append(e.Variants, E2EVariant{Settings: settings, Run: run})
			}
		}
		if err := o.indexingParts(ctx, &e, target, prefix, alerts, mapping, len(w.Events)); err != nil {
			return res, fmt.Errorf("%s: %w", target.Flavor, err)
		}
		e.ratios(rep.Source, res.Detection, len(alerts), len(w.Events))
		res.Engines = append(res.Engines, e)
	}
	return res, nil
}

var replaySummary = regexp.MustCompile(`replay: (\d+) events, (\d+) alerts, .* in (\S+) \(`)

// replay runs `vigil replay` over each tenant's events: the expected alerts, and detection's rate (events over the
// pipeline time replay reports, which leaves out compiling the rules).
func (o *E2EOptions) replay(ctx context.Context, w E2EWorkload, dir string) ([]AlertDoc, PartResult, error) {
	var docs []AlertDoc
	var took, cpu time.Duration
	events := 0
	for _, tenant := range w.Tenants {
		out := filepath.Join(dir, tenant+".alerts.jsonl")
		cmd := exec.CommandContext(ctx, o.Vigil, "replay", "--rules", filepath.Join(dir, "rules.yml"), "--tenant", tenant,
			"--input", filepath.Join(o.Dir, "events", tenant+".jsonl"), "--output", out)
		msg, err := cmd.CombinedOutput()
		if err != nil {
			return nil, PartResult{}, fmt.Errorf("vigil replay: %v\n%s", err, msg)
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		m := replaySummary.FindSubmatch(msg)
		if m == nil {
			return nil, PartResult{}, fmt.Errorf("vigil replay: no summary line in\n%s", msg)
		}
		n, _ := strconv.Atoi(string(m[1]))
		d, err := time.ParseDuration(string(m[3]))
		if err != nil {
			return nil, PartResult{}, fmt.Errorf("vigil replay summary: %w", err)
		}
		events, took = events+n, took+d
		more, err := ReadAlertDocs(out)
		if err != nil {
			return nil, PartResult{}, err
		}
		docs = append(docs, more...)
	}
	if events != len(w.Events) {
		return nil, PartResult{}, fmt.Errorf("vigil replay read %d events of %d", events, len(w.Events))
	}
	// Less the CPU of starting and compiling the rules, from a replay of no event.
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return nil, PartResult{}, err
	}
	cmd := exec.CommandContext(ctx, o.Vigil, "replay", "--rules", filepath.Join(dir, "rules.yml"), "--input", empty, "--output", os.DevNull)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, PartResult{}, fmt.Errorf("vigil replay: %v\n%s", err, msg)
	}
	cpu = max(cpu-time.Duration(len(w.Tenants))*(cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime()), 0)
	return docs, part("detection (vigil replay)", events, took, cpu), nil
}

// ratios fills in the slowest part and the two ratios.
func (e *E2EEngine) ratios(source, detection PartResult, alerts, events int) {
	frac := float64(alerts) / float64(events)
	index := max(e.Sink.PerSec, e.BulkBest.PerSec)
	parts := []struct {
		name string
		rate float64
	}{{"kafka source", source.PerSec}, {"detection", detection.PerSec}}
	if frac > 0 {
		parts = append(parts, struct {
			name string
			rate float64
		}{"indexing", index / frac})
	}
	e.SlowestPerSec = math.Inf(1)
	for _, p := range parts {
		if p.rate < e.SlowestPerSec {
			e.SlowestPart, e.SlowestPerSec = p.name, p.rate
		}
	}
	e.EndToEndRatio = e.Run.EventsPerSec / e.SlowestPerSec
	if source.CPUSeconds > 0 && detection.CPUSeconds > 0 && e.Sink.CPUSeconds > 0 {
		e.PartsCPU = 1000 * (source.CPUSeconds/float64(source.Items) + detection.CPUSeconds/float64(detection.Items) +
			frac*e.Sink.CPUSeconds/float64(e.Sink.Items))
		if e.Run.VigilCPU > 0 {
			e.CPURatio = e.PartsCPU / e.Run.VigilCPU
		}
	}
	if e.BulkBest.PerSec > 0 {
		e.SinkRatio = e.Sink.PerSec / e.BulkBest.PerSec
	}
}

// searchConfig is the sink's configuration in `vigil run` and alone: the defaults, no replica (one node).
func searchConfig(t SearchTarget, prefix string) sinks.ElasticsearchConfig {
	zero := 0
	return sinks.ElasticsearchConfig{Flavor: t.Flavor, URLs: []string{t.URL}, IndexPrefix: prefix, Replicas: &zero}
}

// indexingParts measures Vigil's sink and esutil.BulkIndexer alone on the rate's alerts, each into indices of its
// own (with Vigil's template), deleted afterwards.
func (o *E2EOptions) indexingParts(ctx context.Context, e *E2EEngine, t SearchTarget, prefix string, alerts []*vigil.Alert,
	mapping json.RawMessage, events int) error {
	if len(alerts) == 0 {
		return nil
	}
	tp, err := sinks.NewSearchTransport(searchConfig(t, prefix))
	if err != nil {
		return err
	}
	server := -1
	if pid, err := ListeningPID(port(t.URL)); err == nil {
		server = pid
	}
	measure := func(name string, f func(cfg sinks.ElasticsearchConfig) (PartResult, error)) (PartResult, error) {
		p := prefix + "-" + name
		cfg := searchConfig(t, p)
		defer func() { _ = DeleteIndices(context.WithoutCancel(ctx), tp, p+"-*", p) }()
		if err := PrepareIndices(ctx, cfg, alerts, mapping); err != nil {
			return PartResult{}, err
		}
		s0, _ := CPUSeconds(server)
		r, err := f(cfg)
		if err != nil {
			return r, fmt.Errorf("%s: %w", name, err)
		}
		if s1, err := CPUSeconds(server); err == nil {
			r.ServerCPUSeconds = s1 - s0
		}
		fmt.Fprintf(o.Log, "  %s alone (%d workers): %.0f alerts/s, %.0f per CPU-second, search engine %.2f CPU-s\n",
			r.Part, r.Workers, r.PerSec, r.PerCPUSecond(), r.ServerCPUSeconds)
		return r, nil
	}
	// The sink's own limit: every alert in one Write, which it cuts into requests of FlushBytes for its workers, as
	// the BulkIndexer gets every alert at once.
	if e.Sink, err = measure("sink", func(cfg sinks.ElasticsearchConfig) (PartResult, error) {
		cfg = o.Settings.sink(cfg)
		cfg.SetDefaults()
		return MeasureSink(ctx, cfg, alerts, len(alerts), 1)
	}); err != nil {
		return err
	}
	// As the pipeline hands them over: a batch's alerts per Write, as many Writes at once as batches in flight.
	size, inFlight := o.Settings.batch()
	perWrite := max(1, len(alerts)*size/events)
	if e.SinkBatches, err = measure("sink-batches", func(cfg sinks.ElasticsearchConfig) (PartResult, error) {
		cfg = o.Settings.sink(cfg)
		cfg.SetDefaults()
		r, err := MeasureSink(ctx, cfg, alerts, perWrite, inFlight)
		r.Part = fmt.Sprintf("vigil sink, %d batches of %d alerts in flight", inFlight, perWrite)
		return r, err
	}); err != nil {
		return err
	}
	if e.BulkDefault, err = measure("bulk-default", func(cfg sinks.ElasticsearchConfig) (PartResult, error) {
		r, err := MeasureBulkIndexer(ctx, cfg, alerts, 0)
		r.Workers = runtime.NumCPU()
		return r, err
	}); err != nil {
		return err
	}
	e.BulkBest = e.BulkDefault
	for _, n := range o.BulkWorkers {
		r, err := measure(fmt.Sprintf("bulk-%d", n), func(cfg sinks.ElasticsearchConfig) (PartResult, error) {
			return MeasureBulkIndexer(ctx, cfg, alerts, n)
		})
		if err != nil {
			return err
		}
		e.BulkSweep = append(e.BulkSweep, r)
		if r.PerSec > e.BulkBest.PerSec {
			e.BulkBest = r
		}
	}
	return nil
}

// port returns the port of a host:port or of a URL.
func port(addr string) int {
	if u, err := url.Parse(addr); err == nil && u.Host != "" {
		addr = u.Host
	}
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

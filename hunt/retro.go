package hunt

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/enrich"
	"github.com/vigilsoc/vigil/rules"
)

// RetroRule is the rule the IOC retro-hunt's alerts carry (rule.id, rule.name, severity); it is compiled with the
// instance's rule environment but never evaluated: the retro-hunt matches indicators, not conditions.
var RetroRule = rules.Rule{ID: "vigil.threat_intel.retrohunt", Name: "Threat-intel indicator found in a retained record",
	Description: "An indicator added to the threat-intel tables after the record was consumed is in one of the " +
		"record's fields (IOC retro-hunt, docs/hunting.md).", Severity: "high", Condition: "true",
	Tags: []string{"threat_intel", "retrohunt"}}

// RetroConfig configures a Retrohunt.
type RetroConfig struct {
	// Source says which sources' topics are searched (Inputs, Tenants); each run sets Since and Until.
	Source Config
	// Window is how far back from the start of a run its records are read.
	Window time.Duration
	// CPUShare is the share of the instance's CPUs a run may use (see PaceDelay).
	CPUShare float64
	// Fields are threat_intel.fields: where indicators are searched (nil: the defaults).
	Fields map[string][]string
	// Rule is RetroRule, compiled.
	Rule *rules.Compiled
	// Sink receives the alerts; Enrichers (not the threat-intel one: the run adds the new indicators' enrichment
	// itself) add their context first, within EnrichTimeout each.
	Sink          vigil.Sink
	Enrichers     []vigil.Enricher
	EnrichTimeout time.Duration
}

// RetroStats are a Retrohunt's counters, exported as metrics by `vigil run`.
type RetroStats struct {
	Runs       atomic.Int64 // runs finished
	Failures   atomic.Int64 // runs that ended with an error (their indicators are searched again with the next ones)
	Indicators atomic.Int64 // new indicators searched, over all runs
	Scanned    atomic.Int64 // records searched, over all runs
	Alerts     atomic.Int64 // alerts raised
	Planned    atomic.Int64 // records of the current (or last) run
	Done       atomic.Int64 // records of the current (or last) run searched so far
	Running    atomic.Bool
}

// Retrohunt searches the records the Kafka sources retain for indicators newly added to the threat-intel tables, and
// raises an alert per record and indicator found. A run is a vigil.Pipeline: a Source over the window, a detector
// that matches the new indicators instead of rules, the enrichers, the sink; one worker, paced (PaceDelay) to its
// share of the CPUs. Runs are sequential: Run is not called concurrently.
type Retrohunt struct {
	cfg   RetroConfig
	cores float64 // the CPU time a run may use per second of wall time
	Stats RetroStats
}

// NewRetrohunt returns a retro-hunt over cfg.
func NewRetrohunt(cfg RetroConfig) *Retrohunt {
	return &Retrohunt{cfg: cfg, cores: max(0.01, cfg.CPUShare) * float64(runtime.GOMAXPROCS(0))}
}

// Run searches the records of the last Window for the indicators of added, first seen at firstSeen, and writes the
// alerts. It returns once every record of the window is searched and every alert written, or with the first error.
func (r *Retrohunt) Run(ctx context.Context, added *enrich.IndicatorSet, firstSeen time.Time) error {
	start := time.Now()
	r.Stats.Running.Store(true)
	defer r.Stats.Running.Store(false)
	err := r.run(ctx, added, firstSeen, start)
	r.Stats.Runs.Add(1)
	if err != nil {
		r.Stats.Failures.Add(1)
	}
	return err
}

func (r *Retrohunt) run(ctx context.Context, added *enrich.IndicatorSet, firstSeen, start time.Time) error {
	sc := r.cfg.Source
	sc.Since, sc.Until, sc.BatchSize = start.Add(-r.cfg.Window), start, 500
	src, err := Open(ctx, sc)
	if err != nil {
		return err
	}
	defer src.Close()
	r.Stats.Indicators.Add(int64(added.Len()))
	r.Stats.Planned.Store(src.Total())
	r.Stats.Done.Store(0)
	ti := enrich.NewThreatIntelOf(added, r.cfg.Fields)
	det := &iocDetector{ti: ti, rule: r.cfg.Rule, tag: map[string]any{"id": "retrohunt-" + start.UTC().Format("20060102T150405Z"),
		"first_seen": firstSeen.UTC().Format(time.RFC3339), "window_start": sc.Since.UTC().Format(time.RFC3339)}}
	p := &vigil.Pipeline{Source: &pacedSource{src: src, det: det, cores: r.cores, start: time.Now(), stats: &r.Stats}, Detector: det,
		Enrichers: append([]vigil.Enricher{ti}, r.cfg.Enrichers...), EnrichTimeout: r.cfg.EnrichTimeout,
		Sink: r.cfg.Sink, DeadLetters: ignoreLetters{}, Workers: 1, MaxInFlight: 1}
	err = p.Run(ctx)
	r.Stats.Alerts.Add(p.Stats.Alerts.Load())
	return err
}

// iocDetector is the retro-hunt's vigil.Detector: an alert for every new indicator found in an event.
type iocDetector struct {
	ti   *enrich.ThreatIntel
	rule *rules.Compiled
	tag  map[string]any // vigil.retrohunt, without the indicator
	busy atomic.Int64   // nanoseconds spent in Detect
}

// Detect implements vigil.Detector. The alert id derives from the tenant, the rule, the indicator and the event's
// identity: a record matching two new indicators raises two alerts, and searching again adds nothing.
func (d *iocDetector) Detect(ev *vigil.Event, dst []*vigil.Alert) []*vigil.Alert {
	began := time.Now()
	defer func() { d.busy.Add(int64(time.Since(began))) }()
	for _, m := range d.ti.MatchFields(ev.Fields) {
		a := rules.NewAlert(d.rule, ev, time.Now())
		ind := m.Indicator
		a.ID = rules.AlertID(ev.Tenant, d.rule.ID+"\x00"+ind.Type.ECS()+":"+ind.Value, ev)
		vig := vigil.Object(a.Doc, "vigil")
		al := vigil.Object(vig, "alert")
		al["id"] = a.ID
		al["reason"] = fmt.Sprintf("indicator %s (%s) in %s, first seen %s", ind.Value, ind.Type.ECS(), m.Field, d.tag["first_seen"])
		indicator := map[string]any{"value": ind.Value, "type": ind.Type.ECS(), "field": m.Field}
		if ind.Meta != nil && ind.Meta.Provider != "" {
			indicator["provider"] = ind.Meta.Provider
		}
		retro := make(map[string]any, len(d.tag)+1)
		for k, v := range d.tag {
			retro[k] = v
		}
		retro["indicator"] = indicator
		vig["retrohunt"] = retro
		dst = append(dst, a)
	}
	return dst
}

// pacedSource paces a run: before each read it waits until the work done so far (decoding in the partition
// readers, matching in the detector) fits in cores × the time since the run started.
type pacedSource struct {
	src   *Source
	det   *iocDetector
	cores float64
	start time.Time
	stats *RetroStats
	n     int64 // events of the previous batch
}

func (s *pacedSource) Read(ctx context.Context) ([]*vigil.Event, vigil.AckFunc, error) {
	s.stats.Scanned.Add(s.n)
	s.stats.Done.Add(s.n)
	work := s.src.DecodeTime() + time.Duration(s.det.busy.Load())
	if d := PaceDelay(work, time.Since(s.start), s.cores); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	batch, ack, err := s.src.Read(ctx)
	s.n = int64(len(batch))
	return batch, ack, err
}

// Close implements vigil.Source.
func (s *pacedSource) Close() error { return s.src.Close() }

// ignoreLetters is a run's dead-letter queue: the records that cannot be processed were dead-lettered by live
// detection when it read them; a run skips them.
type ignoreLetters struct{}

func (ignoreLetters) Park(context.Context, []vigil.DeadLetter) error { return nil }
func (ignoreLetters) Close() error                                   { return nil }

// PaceDelay is how long to wait so that work (CPU-bound time, summed over goroutines) is at most cores × the
// elapsed time: work / cores − elapsed, or 0. The budget is cumulative, so a run that was held back by the broker
// may go faster afterwards, never above cores on average since its start.
func PaceDelay(work, elapsed time.Duration, cores float64) time.Duration {
	return max(0, time.Duration(float64(work)/cores)-elapsed)
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/enrich"
	"github.com/vigilsoc/vigil/hunt"
	"github.com/vigilsoc/vigil/rules"
)

// retrohuntRetry is how long a failed retro-hunt waits before its indicators are searched again.
const retrohuntRetry = 30 * time.Second

// startRetrohunt starts the IOC retro-hunt when enrich.threat_intel.retrohunt.window is set (docs/hunting.md): each
// time the threat-intel table gains indicators, the new ones are searched over the records the Kafka sources retain
// for the window, and the matches are written to sink. The indicators loaded at start are not searched: they were
// there while the records were consumed. The returned function stops it and waits; call it before the sinks close.
func startRetrohunt(ctx context.Context, cfg *Config, enr *enrichment, env *rules.Env, sink vigil.Sink, mon *monitor, log *slog.Logger) (stop func(), err error) {
	rc := cfg.Enrich.ThreatIntel.Retrohunt.WithDefaults()
	if rc.Window <= 0 || enr == nil || enr.ti.Table == nil {
		return func() {}, nil
	}
	inputs, err := huntInputs(cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("enrich.threat_intel.retrohunt: %w", err)
	}
	rule := hunt.RetroRule
	compiled, err := env.Compile(&rule)
	if err != nil {
		return nil, fmt.Errorf("enrich.threat_intel.retrohunt: %w", err)
	}
	var others []vigil.Enricher // the run adds the new indicators' enrichment itself
	for _, e := range enr.enrichers() {
		if e != vigil.Enricher(enr.ti) {
			others = append(others, e)
		}
	}
	r := hunt.NewRetrohunt(hunt.RetroConfig{Source: hunt.Config{Inputs: inputs, Tenants: cfg.Tenants}, Window: rc.Window,
		CPUShare: rc.CPUShare, Fields: cfg.Enrich.ThreatIntel.Fields, Rule: compiled, Sink: sink, Enrichers: others,
		EnrichTimeout: enr.timeout()})
	registerRetrohuntMetrics(mon, &r.Stats)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchIndicators(ctx, enr.ti.Table, r, rc, log.With("component", "retrohunt"))
	}()
	return func() { cancel(); wg.Wait() }, nil
}

// watchIndicators runs a retro-hunt for the indicators each new version of table adds to the last version searched.
func watchIndicators(ctx context.Context, table *enrich.Table[enrich.IndicatorSet], r *hunt.Retrohunt, rc enrich.RetrohuntConfig, log *slog.Logger) {
	hunted := table.Get()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cur := table.Get()
		if cur == nil || cur == hunted {
			continue
		}
		added := cur.Added(hunted, time.Now())
		if added.Len() == 0 {
			hunted = cur
			continue
		}
		firstSeen := time.Unix(0, table.Stats.LoadedAt.Load())
		log.Info("retro-hunt started", "indicators", added.Len(), "window", rc.Window.String(), "cpu_share", rc.CPUShare)
		start := time.Now()
		if err := r.Run(ctx, added, firstSeen); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("retro-hunt failed; its indicators are searched again", "err", err, "retry_in", retrohuntRetry.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(retrohuntRetry):
			}
			continue
		}
		hunted = cur
		log.Info("retro-hunt finished", "indicators", added.Len(), "records", r.Stats.Done.Load(),
			"alerts_total", r.Stats.Alerts.Load(), "took", time.Since(start).Round(time.Millisecond).String())
	}
}

// registerRetrohuntMetrics exports the retro-hunt's counters and the progress of its current run.
func registerRetrohuntMetrics(mon *monitor, s *hunt.RetroStats) {
	counter := func(name, help string, v func() int64) {
		mon.register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v()) }))
	}
	gauge := func(name, help string, v func() float64) {
		mon.register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, v))
	}
	counter("vigil_retrohunt_runs_total", "IOC retro-hunt runs finished, failed ones included.", s.Runs.Load)
	counter("vigil_retrohunt_failures_total", "IOC retro-hunt runs that failed (searched again).", s.Failures.Load)
	counter("vigil_retrohunt_indicators_total", "New threat-intel indicators searched over retained records.", s.Indicators.Load)
	counter("vigil_retrohunt_records_scanned_total", "Retained records searched for new indicators.", s.Scanned.Load)
	counter("vigil_retrohunt_alerts_total", "Alerts raised by the IOC retro-hunt.", s.Alerts.Load)
	gauge("vigil_retrohunt_run_records", "Records in the window of the current (or last) retro-hunt run.",
		func() float64 { return float64(s.Planned.Load()) })
	gauge("vigil_retrohunt_run_records_done", "Records of the current (or last) retro-hunt run searched so far.",
		func() float64 { return float64(s.Done.Load()) })
	gauge("vigil_retrohunt_running", "1 while a retro-hunt runs.", func() float64 {
		if s.Running.Load() {
			return 1
		}
		return 0
	})
}

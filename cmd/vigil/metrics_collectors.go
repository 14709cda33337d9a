package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/sinks"
)

// The collectors and wrappers behind /metrics. Collectors read counters that the pipeline, the rule engine and the
// sinks keep anyway, at scrape time; the wrappers around the sources, the sinks and the dead-letter queue count once
// per batch. docs/operations.md lists every metric.

// source wraps src so that its events are counted per tenant and invalid ones per reason, and adds the source's
// pipeline counters, labelled name, to the metrics. Call it once per source.
func (m *monitor) source(name string, src vigil.Source, p *vigil.Pipeline) *meteredSource {
	ms := &meteredSource{Source: src, tenants: map[string]int64{}, invalid: map[string]int64{}}
	m.pipelines.add(name, p, ms)
	return ms
}

// meteredSource counts what a source hands out, once per batch.
type meteredSource struct {
	vigil.Source
	bytes   int64            // bytes of raw records read; guarded by mu
	events  int64            // events read; guarded by mu
	tenants map[string]int64 // events by tenant ("unknown" when none could be assigned); guarded by mu
	invalid map[string]int64 // invalid events by reason (decode, oversize, tenant); guarded by mu
	mu      sync.Mutex
}

// Read implements vigil.Source.
func (s *meteredSource) Read(ctx context.Context) ([]*vigil.Event, vigil.AckFunc, error) {
	events, ack, err := s.Source.Read(ctx)
	if len(events) > 0 {
		s.count(events)
	}
	return events, ack, err
}

func (s *meteredSource) count(events []*vigil.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tenant, run := events[0].Tenant, int64(0)
	for _, ev := range events {
		s.bytes += int64(len(ev.Raw))
		if ev.Tenant != tenant {
			s.tenants[tenantLabel(tenant)] += run
			tenant, run = ev.Tenant, 0
		}
		run++
		if ev.Invalid != "" {
			reason, _, _ := strings.Cut(ev.Invalid, ":")
			s.invalid[reason]++
		}
	}
	s.tenants[tenantLabel(tenant)] += run
	s.events += int64(len(events))
}

func tenantLabel(t string) string {
	if t == "" {
		return "unknown"
	}
	return t
}

// read returns the number of events read so far and the size of their raw records.
func (s *meteredSource) read() (events, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events, s.bytes
}

// snapshot copies the per-tenant and per-reason counts.
func (s *meteredSource) snapshot() (tenants, invalid map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tenants, invalid = make(map[string]int64, len(s.tenants)), make(map[string]int64, len(s.invalid))
	for k, v := range s.tenants {
		tenants[k] = v
	}
	for k, v := range s.invalid {
		invalid[k] = v
	}
	return tenants, invalid
}

// pipelineCollector exports each source's pipeline counters.
type pipelineCollector struct {
	mu      sync.Mutex
	sources []meteredPipeline

	events, invalid, bytes, processed, acked, batches, inFlight, alerts, detect *prometheus.Desc
}

type meteredPipeline struct {
	name string
	p    *vigil.Pipeline
	src  *meteredSource
}

func newPipelineCollector() *pipelineCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"source"}, labels...), nil)
	}
	return &pipelineCollector{
		events:    d("vigil_events_read_total", "Events read from the source, by tenant.", "tenant"),
		invalid:   d("vigil_events_invalid_total", "Events that could not be processed (dead-lettered), by reason: decode, oversize, tenant.", "reason"),
		bytes:     d("vigil_events_read_bytes_total", "Bytes of raw records read from the source."),
		processed: d("vigil_events_processed_total", "Events that entered rule evaluation or the dead-letter queue."),
		acked:     d("vigil_events_acked_total", "Events whose batch was acknowledged to the source (Kafka: committed)."),
		batches:   d("vigil_batches_total", "Batches read from the source."),
		inFlight:  d("vigil_batches_in_flight", "Batches read and not yet acknowledged."),
		alerts:    d("vigil_alerts_total", "Alerts produced by rule matches."),
		detect:    d("vigil_rule_evaluation_seconds_total", "Time spent evaluating rules (all rules, all events), measured per batch."),
	}
}

func (c *pipelineCollector) add(name string, p *vigil.Pipeline, src *meteredSource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sources = append(c.sources, meteredPipeline{name, p, src})
}

// Describe implements prometheus.Collector.
func (c *pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.events, c.invalid, c.bytes, c.processed, c.acked, c.batches, c.inFlight, c.alerts, c.detect} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sources := append([]meteredPipeline(nil), c.sources...)
	c.mu.Unlock()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, s := range sources {
		tenants, invalid := s.src.snapshot()
		for _, t := range sortedNames(tenants) {
			counter(c.events, float64(tenants[t]), s.name, t)
		}
		for _, r := range sortedNames(invalid) {
			counter(c.invalid, float64(invalid[r]), s.name, r)
		}
		st := &s.p.Stats
		_, bytes := s.src.read()
		counter(c.bytes, float64(bytes), s.name)
		counter(c.processed, float64(st.Events.Load()), s.name)
		counter(c.acked, float64(st.Acked.Load()), s.name)
		counter(c.batches, float64(st.Batches.Load()), s.name)
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(st.InFlight.Load()), s.name)
		counter(c.alerts, float64(st.Alerts.Load()), s.name)
		counter(c.detect, float64(st.DetectNanos.Load())/1e9, s.name)
	}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ruleCollector exports the rule engine's per-rule counters (which survive reloads), the current rule set, and the
// reloader's outcome.
type ruleCollector struct {
	engine   *rules.Engine
	reloader *ruleReloader // nil when rules are not reloaded (replay)

	evals, matches, errs, suppressed, info, loaded, disabled *prometheus.Desc
	reloads, failures, lastOK, lastSuccess                   *prometheus.Desc
}

// addRules exports the engine's counters, and the reloader's when it is not nil.
func (m *monitor) addRules(engine *rules.Engine, reloader *ruleReloader) {
	rule := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"rule"}, labels...), nil)
	}
	plain := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	m.register(&ruleCollector{engine: engine, reloader: reloader,
		evals:      rule("vigil_rule_evaluations_total", "Evaluations of the rule's condition (events that passed the prefilter and the tenant check)."),
		matches:    rule("vigil_rule_matches_total", "Matches of the rule that became alerts."),
		errs:       rule("vigil_rule_errors_total", "Evaluations that failed (a missing or mistyped field); not matches."),
		suppressed: rule("vigil_rule_suppressed_total", "Matches suppressed by one of the rule's exceptions."),
		info:       rule("vigil_rule_info", "Always 1 for every rule of the running set; version is the hash alerts carry as rule.version.", "version"),
		loaded:     plain("vigil_rules_loaded", "Enabled rules in the running rule set."),
		disabled:   plain("vigil_rules_disabled", "Rules in the rule files with enabled: false."),
		reloads:    plain("vigil_rules_reloads_total", "Successful rule reloads (file changes and SIGHUP)."),
		failures:   plain("vigil_rules_reload_failures_total", "Rule reloads that failed; the previous rule set kept running."),
		lastOK:     plain("vigil_rules_last_reload_successful", "1 when the last rule load succeeded, 0 when it failed and an older set runs."),
		lastSuccess: plain("vigil_rules_last_reload_success_timestamp_seconds",
			"When the running rule set was loaded (Unix time)."),
	})
}

// Describe implements prometheus.Collector.
func (c *ruleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.evals, c.matches, c.errs, c.suppressed, c.info, c.loaded, c.disabled} {
		ch <- d
	}
	if c.reloader != nil {
		for _, d := range []*prometheus.Desc{c.reloads, c.failures, c.lastOK, c.lastSuccess} {
			ch <- d
		}
	}
}

// Collect implements prometheus.Collector.
func (c *ruleCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.engine.Stats()
	for _, id := range sortedNames(stats) {
		s := stats[id]
		ch <- prometheus.MustNewConstMetric(c.evals, prometheus.CounterValue, float64(s.Evaluations.Load()), id)
		ch <- prometheus.MustNewConstMetric(c.matches, prometheus.CounterValue, float64(s.Matches.Load()), id)
		ch <- prometheus.MustNewConstMetric(c.errs, prometheus.CounterValue, float64(s.Errors.Load()), id)
		ch <- prometheus.MustNewConstMetric(c.suppressed, prometheus.CounterValue, float64(s.Suppressed.Load()), id)
	}
	set := c.engine.RuleSet()
	for _, r := range set.Rules() {
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, r.ID, r.Version)
	}
	ch <- prometheus.MustNewConstMetric(c.loaded, prometheus.GaugeValue, float64(len(set.Rules())))
	ch <- prometheus.MustNewConstMetric(c.disabled, prometheus.GaugeValue, float64(set.Disabled()))
	if r := c.reloader; r != nil {
		ok := 0.0
		if r.stats.lastOK.Load() {
			ok = 1
		}
		ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(r.stats.successes.Load()))
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(r.stats.failures.Load()))
		ch <- prometheus.MustNewConstMetric(c.lastOK, prometheus.GaugeValue, ok)
		ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, float64(r.stats.lastSuccess.Load())/1e9)
	}
}

// sinkMetrics are the per-sink write metrics; one Write is one batch's alerts, so observing per Write is cheap.
type sinkMetrics struct {
	written, failed *prometheus.CounterVec
	latency         *prometheus.HistogramVec
}

// meteredSink counts and times a sink's writes.
type meteredSink struct {
	vigil.Sink
	written, failed prometheus.Counter
	latency         prometheus.Observer
}

// Write implements vigil.Sink.
func (s *meteredSink) Write(ctx context.Context, alerts []*vigil.Alert) error {
	start := time.Now()
	err := s.Sink.Write(ctx, alerts)
	s.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		s.failed.Inc()
		return err
	}
	s.written.Add(float64(len(alerts)))
	return nil
}

// sinks wraps every sink of the fanout in write metrics labelled with its type (and its position when a type is
// configured twice), and exports the Elasticsearch and notify sinks' own counters. The result replaces fanout.
func (m *monitor) sinks(fanout sinks.Fanout, cfgs []SinkConfig) sinks.Fanout {
	sm := &sinkMetrics{
		written: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_alerts_written_total",
			Help: "Alerts the sink stored (or dead-lettered as rejected)."}, []string{"sink"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_sink_write_errors_total",
			Help: "Sink writes that failed: their batch was not acknowledged."}, []string{"sink"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_sink_write_seconds",
			Help:    "Time one batch's alerts took to be stored, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}, []string{"sink"}),
	}
	m.register(sm.written)
	m.register(sm.failed)
	m.register(sm.latency)
	out := make(sinks.Fanout, len(fanout))
	seen := map[string]int{}
	for i, s := range fanout {
		label := fmt.Sprintf("sink%d", i)
		if i < len(cfgs) {
			label = cfgs[i].Type
		}
		if seen[label]++; seen[label] > 1 {
			label = fmt.Sprintf("%s-%d", label, seen[label])
		}
		out[i] = sm.wrap(label, s)
		m.ready.set("sink "+label, nil)
		if es, ok := s.(*sinks.Elasticsearch); ok {
			m.register(newElasticsearchCollector(es, label))
			m.ready.set("sink "+label, es.Ready) // unready while writes are blocked or stalled
		}
		if n, ok := s.(*sinks.Notify); ok {
			m.register(n.Collector(label))
		}
	}
	m.ready.remove("sinks")
	return out
}

func (sm *sinkMetrics) wrap(label string, s vigil.Sink) *meteredSink {
	return &meteredSink{Sink: s, written: sm.written.WithLabelValues(label), failed: sm.failed.WithLabelValues(label),
		latency: sm.latency.WithLabelValues(label)}
}

// elasticsearchCollector exports an Elasticsearch sink's counters, and its health: alerts waiting behind a write
// block, write blocks by kind, alerts outside the event time window, and readiness.
type elasticsearchCollector struct {
	s     *sinks.Elasticsearch
	descs []*prometheus.Desc

	blockedTotal, blocked, outOfRange, ready *prometheus.Desc
}

func newElasticsearchCollector(s *sinks.Elasticsearch, label string) *elasticsearchCollector {
	c := &elasticsearchCollector{s: s}
	for _, m := range [][2]string{
		{"requests_total", "Bulk requests sent."},
		{"request_errors_total", "Bulk requests that failed as a whole (connection, timeout, 429, 5xx) and were retried."},
		{"created_total", "Alerts indexed."},
		{"updated_total", "Growing alerts (correlation bursts) rewritten in place: the fields Vigil owns updated."},
		{"duplicates_total", "Alerts already in the index (409): replays and retries, counted as stored."},
		{"retries_total", "Alerts the cluster asked to retry (429, 5xx, write blocks per item)."},
		{"dead_lettered_total", "Alerts the cluster rejected (a mapping conflict), parked in the dead-letter queue."},
	} {
		c.descs = append(c.descs, prometheus.NewDesc("vigil_elasticsearch_"+m[0], m[1], nil, prometheus.Labels{"sink": label}))
	}
	sink := prometheus.Labels{"sink": label}
	c.blockedTotal = prometheus.NewDesc("vigil_elasticsearch_blocked_total",
		"Refusals of alerts by a write block of the cluster (cluster_block_exception), per attempt, by kind of block; the alerts are retried.", []string{"block"}, sink)
	c.blocked = prometheus.NewDesc("vigil_elasticsearch_blocked_alerts",
		"Alerts waiting now because the cluster blocks writes to their index.", nil, sink)
	c.outOfRange = prometheus.NewDesc("vigil_elasticsearch_out_of_range_total",
		"Alerts whose time was outside event_time_window, indexed by their reference day and marked vigil.alert.time_out_of_range.", nil, sink)
	c.ready = prometheus.NewDesc("vigil_elasticsearch_ready",
		"1 when the sink passes its readiness check, 0 while writes are blocked or stalled.", nil, sink)
	return c
}

// Describe implements prometheus.Collector.
func (c *elasticsearchCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{c.blockedTotal, c.blocked, c.outOfRange, c.ready} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *elasticsearchCollector) Collect(ch chan<- prometheus.Metric) {
	st := &c.s.Stats
	for i, v := range []int64{st.Requests.Load(), st.RequestErrors.Load(), st.Created.Load(), st.Updated.Load(),
		st.Duplicates.Load(), st.Retries.Load(), st.DeadLettered.Load()} {
		ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.CounterValue, float64(v))
	}
	blocks := st.BlockedTotals()
	for _, kind := range sortedNames(blocks) {
		ch <- prometheus.MustNewConstMetric(c.blockedTotal, prometheus.CounterValue, float64(blocks[kind]), kind)
	}
	ch <- prometheus.MustNewConstMetric(c.blocked, prometheus.GaugeValue, float64(st.Blocked.Load()))
	ch <- prometheus.MustNewConstMetric(c.outOfRange, prometheus.CounterValue, float64(st.OutOfRange.Load()))
	ready := 1.0
	if c.s.Ready() != nil {
		ready = 0
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready)
}

// deadLetters wraps q so that what it stores is counted by kind (event, alert) and reason.
func (m *monitor) deadLetters(q vigil.DeadLetterQueue) vigil.DeadLetterQueue {
	mq := &meteredDeadLetters{DeadLetterQueue: q, counts: map[[2]string]int64{},
		desc: prometheus.NewDesc("vigil_dead_letters_total",
			"Records (kind event) and alerts (kind alert) parked in the dead-letter queue, by reason.",
			[]string{"kind", "reason"}, nil)}
	m.register(mq)
	return mq
}

// meteredDeadLetters counts the letters a dead-letter queue has stored.
type meteredDeadLetters struct {
	vigil.DeadLetterQueue
	desc   *prometheus.Desc
	mu     sync.Mutex
	counts map[[2]string]int64
}

// Park implements vigil.DeadLetterQueue.
func (q *meteredDeadLetters) Park(ctx context.Context, letters []vigil.DeadLetter) error {
	if err := q.DeadLetterQueue.Park(ctx, letters); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, l := range letters {
		q.counts[[2]string{l.Kind, l.Reason}]++
	}
	return nil
}

// Describe implements prometheus.Collector.
func (q *meteredDeadLetters) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

// Collect implements prometheus.Collector.
func (q *meteredDeadLetters) Collect(ch chan<- prometheus.Metric) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for k, v := range q.counts {
		ch <- prometheus.MustNewConstMetric(q.desc, prometheus.CounterValue, float64(v), k[0], k[1])
	}
}

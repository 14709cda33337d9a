package correlate

import (
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The collectors of the correlation engine, the Publisher and the Stage. They read counters kept anyway, at scrape
// time; `vigil run` registers them with its monitor (docs/operations.md lists every metric).

// counterSet exports atomic counters (or, with gauge, current values) under fixed names.
type counterSet []counterMetric

type counterMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value interface{ Load() int64 }
}

func (cs counterSet) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		ch <- c.desc
	}
}

func (cs counterSet) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		ch <- prometheus.MustNewConstMetric(c.desc, c.kind, float64(c.value.Load()))
	}
}

func counter(name, help string, v interface{ Load() int64 }) counterMetric {
	return counterMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue, v}
}

// Collector exports the engine's counters: what its partitions did with the match records, in-process or in the
// stage, and the groups open in this process.
func (e *Engine) Collector() prometheus.Collector {
	s := e.Stats
	return counterSet{
		counter("vigil_correlation_records_total", "Match records added to the correlation engine's partitions.", &s.Records),
		counter("vigil_correlation_late_records_total", "Match records older than their partition's watermark: dropped.", &s.Late),
		counter("vigil_correlation_duplicate_records_total", "Match records whose alert id their group already had (delivered again): counted once.", &s.Duplicates),
		counter("vigil_correlation_evicted_total", "Matches and groups dropped by max_events_per_group and max_groups_per_rule.", &s.Evicted),
		counter("vigil_correlation_unknown_records_total", "Match records of a correlation or input the running rule set does not have.", &s.Unknown),
		counter("vigil_correlation_ungrouped_matches_total", "Matches without a group-by field (or the condition's field) a correlation needs: no record.", &s.Ungrouped),
		counter("vigil_correlation_chains_delayed_total", "Correlation alerts from another partition that arrived behind the watermark and counted at it.", &s.ChainsDelayed),
		counter("vigil_correlation_alerts_raised_total", "Correlation alerts and suppressed alerts raised (first versions).", &s.Alerts),
		counter("vigil_correlation_alert_rewrites_total", "Later versions of growing correlation alerts.", &s.Rewrites),
		counter("vigil_suppressed_matches_total", "Matches of suppressing rules folded into an earlier match's alert (suppress).", &s.Suppressed),
		counter("vigil_correlation_groups_reset_total", "Groups dropped because their correlation changed or went away in a reload.", &s.Reset),
		{prometheus.NewDesc("vigil_correlation_open_groups", "Groups with state in this process's partitions.", nil, nil),
			prometheus.GaugeValue, &s.Groups},
	}
}

// Collector exports the publisher's counters.
func (p *Publisher) Collector() prometheus.Collector {
	return counterSet{
		counter("vigil_correlation_matches_published_total", "Match records written to the match topic and acknowledged.", &p.Published),
		counter("vigil_correlation_publish_retries_total", "Failed attempts to write match records (retried).", &p.Retries),
	}
}

// Collector exports the stage's counters, its checkpoint latency, and per owned partition its watermark lag, state
// size and groups. Partitions given up in a rebalance disappear from the per-partition series.
func (s *Stage) Collector() prometheus.Collector {
	st := &s.Stats
	part := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"partition"}, nil)
	}
	return &stageCollector{s: s,
		counters: counterSet{
			counter("vigil_correlation_stage_records_total", "Match records consumed by the correlation stage.", &st.Records),
			counter("vigil_correlation_stage_undecodable_records_total", "Match records that could not be decoded: dead-lettered (reason decode).", &st.Undecodable),
			counter("vigil_correlation_stage_alerts_written_total", "Correlation alert versions the stage wrote to the sinks.", &st.AlertsWritten),
			counter("vigil_correlation_stage_chains_published_total", "Chained records published for correlations of other partitions.", &st.ChainsPublished),
			counter("vigil_correlation_stage_checkpoints_total", "Checkpoints written to the changelog topic.", &st.Checkpoints),
			counter("vigil_correlation_stage_state_records_total", "State records written to the changelog topic (tombstones included).", &st.StateRecords),
			counter("vigil_correlation_stage_restores_total", "Partitions restored from the changelog topic.", &st.Restores),
			counter("vigil_correlation_stage_restored_records_total", "Changelog records read by restores.", &st.RestoredRecords),
			counter("vigil_correlation_stage_restore_errors_total", "Changelog records that could not be restored (the group's state is lost).", &st.RestoreErrors),
			counter("vigil_correlation_stage_commits_total", "Match-topic offset commits accepted.", &st.Commits),
			counter("vigil_correlation_stage_commit_errors_total", "Match-topic offset commits refused or failed.", &st.CommitErrors),
			counter("vigil_correlation_stage_generations_total", "Consumer-group generations joined (the first join, then one per rebalance).", &st.Generations),
			counter("vigil_correlation_stage_group_errors_total", "Failures to join the consumer group (retried).", &st.GroupErrors),
			counter("vigil_correlation_stage_abandoned_batches_total", "Batches given up at a rebalance or shutdown before their checkpoint: processed again.", &st.Abandoned),
		},
		lag:       part("vigil_correlation_watermark_lag_seconds", "Now minus the partition's lowest tenant watermark: how far event time is behind the clock."),
		bytes:     part("vigil_correlation_state_bytes", "Estimated memory of the partition's state (keys, matches, bookkeeping)."),
		groups:    part("vigil_correlation_partition_groups", "Open groups of the partition."),
		restoring: part("vigil_correlation_partition_restoring", "1 while the partition's state is being restored from the changelog."),
	}
}

type stageCollector struct {
	s                             *Stage
	counters                      counterSet
	lag, bytes, groups, restoring *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *stageCollector) Describe(ch chan<- *prometheus.Desc) {
	c.counters.Describe(ch)
	c.s.checkpoint.Describe(ch)
	for _, d := range []*prometheus.Desc{c.lag, c.bytes, c.groups, c.restoring} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *stageCollector) Collect(ch chan<- prometheus.Metric) {
	c.counters.Collect(ch)
	c.s.checkpoint.Collect(ch)
	now := time.Now().UnixNano()
	for _, sp := range c.s.partitions() {
		id := strconv.Itoa(sp.id)
		restoring := 0.0
		if sp.restoring.Load() {
			restoring = 1
		}
		ch <- prometheus.MustNewConstMetric(c.restoring, prometheus.GaugeValue, restoring, id)
		if restoring == 1 {
			continue
		}
		if wm := sp.watermark.Load(); wm != math.MinInt64 {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(now-wm)/1e9, id)
		}
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(sp.stateBytes.Load()), id)
		ch <- prometheus.MustNewConstMetric(c.groups, prometheus.GaugeValue, float64(sp.groups.Load()), id)
	}
}

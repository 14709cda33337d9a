package ingest

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// kafkaCollector exports a Kafka source's consumer position per owned partition and its counters, labelled with the
// source's name. It reads the source's state at scrape time, so partitions given up in a rebalance disappear from the
// metrics. A value not known (yet) is left out rather than exported as -1 or 0: a missing series is what PromQL
// treats as unknown, while a number would be summed into a wrong total.
type kafkaCollector struct {
	k                   *Kafka
	lag, committed, end *prometheus.Desc
	counters            []kafkaCounter
}

type kafkaCounter struct {
	desc  *prometheus.Desc
	value atomicInt64
}

// atomicInt64 is the method set of the counters in KafkaStats.
type atomicInt64 = interface{ Load() int64 }

func newKafkaCollector(k *Kafka) *kafkaCollector {
	source := prometheus.Labels{"source": k.name}
	part := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("vigil_kafka_"+name, help, []string{"topic", "partition"}, source)
	}
	c := &kafkaCollector{k: k,
		lag: part("consumer_lag",
			"Records in the partition not yet committed as handled (high watermark minus committed offset); absent while unknown."),
		committed: part("committed_offset", "The consumer group's committed offset of the partition; absent while the group has none."),
		end:       part("high_watermark", "The offset after the partition's last record, as last seen; absent until read."),
	}
	s := &k.Stats
	for _, m := range []struct {
		name, help string
		value      atomicInt64
	}{
		{"records_total", "Records fetched.", &s.Records},
		{"invalid_records_total", "Records marked invalid and dead-lettered (not JSON, oversize, unknown tenant).", &s.Invalid},
		{"dropped_records_total", "Buffered records dropped at a rebalance, to be read again.", &s.Dropped},
		{"generations_total", "Consumer group generations joined (the first join, then one per rebalance).", &s.Generations},
		{"group_errors_total", "Failures to join the consumer group (retried).", &s.GroupErrors},
		{"commits_total", "Offset commits accepted.", &s.Commits},
		{"commit_errors_total", "Offset commits refused or failed.", &s.CommitErrors},
		{"late_acks_total", "Batches acked after their generation ended: not committed, read again.", &s.LateAcks},
	} {
		c.counters = append(c.counters, kafkaCounter{
			desc: prometheus.NewDesc("vigil_kafka_"+m.name, m.help, nil, source), value: m.value})
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *kafkaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.committed
	ch <- c.end
	for _, m := range c.counters {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *kafkaCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.k.Lag() {
		topic, partition := l.Topic, strconv.Itoa(l.Partition)
		if l.Lag >= 0 {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(l.Lag), topic, partition)
		}
		if l.Committed >= 0 {
			ch <- prometheus.MustNewConstMetric(c.committed, prometheus.GaugeValue, float64(l.Committed), topic, partition)
		}
		if l.End >= 0 {
			ch <- prometheus.MustNewConstMetric(c.end, prometheus.GaugeValue, float64(l.End), topic, partition)
		}
	}
	for _, m := range c.counters {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.value.Load()))
	}
}

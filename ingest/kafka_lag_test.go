package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestKafkaLagUnknownIsNotExported: right after a rebalance a partition's end offset is not known, and a group that
// never committed a partition has no committed offset. Neither may reach the metrics as a number (-1 or 0 would be
// summed into a wrong total); the known values are exported.
func TestKafkaLagUnknownIsNotExported(t *testing.T) {
	tr := newOffsetTracker()
	tr.assign(topicPartition{"t", 0}, 100) // committed, end not read yet
	tr.assign(topicPartition{"t", 1}, -1)  // no commit, nothing read
	tr.assign(topicPartition{"t", 2}, 40)  // committed, end known
	tr.setEnd(topicPartition{"t", 2}, 45)
	tr.assign(topicPartition{"t", 3}, -1) // no commit, first record read at 7
	tr.fetchedUpTo(topicPartition{"t", 3}, 7, 10)
	k := &Kafka{name: "src", current: &generation{tracker: tr}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newKafkaCollector(k))
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				if l.GetName() == "partition" {
					labels = append(labels, l.GetValue())
				}
			}
			if len(labels) == 1 {
				got[strings.TrimPrefix(mf.GetName(), "vigil_kafka_")+"/"+labels[0]] = m.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{"committed_offset/0": 100, "committed_offset/2": 40,
		"high_watermark/2": 45, "high_watermark/3": 10, "consumer_lag/2": 5, "consumer_lag/3": 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("per-partition series:\ngot  %v\nwant %v", got, want)
	}
	lags := k.Lag()
	for i, wantLag := range []int64{-1, -1, 5, 3} {
		if lags[i].Lag != wantLag {
			t.Errorf("partition %d: got lag %d, want %d", i, lags[i].Lag, wantLag)
		}
	}
}

// TestKafkaLagKnownAfterJoin: the end offsets of the partitions a member is given are read when the generation
// starts, not a lag_interval later, so an idle partition's lag is known (0 here) right after a rebalance.
func TestKafkaLagKnownAfterJoin(t *testing.T) {
	addr := fakeKafka(t, kfake.SeedTopics(1, "t"))
	produceTo(t, addr, "t", 0, 10)
	cfg := fakeConfig(addr, "g", KafkaTopic{Name: "t", Tenant: "acme"})
	first := newKafka(t, cfg, KafkaOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for n := 0; n < 10; {
		evs, ack, err := first.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		n += len(evs)
		if err := ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	first.Close()

	cfg.LagInterval = time.Hour // only the read at the start of the generation can tell the end offset
	k := newKafka(t, cfg, KafkaOptions{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := k.Lag()
		if len(l) == 1 && l[0].End == 10 && l[0].Committed == 10 && l[0].Lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag 10 s after joining: got %+v, want end 10, committed 10, lag 0", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

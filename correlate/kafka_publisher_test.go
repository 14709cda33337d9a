package correlate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/kafkaconn"
)

// fakeKafka starts an in-process Kafka (kfake) with one broker.
func fakeKafka(t *testing.T, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

func fakeConfig(addr string, partitions int) KafkaConfig {
	return KafkaConfig{Kafka: &kafkaconn.Config{Brokers: []string{addr}}, Topic: "m", ChangelogTopic: "m-state",
		Partitions: partitions, GroupID: "g", BatchSize: 50, SessionTimeout: 6 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: 5 * time.Second, RevokeTimeout: 2 * time.Second}
}

func newPublisher(t *testing.T, cfg KafkaConfig, e *Engine) *Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := NewPublisher(ctx, cfg, e, nil)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPartitionOfIsKafkaGoHash(t *testing.T) {
	var h kafka.Hash
	parts := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	for i := range 2000 {
		r := Record{Tenant: []string{"acme", "globex"}[i%2], Group: []string{fmt.Sprint("user-", i), "10.0.0.1"}}
		for _, n := range []int{1, 3, 12} {
			if got, want := PartitionOf(r.Key(), n), h.Balance(kafka.Message{Key: r.Key()}, parts[:n]...); got != want {
				t.Fatalf("key %q, %d partitions: got %d, kafka-go's Hash gives %d", r.Key(), n, got, want)
			}
		}
	}
}

// TestPublisherTopicsAndRecords: the publisher creates both topics (the changelog compacted), and writes each match
// record to the partition of its key, decodable, acknowledged before Correlate returns.
func TestPublisherTopicsAndRecords(t *testing.T) {
	cluster, addr := fakeKafka(t)
	e := New(testSet(t, chain), Config{})
	p := newPublisher(t, fakeConfig(addr, 4), e)
	if p.Partitions() != 4 {
		t.Errorf("partitions: got %d, want 4", p.Partitions())
	}
	if ti := cluster.TopicInfo("m-state"); ti == nil || ti.Configs["cleanup.policy"] == nil ||
		*ti.Configs["cleanup.policy"] != "compact" {
		t.Errorf("changelog topic: got %+v, want cleanup.policy=compact", ti)
	}
	alerts := []*vigil.Alert{
		{ID: fmt.Sprintf("%032x", 1), Tenant: "acme", RuleID: "fail", Time: t0, Internal: true,
			Doc: map[string]any{"user": map[string]any{"name": "bob"}, "source": map[string]any{"ip": "10.0.0.1"}}},
		{ID: fmt.Sprintf("%032x", 2), Tenant: "acme", RuleID: "ok", Time: t0.Add(time.Second), Internal: true,
			Doc: map[string]any{"user": map[string]any{"name": "bob"}}},
		{ID: fmt.Sprintf("%032x", 3), Tenant: "globex", RuleID: "conn", Time: t0}, // named by no correlation
	}
	out, err := p.Correlate(context.Background(), alerts)
	if err != nil || out != nil {
		t.Fatalf("Correlate: got %v, %v; want no alerts and no error", out, err)
	}
	want := e.Records(alerts[0], nil)
	want = e.Records(alerts[1], want)
	if len(want) != 4 { // fail: brute and spray; ok: brute_then_success and quiet
		t.Fatalf("the alerts give %d records, want 4", len(want))
	}
	got := readMatches(t, addr, "m", 4, len(want))
	for _, w := range want {
		key := string(w.Key())
		m, ok := got[key+"/"+w.Rule]
		if !ok {
			t.Errorf("record of %s for key %q not in the topic", w.Rule, key)
			continue
		}
		if part := PartitionOf(w.Key(), 4); m.Partition != part {
			t.Errorf("record of %s: partition %d, want %d", w.Rule, m.Partition, part)
		}
	}
	if p.Published.Load() != 4 {
		t.Errorf("published: got %d, want 4", p.Published.Load())
	}
}

// TestPublisherOrdersByEventTime: the records of one batch reach their partition in event-time order, whatever the
// order of the batch's alerts (rule workers do not keep it).
func TestPublisherOrdersByEventTime(t *testing.T) {
	_, addr := fakeKafka(t)
	e := New(testSet(t, bruteForce), Config{})
	p := newPublisher(t, fakeConfig(addr, 1), e)
	var alerts []*vigil.Alert
	for _, i := range []int{5, 2, 9, 0, 7, 1, 8, 3, 6, 4} {
		alerts = append(alerts, &vigil.Alert{ID: fmt.Sprintf("%032x", i+1), Tenant: "acme", RuleID: "fail",
			Time: t0.Add(time.Duration(i) * time.Minute), Internal: true, Doc: map[string]any{"user": map[string]any{"name": "bob"}}})
	}
	if _, err := p.Correlate(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	conn, err := kafka.DialLeader(context.Background(), "tcp", addr, "m", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	batch := conn.ReadBatch(1, 1<<20)
	defer batch.Close()
	var got []string
	for range alerts {
		m, err := batch.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var r Record
		if err := r.UnmarshalBinary(m.Value); err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Time.Sub(t0).String())
	}
	if want := "[0s 1m0s 2m0s 3m0s 4m0s 5m0s 6m0s 7m0s 8m0s 9m0s]"; fmt.Sprint(got) != want {
		t.Errorf("record times in the partition: got %v, want %s", got, want)
	}
}

// readMatches reads n records from every partition of a match topic, keyed by record key and correlation.
func readMatches(t *testing.T, addr, topic string, partitions, n int) map[string]kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]kafka.Message{}
	for part := range partitions {
		conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, part)
		if err != nil {
			t.Fatal(err)
		}
		_, last, err := conn.ReadOffsets()
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < last; off++ {
			batch := conn.ReadBatch(1, 1<<20)
			m, err := batch.ReadMessage()
			batch.Close()
			if err != nil {
				t.Fatalf("read %s/%d: %v", topic, part, err)
			}
			var r Record
			if err := r.UnmarshalBinary(m.Value); err != nil {
				t.Fatalf("record at %s/%d/%d: %v", topic, part, m.Offset, err)
			}
			if string(m.Key) != string(r.Key()) {
				t.Errorf("record at %s/%d/%d: key %q, want Record.Key %q", topic, part, m.Offset, m.Key, r.Key())
			}
			out[string(m.Key)+"/"+r.Rule] = m
		}
		conn.Close()
	}
	if len(out) != n {
		t.Errorf("got %d records in %s, want %d", len(out), topic, n)
	}
	return out
}

// TestPublisherTopicChecks: existing topics keep their partition count, a missing changelog gets the match topic's,
// and a mismatch or a changelog that is not compacted stops the start with an error that says what to do.
func TestPublisherTopicChecks(t *testing.T) {
	e := New(testSet(t, chain), Config{})
	t.Run("changelog follows the match topic", func(t *testing.T) {
		_, addr := fakeKafka(t, kfake.SeedTopics(3, "m"))
		if p := newPublisher(t, fakeConfig(addr, 12), e); p.Partitions() != 3 {
			t.Errorf("partitions: got %d, want the existing topic's 3", p.Partitions())
		}
	})
	for _, tc := range []struct {
		name    string
		setup   func(*kfake.Cluster) error
		wantErr string
	}{
		{"different partition counts", func(c *kfake.Cluster) error {
			return errors.Join(c.CreateTopic("m", 3, nil), c.CreateTopic("m-state", 4, map[string]string{"cleanup.policy": "compact"}))
		}, "must have the same number"},
		{"changelog not compacted", func(c *kfake.Cluster) error {
			return errors.Join(c.CreateTopic("m", 3, nil), c.CreateTopic("m-state", 3, map[string]string{"cleanup.policy": "delete"}))
		}, "cleanup.policy=delete; it must be compact"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, addr := fakeKafka(t)
			if err := tc.setup(c); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p, err := NewPublisher(ctx, fakeConfig(addr, 12), e, nil)
			if err == nil {
				p.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestChangelogBatchesFitTheTopic: checkpoints larger than the topic's max.message.bytes are split into batches that
// fit, and a changelog Vigil creates takes state records of up to 16 MiB; restore reads every record back in order.
func TestChangelogBatchesFitTheTopic(t *testing.T) {
	big := func(n, size int) []StateRecord {
		var recs []StateRecord
		for i := range n {
			recs = append(recs, StateRecord{Key: []byte(fmt.Sprint("k", i)), Value: bytes.Repeat([]byte{byte(i)}, size)})
		}
		return recs
	}
	for _, tc := range []struct {
		name   string
		create bool // the changelog exists with the broker's default max.message.bytes (1 MB)
		recs   []StateRecord
	}{
		{"3 MB checkpoint, default topic", true, big(30, 100_000)},
		{"2 MB state record, created topic", false, big(2, 2_000_000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster, addr := fakeKafka(t)
			if tc.create {
				if err := errors.Join(cluster.CreateTopic("m", 2, nil),
					cluster.CreateTopic("m-state", 2, map[string]string{"cleanup.policy": "compact"})); err != nil {
					t.Fatal(err)
				}
			}
			p := newPublisher(t, fakeConfig(addr, 2), New(testSet(t, chain), Config{}))
			cl, err := newChangelog(p.cfg, p.tr, p.layout.changelogBatch, p.log)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := cl.write(ctx, 1, tc.recs); err != nil {
				t.Fatalf("write: %v", err)
			}
			var got []StateRecord
			if _, err := cl.restore(ctx, 1, func(r StateRecord) error { got = append(got, r); return nil }); err != nil {
				t.Fatalf("restore: %v", err)
			}
			if len(got) != len(tc.recs) {
				t.Fatalf("restored %d records, want %d", len(got), len(tc.recs))
			}
			for i := range got {
				if !bytes.Equal(got[i].Key, tc.recs[i].Key) || !bytes.Equal(got[i].Value, tc.recs[i].Value) {
					t.Fatalf("record %d: got key %q (%d bytes), want %q", i, got[i].Key, len(got[i].Value), tc.recs[i].Key)
				}
			}
		})
	}
}

package sinks

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/kafkaconn"
)

func fakeCluster(t *testing.T, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

func newDLQ(t *testing.T, cfg KafkaDeadLetterConfig) *KafkaDeadLetter {
	t.Helper()
	q, err := NewKafkaDeadLetter(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("NewKafkaDeadLetter: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func readTopic(t *testing.T, addr, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: got %d records, want %d: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func headers(m kafka.Message) map[string]string {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

func TestKafkaDeadLetterRecords(t *testing.T) {
	_, addr := fakeCluster(t, kfake.SeedTopics(1, "dlq"))
	q := newDLQ(t, KafkaDeadLetterConfig{Config: kafkaconn.Config{Brokers: []string{addr}},
		Topic: "dlq", MaxPayloadBytes: 16})
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	letters := []vigil.DeadLetter{
		{Kind: "event", Reason: "decode", Detail: "decode: not a JSON object", Payload: []byte("not json"),
			Origin: vigil.Origin{Source: "partners", Topic: "partner.acme.events", Partition: 2, Offset: 41, Time: at}, Tenant: "acme"},
		{Kind: "event", Reason: "tenant", Detail: `tenant: unknown tenant "x"`, Payload: []byte(`{"event":{"id":"0123456789abcdef"}}`),
			Origin: vigil.Origin{Source: "partners", Topic: "shared", Partition: 0, Offset: 7}},
		{Kind: "alert", Reason: "mapping", Detail: "mapper_parsing_exception", Payload: []byte(`{}`),
			Origin: vigil.Origin{Source: "files", File: "/var/log/x.jsonl", Line: 12}, Tenant: "globex"},
	}
	if err := q.Park(context.Background(), letters); err != nil {
		t.Fatalf("Park: %v", err)
	}
	got := readTopic(t, addr, "dlq", 3)
	want := []map[string]string{
		{HeaderKind: "event", HeaderReason: "decode", HeaderDetail: "decode: not a JSON object", HeaderSource: "partners",
			HeaderSourceTopic: "partner.acme.events", HeaderSourcePartition: "2", HeaderSourceOffset: "41",
			HeaderSourceTime: "2026-01-02T03:04:05Z", HeaderTenant: "acme"},
		{HeaderKind: "event", HeaderReason: "tenant", HeaderDetail: `tenant: unknown tenant "x"`, HeaderSource: "partners",
			HeaderSourceTopic: "shared", HeaderSourcePartition: "0", HeaderSourceOffset: "7", HeaderTruncated: "35"},
		{HeaderKind: "alert", HeaderReason: "mapping", HeaderDetail: "mapper_parsing_exception", HeaderSource: "files",
			HeaderSourceFile: "/var/log/x.jsonl", HeaderSourceLine: "12", HeaderTenant: "globex"},
	}
	wantValue := []string{"not json", `{"event":{"id":"`, `{}`}
	for i, m := range got {
		h := headers(m)
		if len(h) != len(want[i]) {
			t.Errorf("record %d: headers %v, want %v", i, h, want[i])
		}
		for k, v := range want[i] {
			if h[k] != v {
				t.Errorf("record %d: header %s = %q, want %q", i, k, h[k], v)
			}
		}
		if string(m.Value) != wantValue[i] {
			t.Errorf("record %d: value %q, want %q", i, m.Value, wantValue[i])
		}
	}
}

// TestKafkaDeadLetterRetries: a write the broker refuses is retried until it succeeds.
func TestKafkaDeadLetterRetries(t *testing.T) {
	c, addr := fakeCluster(t, kfake.SeedTopics(1, "dlq"))
	q := newDLQ(t, KafkaDeadLetterConfig{Config: kafkaconn.Config{Brokers: []string{addr}}, Topic: "dlq"})
	var refused atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		if refused.Add(1) >= 3 {
			return nil, nil, false // the third attempt goes through
		}
		c.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	l := vigil.DeadLetter{Kind: "event", Reason: "decode", Payload: []byte("x"), Origin: vigil.Origin{Topic: "t"}}
	if err := q.Park(context.Background(), []vigil.DeadLetter{l}); err != nil {
		t.Fatalf("Park: %v", err)
	}
	if q.Retries.Load() < 2 || q.Parked.Load() != 1 {
		t.Errorf("retries %d, parked %d; want at least 2 retries and 1 letter parked", q.Retries.Load(), q.Parked.Load())
	}
	if m := readTopic(t, addr, "dlq", 1); string(m[0].Value) != "x" {
		t.Errorf("value %q, want x", m[0].Value)
	}
}

// TestKafkaDeadLetterGivesUpWithTheContext: when the broker keeps refusing, Park returns an error once the batch's
// context ends, so the batch is not acked.
func TestKafkaDeadLetterGivesUpWithTheContext(t *testing.T) {
	c, addr := fakeCluster(t, kfake.SeedTopics(1, "dlq"))
	q := newDLQ(t, KafkaDeadLetterConfig{Config: kafkaconn.Config{Brokers: []string{addr}}, Topic: "dlq"})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, errors.New("refused"), true // closes the connection
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := q.Park(ctx, []vigil.DeadLetter{{Kind: "event", Reason: "decode", Payload: []byte("x")}})
	if err == nil || !strings.Contains(err.Error(), "1 letters not written") {
		t.Errorf("got %v, want an error once the context ends", err)
	}
}

func TestKafkaDeadLetterTopic(t *testing.T) {
	_, addr := fakeCluster(t)
	conn := kafkaconn.Config{Brokers: []string{addr}}
	if _, err := NewKafkaDeadLetter(context.Background(), KafkaDeadLetterConfig{Config: conn, Topic: "dl"}, nil); err == nil ||
		!strings.Contains(err.Error(), "topics do not exist: dl") {
		t.Errorf("missing topic without create_topic: got %v", err)
	}
	q := newDLQ(t, KafkaDeadLetterConfig{Config: conn, Topic: "dl", CreateTopic: true})
	if err := q.Park(context.Background(), []vigil.DeadLetter{{Kind: "event", Reason: "decode", Payload: []byte("y")}}); err != nil {
		t.Fatalf("Park to the created topic: %v", err)
	}
	// A second start finds the topic.
	newDLQ(t, KafkaDeadLetterConfig{Config: conn, Topic: "dl", CreateTopic: true})
}

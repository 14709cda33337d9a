//go:build integration

package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/ingest"
	"github.com/vigilsoc/vigil/kafkaconn"
	"github.com/vigilsoc/vigil/sinks"
	"github.com/vigilsoc/vigil/testenv"
)

// These tests prove the Kafka source's delivery behaviour on the real broker started by testenv/run.

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("VIGIL_TEST_VERBOSE") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// fastGroup returns a source configuration with timings short enough for tests.
func fastGroup(addr, group string, topics ...ingest.KafkaTopic) ingest.KafkaConfig {
	return ingest.KafkaConfig{
		Config:            kafkaconn.Config{Brokers: []string{addr}},
		GroupID:           group,
		Topics:            topics,
		BatchSize:         200,
		SessionTimeout:    6 * time.Second,
		HeartbeatInterval: 500 * time.Millisecond,
		RebalanceTimeout:  10 * time.Second,
		RevokeTimeout:     2 * time.Second,
		LagInterval:       time.Second,
	}
}

// produce writes the records, spread over the topic's partitions by key. A topic just created may still be unknown
// to the writer's metadata for a moment: that is retried.
func produce(t *testing.T, addr, topic string, msgs ...kafka.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond,
			BatchSize: 1000, RequiredAcks: kafka.RequireAll}
		err := w.WriteMessages(ctx, msgs...)
		w.Close()
		if err == nil {
			return
		}
		if !errors.Is(err, kafka.UnknownTopicOrPartition) || ctx.Err() != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func jsonEvents(topic string, from, to int, extra string) []kafka.Message {
	var msgs []kafka.Message
	for i := from; i < to; i++ {
		v := fmt.Sprintf(`{"event":{"id":"%s-%d","category":"authentication"},"seq":%d%s}`, topic, i, i, extra)
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(v)})
	}
	return msgs
}

// endOffsets returns the high watermark of each partition.
func endOffsets(t *testing.T, addr, topic string, partitions int) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	res, err := (&kafka.Client{Addr: kafka.TCP(addr)}).ListOffsets(ctx, req)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	out := make([]int64, partitions)
	for _, p := range res.Topics[topic] {
		out[p.Partition] = p.LastOffset
	}
	return out
}

func newSource(t *testing.T, cfg ingest.KafkaConfig, tenants ...string) *ingest.Kafka {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := ingest.NewKafka(ctx, "kafka", cfg, ingest.KafkaOptions{Tenants: tenants, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("NewKafka: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// recordingSink remembers the events of the alerts it is given; every event becomes one alert via passDetector.
type recordingSink struct {
	mu   sync.Mutex
	seen map[string]int // event.id → times written
	who  map[string]string
	name string
}

func newRecordingSink(name string) *recordingSink {
	return &recordingSink{seen: map[string]int{}, who: map[string]string{}, name: name}
}

func (s *recordingSink) Write(_ context.Context, alerts []*vigil.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range alerts {
		s.seen[a.ID]++
		s.who[a.ID] = a.Event.Origin.String()
	}
	return nil
}

func (s *recordingSink) Close() error { return nil }

func (s *recordingSink) ids() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.seen))
	for k, v := range s.seen {
		out[k] = v
	}
	return out
}

// passDetector turns every event into one alert whose id is the event's event.id and tenant.
type passDetector struct{}

func (passDetector) Detect(ev *vigil.Event, dst []*vigil.Alert) []*vigil.Alert {
	id := ev.Fields.Lookup("event", "id").Str()
	return append(dst, &vigil.Alert{ID: ev.Tenant + "/" + id, Tenant: ev.Tenant, Event: ev, Doc: map[string]any{}})
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type runningPipeline struct {
	cancel context.CancelFunc
	done   chan error
	p      *vigil.Pipeline
}

func startPipeline(src vigil.Source, sink vigil.Sink, dlq vigil.DeadLetterQueue) *runningPipeline {
	ctx, cancel := context.WithCancel(context.Background())
	p := &vigil.Pipeline{Source: src, Detector: passDetector{}, Sink: sink, DeadLetters: dlq, MaxInFlight: 4,
		DrainTimeout: 20 * time.Second}
	r := &runningPipeline{cancel: cancel, done: make(chan error, 1), p: p}
	go func() { r.done <- p.Run(ctx) }()
	return r
}

func (r *runningPipeline) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("pipeline: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not stop within 30s")
	}
}

func TestKafkaIntegrationConsumeCommitResume(t *testing.T) {
	t.Parallel()
	addr := testenv.Kafka(t)
	topic := testenv.CreateTopic(t, addr, 3)
	group := testenv.UniqueName(t, "vigil-group-")
	produce(t, addr, topic, jsonEvents(topic, 0, 500, "")...)

	sink := newRecordingSink("one")
	src := newSource(t, fastGroup(addr, group, ingest.KafkaTopic{Name: topic, Tenant: "acme"}))
	p := startPipeline(src, sink, nil)
	waitFor(t, 60*time.Second, "500 events", func() bool { return len(sink.ids()) == 500 })
	p.stop(t)
	src.Close()

	ends := endOffsets(t, addr, topic, 3)
	if got := testenv.CommittedOffsets(t, addr, group, topic, 3); fmt.Sprint(got) != fmt.Sprint(ends) {
		t.Fatalf("committed offsets %v, want the ends %v", got, ends)
	}
	for id, n := range sink.ids() {
		if n != 1 {
			t.Errorf("event %s written %d times in one clean run", id, n)
		}
		if !strings.HasPrefix(id, "acme/") {
			t.Errorf("alert %s: tenant is not acme", id)
		}
	}

	// A new member of the group resumes after the committed offsets: only new records arrive.
	produce(t, addr, topic, jsonEvents(topic, 500, 600, "")...)
	sink2 := newRecordingSink("two")
	src2 := newSource(t, fastGroup(addr, group, ingest.KafkaTopic{Name: topic, Tenant: "acme"}))
	p2 := startPipeline(src2, sink2, nil)
	waitFor(t, 60*time.Second, "100 new events", func() bool { return len(sink2.ids()) >= 100 })
	time.Sleep(time.Second)
	p2.stop(t)
	if got := len(sink2.ids()); got != 100 {
		t.Errorf("resumed member wrote %d events, want exactly the 100 new ones", got)
	}
	for id := range sink2.ids() {
		var seq int
		fmt.Sscanf(id[strings.LastIndex(id, "-")+1:], "%d", &seq)
		if seq < 500 {
			t.Errorf("resumed member read %s again, which was committed", id)
		}
	}
}

// TestKafkaIntegrationStartLatest: a new group with start_offset latest skips what is already in the topic.
func TestKafkaIntegrationStartLatest(t *testing.T) {
	t.Parallel()
	addr := testenv.Kafka(t)
	topic := testenv.CreateTopic(t, addr, 1)
	produce(t, addr, topic, jsonEvents(topic, 0, 50, "")...)
	cfg := fastGroup(addr, testenv.UniqueName(t, "vigil-group-"), ingest.KafkaTopic{Name: topic, Tenant: "acme"})
	cfg.StartOffset = ingest.StartLatest
	src := newSource(t, cfg)
	sink := newRecordingSink("latest")
	p := startPipeline(src, sink, nil)
	defer p.stop(t)
	// Records produced after the start arrive; when exactly the fetcher resolved "latest" is not observable, so
	// new records are produced until one arrives.
	for seq := 50; len(sink.ids()) == 0; seq++ {
		if seq > 150 {
			t.Fatal("no record produced after the start arrived")
		}
		produce(t, addr, topic, jsonEvents(topic, seq, seq+1, "")...)
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	for id := range sink.ids() {
		var seq int
		fmt.Sscanf(id[strings.LastIndex(id, "-")+1:], "%d", &seq)
		if seq < 50 {
			t.Errorf("start_offset latest read %s, which was in the topic before the start", id)
		}
	}
}

func readDeadLetters(t *testing.T, addr, topic string, want int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: 0, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < want {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read dead letters: got %d, want %d: %v", len(out), want, err)
		}
		out = append(out, m)
	}
	return out
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestKafkaIntegrationPoisonRecords: every kind of bad record lands in the dead-letter topic with its reason, its
// original bytes and its origin, while every good record around it is processed and the offsets reach the end.
func TestKafkaIntegrationPoisonRecords(t *testing.T) {
	t.Parallel()
	addr := testenv.Kafka(t)
	single := testenv.CreateTopic(t, addr, 2)
	multi := testenv.CreateTopic(t, addr, 2)
	dlTopic := testenv.CreateTopic(t, addr, 1)
	group := testenv.UniqueName(t, "vigil-group-")

	big := `{"event":{"id":"big"},"pad":"` + strings.Repeat("x", 2048) + `"}`
	poison := map[string]struct {
		topic, reason string
		msg           kafka.Message
	}{
		"not-json":       {single, "decode", kafka.Message{Value: []byte("this is not json")}},
		"array":          {single, "decode", kafka.Message{Value: []byte(`[{"event":{"id":"x"}}]`)}},
		"truncated":      {single, "decode", kafka.Message{Value: []byte(`{"event":{"id":"cut"`)}},
		"empty":          {single, "decode", kafka.Message{Value: nil}},
		"oversize":       {single, "oversize", kafka.Message{Value: []byte(big)}},
		"unknown-tenant": {multi, "tenant", kafka.Message{Value: []byte(`{"event":{"id":"u"}}`), Headers: []kafka.Header{{Key: "x-tenant", Value: []byte("initech")}}}},
		"no-tenant":      {multi, "tenant", kafka.Message{Value: []byte(`{"event":{"id":"n"}}`)}},
	}
	seq := 0
	for i := 0; i < 10; i++ {
		for name, p := range poison {
			m := p.msg
			m.Key = []byte(fmt.Sprintf("%s-%d", name, i))
			good := jsonEvents(p.topic, seq, seq+3, "")
			seq += 3
			if p.topic == multi {
				for j := range good {
					good[j].Headers = []kafka.Header{{Key: "x-tenant", Value: []byte([]string{"acme", "globex"}[j%2])}}
				}
			}
			produce(t, addr, p.topic, append(append(good[:1:1], m), good[1:]...)...)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dlq, err := sinks.NewKafkaDeadLetter(ctx, sinks.KafkaDeadLetterConfig{
		Config: kafkaconn.Config{Brokers: []string{addr}}, Topic: dlTopic}, testLogger(t))
	if err != nil {
		t.Fatalf("NewKafkaDeadLetter: %v", err)
	}
	defer dlq.Close()
	cfg := fastGroup(addr, group, ingest.KafkaTopic{Name: single, Tenant: "acme"}, ingest.KafkaTopic{Name: multi, MultiTenant: true})
	cfg.MaxRecordBytes = 1024
	cfg.TenantHeader = "x-tenant"
	src := newSource(t, cfg, "acme", "globex")
	sink := newRecordingSink("poison")
	p := startPipeline(src, sink, dlq)
	nGood := 10 * len(poison) * 3
	waitFor(t, 60*time.Second, fmt.Sprintf("%d good events", nGood), func() bool { return len(sink.ids()) == nGood })
	letters := readDeadLetters(t, addr, dlTopic, 10*len(poison))
	p.stop(t)
	src.Close()

	byReason := map[string]int{}
	for _, m := range letters {
		reason, topic := header(m, sinks.HeaderReason), header(m, sinks.HeaderSourceTopic)
		byReason[reason]++
		if topic != single && topic != multi {
			t.Errorf("dead letter source topic %q", topic)
		}
		if header(m, sinks.HeaderSourcePartition) == "" || header(m, sinks.HeaderSourceOffset) == "" ||
			header(m, sinks.HeaderDetail) == "" || header(m, sinks.HeaderKind) != "event" {
			t.Errorf("dead letter lacks origin or detail headers: %v", m.Headers)
		}
		var matched bool
		for _, p := range poison {
			if p.reason == reason && string(p.msg.Value) == string(m.Value) {
				matched = true
			}
		}
		if !matched {
			t.Errorf("dead letter with reason %q holds %.60q, not the original bytes of a poison record of that kind",
				reason, m.Value)
		}
		if reason == "tenant" && header(m, sinks.HeaderTenant) != "" {
			t.Errorf("tenant dead letter names tenant %q", header(m, sinks.HeaderTenant))
		}
	}
	wantReasons := map[string]int{"decode": 40, "oversize": 10, "tenant": 20}
	if fmt.Sprint(byReason) != fmt.Sprint(wantReasons) {
		t.Errorf("dead letters by reason: got %v, want %v", byReason, wantReasons)
	}
	tenants := map[string]int{}
	for id := range sink.ids() {
		tenants[id[:strings.Index(id, "/")]]++
	}
	if tenants["acme"]+tenants["globex"] != nGood || tenants["globex"] == 0 {
		t.Errorf("good events by tenant: %v", tenants)
	}
	for _, topic := range []string{single, multi} {
		if got, want := testenv.CommittedOffsets(t, addr, group, topic, 2), endOffsets(t, addr, topic, 2); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: committed %v, want the ends %v (bad records count as handled)", topic, got, want)
		}
	}
}

// TestKafkaIntegrationTwoInstances: two members of one group split the partitions, and neither a member joining
// nor a member leaving while records flow loses a record.
func TestKafkaIntegrationTwoInstances(t *testing.T) {
	t.Parallel()
	addr := testenv.Kafka(t)
	const partitions, total = 4, 20000
	topic := testenv.CreateTopic(t, addr, partitions)
	group := testenv.UniqueName(t, "vigil-group-")
	cfg := fastGroup(addr, group, ingest.KafkaTopic{Name: topic, Tenant: "acme"})

	produced := make(chan struct{})
	go func() { // records keep arriving through both rebalances
		defer close(produced)
		for from := 0; from < total; from += 500 {
			produce(t, addr, topic, jsonEvents(topic, from, from+500, "")...)
			time.Sleep(150 * time.Millisecond)
		}
	}()
	slow := func(s *recordingSink) vigil.Sink { return slowSink{s, 5 * time.Millisecond} }
	sinkA, sinkB := newRecordingSink("a"), newRecordingSink("b")
	srcA := newSource(t, cfg)
	pA := startPipeline(srcA, slow(sinkA), nil)
	waitFor(t, 60*time.Second, "A to process records", func() bool { return len(sinkA.ids()) > 1000 })

	srcB := newSource(t, cfg)
	pB := startPipeline(srcB, slow(sinkB), nil)
	waitFor(t, 60*time.Second, "A and B to split the partitions", func() bool {
		a, b := srcA.Lag(), srcB.Lag()
		return len(a) > 0 && len(b) > 0 && len(a)+len(b) == partitions
	})
	owned := map[int]string{}
	for who, src := range map[string]*ingest.Kafka{"A": srcA, "B": srcB} {
		for _, l := range src.Lag() {
			if prev, ok := owned[l.Partition]; ok {
				t.Errorf("partition %d owned by both %s and %s", l.Partition, prev, who)
			}
			owned[l.Partition] = who
		}
	}
	waitFor(t, 60*time.Second, "B to process records", func() bool { return len(sinkB.ids()) > 1000 })

	pA.stop(t) // A leaves while records flow: B takes over A's partitions
	srcA.Close()
	<-produced
	all := func() map[string]int {
		u := sinkA.ids()
		for id, n := range sinkB.ids() {
			u[id] += n
		}
		return u
	}
	waitFor(t, 120*time.Second, "every record processed", func() bool { return len(all()) == total })
	waitFor(t, 30*time.Second, "B's offsets to reach the ends", func() bool {
		return fmt.Sprint(testenv.CommittedOffsets(t, addr, group, topic, partitions)) == fmt.Sprint(endOffsets(t, addr, topic, partitions))
	})
	pB.stop(t)
	dups := 0
	for _, n := range all() {
		dups += n - 1
	}
	t.Logf("A wrote %d, B wrote %d, %d distinct of %d, %d duplicates; A joined %d generations, B %d; late acks A %d B %d",
		len(sinkA.ids()), len(sinkB.ids()), len(all()), total, dups, srcA.Stats.Generations.Load(),
		srcB.Stats.Generations.Load(), srcA.Stats.LateAcks.Load(), srcB.Stats.LateAcks.Load())
}

type slowSink struct {
	vigil.Sink
	delay time.Duration
}

func (s slowSink) Write(ctx context.Context, alerts []*vigil.Alert) error {
	time.Sleep(s.delay)
	return s.Sink.Write(ctx, alerts)
}

// TestKafkaIntegrationLateAckNotCommitted: a batch acked after its partitions were given up in a rebalance commits
// nothing; the partitions' new owner reads the records again.
func TestKafkaIntegrationLateAckNotCommitted(t *testing.T) {
	t.Parallel()
	addr := testenv.Kafka(t)
	topic := testenv.CreateTopic(t, addr, 2)
	group := testenv.UniqueName(t, "vigil-group-")
	produce(t, addr, topic, jsonEvents(topic, 0, 100, "")...)
	cfg := fastGroup(addr, group, ingest.KafkaTopic{Name: topic, Tenant: "acme"})
	cfg.RevokeTimeout = time.Second

	a := newSource(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	batch, ack, err := a.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := newSource(t, cfg) // joining starts a rebalance; A gives up its partitions with the batch unacked
	waitFor(t, 60*time.Second, "the rebalance", func() bool {
		return a.Stats.Generations.Load() >= 2 && len(a.Lag())+len(b.Lag()) == 2
	})
	if err := ack(ctx); err != nil {
		t.Fatalf("late ack: %v", err)
	}
	if got := a.Stats.LateAcks.Load(); got != 1 {
		t.Errorf("late acks: got %d, want 1", got)
	}
	if got := testenv.CommittedOffsets(t, addr, group, topic, 2); fmt.Sprint(got) != "[-1 -1]" {
		t.Errorf("committed offsets after the late ack of %d records: %v, want none", len(batch), got)
	}
	// Whoever owns the batch's partitions now reads its records again.
	var mu sync.Mutex
	want := map[string]bool{}
	for _, ev := range batch {
		want[ev.Origin.String()] = true
	}
	readCtx, stopReading := context.WithCancel(ctx)
	var readers sync.WaitGroup
	for _, src := range []*ingest.Kafka{a, b} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				evs, ack, err := src.Read(readCtx)
				if err != nil {
					return
				}
				_ = ack(readCtx)
				mu.Lock()
				for _, ev := range evs {
					delete(want, ev.Origin.String())
				}
				mu.Unlock()
			}
		}()
	}
	defer readers.Wait()
	defer stopReading()
	waitFor(t, 30*time.Second, "the batch's records to be read again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(want) == 0
	})
}

// TestKafkaIntegrationRevokeCommitsInFlight: a batch acked while its generation is being revoked (within
// revoke_timeout) is still committed, so the partition's next owner does not read it again.
func TestKafkaIntegrationRevokeCommitsInFlight(t *testing.T) {
	t.Parallel()
	addr := testenv.Kafka(t)
	topic := testenv.CreateTopic(t, addr, 1)
	group := testenv.UniqueName(t, "vigil-group-")
	produce(t, addr, topic, jsonEvents(topic, 0, 50, "")...)
	cfg := fastGroup(addr, group, ingest.KafkaTopic{Name: topic, Tenant: "acme"})
	cfg.RevokeTimeout, cfg.SessionTimeout = 8*time.Second, 10*time.Second

	a := newSource(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	batch, ack, err := a.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "A to own the partition", func() bool { return len(a.Lag()) == 1 })
	newSource(t, cfg) // B joins: A's generation ends and waits for the batch in flight
	waitFor(t, 30*time.Second, "A's generation to end", func() bool { return a.Lag() == nil })
	if err := ack(ctx); err != nil {
		t.Fatalf("ack during revoke: %v", err)
	}
	last := batch[len(batch)-1].Origin.Offset
	if got := testenv.CommittedOffsets(t, addr, group, topic, 1); got[0] != last+1 {
		t.Errorf("committed offset %d, want %d (the batch acked during the revoke)", got[0], last+1)
	}
	if a.Stats.LateAcks.Load() != 0 {
		t.Errorf("the ack within revoke_timeout counted as late")
	}
}

func saslConfig(t *testing.T, password string) (ingest.KafkaConfig, *kafka.Dialer) {
	addr, user, real := testenv.KafkaSASL(t)
	if password == "" {
		password = real
	}
	cfg := fastGroup(addr, testenv.UniqueName(t, "vigil-group-"))
	cfg.SASL = kafkaconn.SASL{Mechanism: "plain", Username: user, Password: password}
	dialer, err := cfg.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	return cfg, dialer
}

func TestKafkaIntegrationSASLPlain(t *testing.T) {
	t.Parallel()
	cfg, dialer := saslConfig(t, "")
	topic := testenv.CreateTopicWith(t, dialer, cfg.Brokers[0], 2)
	cfg.Topics = []ingest.KafkaTopic{{Name: topic, Tenant: "acme"}}
	// Produce through the plaintext listener of the same broker; consume and commit through SASL.
	produce(t, testenv.Kafka(t), topic, jsonEvents(topic, 0, 100, "")...)
	src := newSource(t, cfg)
	sink := newRecordingSink("sasl")
	p := startPipeline(src, sink, nil)
	waitFor(t, 60*time.Second, "100 events over SASL", func() bool { return len(sink.ids()) == 100 })
	p.stop(t)
	if got := src.Stats.Commits.Load(); got == 0 {
		t.Error("no commit over SASL")
	}
}

func TestKafkaIntegrationSASLWrongPassword(t *testing.T) {
	t.Parallel()
	cfg, _ := saslConfig(t, "not-the-password")
	cfg.Topics = []ingest.KafkaTopic{{Name: "any", Tenant: "acme"}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	_, err := ingest.NewKafka(ctx, "kafka", cfg, ingest.KafkaOptions{})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "SASL authentication failed") || !strings.Contains(err.Error(), cfg.SASL.Username) {
		t.Fatalf("NewKafka with a wrong password: err = %v, want a SASL authentication error naming the user", err)
	}
	if took > 15*time.Second {
		t.Errorf("the wrong password was reported after %s, want at start-up within the connect timeout", took)
	}
	_, err = sinks.NewKafkaDeadLetter(ctx, sinks.KafkaDeadLetterConfig{Config: cfg.Config, Topic: "any"}, nil)
	if err == nil || !strings.Contains(err.Error(), "SASL authentication failed") {
		t.Errorf("NewKafkaDeadLetter with a wrong password: err = %v, want a SASL authentication error", err)
	}
	t.Logf("refused in %s: %v", took.Round(time.Millisecond), err)
}

type nopDetector struct{}

func (nopDetector) Detect(_ *vigil.Event, dst []*vigil.Alert) []*vigil.Alert { return dst }

// BenchmarkKafkaSource measures the Kafka source alone (fetch, decode, tenant, batch, commit) through the pipeline
// with no rules: the ceiling that Kafka ingestion puts on Vigil.
//
//	testenv/run -- go test -tags integration -run '^$' -bench KafkaSource -benchtime 1x ./ingest
func BenchmarkKafkaSource(b *testing.B) {
	addr := testenv.Kafka(b)
	const total = 200000
	topic := testenv.CreateTopic(b, addr, 3)
	var msgs []kafka.Message
	for i := 0; i < total; i++ {
		v := fmt.Sprintf(`{"@timestamp":"2026-03-01T00:00:00Z","event":{"id":"e-%d","category":["process"],"type":["start"]},`+
			`"host":{"name":"host-%d","ip":["10.0.0.%d"]},"process":{"name":"bash","pid":%d,"command_line":"/bin/bash -c true"},`+
			`"user":{"name":"u%d"}}`, i, i%50, i%250, i, i%20)
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(v)})
	}
	for i := 0; i < total; i += 20000 {
		produceB(b, addr, topic, msgs[i:i+20000])
	}
	cfg := fastGroup(addr, testenv.UniqueName(b, "vigil-bench-"), ingest.KafkaTopic{Name: topic, Tenant: "acme"})
	cfg.BatchSize = 1000
	b.ResetTimer()
	start := time.Now()
	k, err := ingest.NewKafka(context.Background(), "bench", cfg, ingest.KafkaOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	ctx, cancel := context.WithCancel(context.Background())
	p := &vigil.Pipeline{Source: k, Detector: nopDetector{}, Sink: newRecordingSink("nop"), MaxInFlight: 4}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for p.Stats.Acked.Load() < total {
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(total)/took.Seconds(), "events/s")
	b.Logf("%d events in %s (with the group join): %.0f events/s, %d commits", total, took.Round(time.Millisecond),
		float64(total)/took.Seconds(), k.Stats.Commits.Load())
}

func produceB(b *testing.B, addr, topic string, msgs []kafka.Message) {
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond,
		BatchSize: 2000, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		b.Fatalf("produce: %.300s", err)
	}
}

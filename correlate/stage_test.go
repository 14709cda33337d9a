package correlate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/rules"
)

// memSink keeps the last version of every alert written, like an index does with Update alerts.
type memSink struct {
	mu     sync.Mutex
	last   map[string]*vigil.Alert
	writes int
	// block, when set, makes every write after the first `block` ones wait for its context.
	block int
}

func newMemSink() *memSink { return &memSink{last: map[string]*vigil.Alert{}} }

func (s *memSink) Write(ctx context.Context, alerts []*vigil.Alert) error {
	s.mu.Lock()
	if s.block > 0 && s.writes >= s.block {
		s.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	defer s.mu.Unlock()
	s.writes++
	for _, a := range alerts {
		s.last[a.ID] = a
	}
	return nil
}

func (s *memSink) Close() error { return nil }

// outcome describes alerts by id: rule, final count and window, as an analyst sees them in the index.
func (s *memSink) outcome() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return stageOutcome(s.last)
}

func stageOutcome(alerts map[string]*vigil.Alert) map[string]string {
	out := map[string]string{}
	for id, a := range alerts {
		out[id] = fmt.Sprint(a.RuleID, " ", vigil.Get(a.Doc, "vigil", "correlation", "count"), " ",
			vigil.Get(a.Doc, "vigil", "correlation", "window"))
	}
	return out
}

// inProcessOutcome is what InProcess gives for the records, in order, decided to the end: the last version of
// every alert that is written (not Internal).
func inProcessOutcome(set *rules.RuleSet, cfg Config, recs []Record) map[string]string {
	p := New(set, cfg).NewPartition(nil)
	for i := range recs {
		p.Add(&recs[i])
	}
	a1, _ := p.Advance()
	a2, _ := p.Flush()
	last := map[string]*vigil.Alert{}
	for _, a := range append(a1, a2...) {
		if !a.Internal {
			last[a.ID] = a
		}
	}
	return stageOutcome(last)
}

// fakeClock is the engine's processing time in a test.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func newClock() *fakeClock               { c := &fakeClock{}; c.ns.Store(time.Now().UnixNano()); return c }
func engineAt(set *rules.RuleSet, c *fakeClock) *Engine {
	e := New(set, Config{})
	e.now = c.now
	return e
}

// runningStage is a Stage running in the background.
type runningStage struct {
	s      *Stage
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func startStage(t *testing.T, pub *Publisher, opts StageOptions) *runningStage {
	t.Helper()
	if opts.IdleInterval == 0 {
		opts.IdleInterval = 50 * time.Millisecond
	}
	s, err := NewStage(pub, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningStage{s: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		if err := r.wait(); err != nil {
			t.Errorf("stage stopped with %v", err)
		}
	})
	return r
}

// wait cancels the stage and returns what Run returned.
func (r *runningStage) wait() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(30 * time.Second):
			r.err = errors.New("the stage did not stop within 30s")
		}
		r.s.Close()
	})
	return r.err
}

// stop stops the stage, which must end cleanly.
func (r *runningStage) stop(t *testing.T) {
	t.Helper()
	if err := r.wait(); err != nil {
		t.Fatalf("stage stopped with %v", err)
	}
}

func eventually(t *testing.T, what string, cond func() bool, state func() string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s; %s", what, state())
		}
	}
}

// committed returns the group's committed offsets of the topic's partitions (-1: none).
func committed(t *testing.T, addr, group, topic string, partitions int) []int64 {
	t.Helper()
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := (&kafka.Client{Addr: kafka.TCP(addr)}).OffsetFetch(ctx,
		&kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, partitions)
	for _, p := range res.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

func flatten(batches [][]Record) []Record {
	var out []Record
	for _, b := range batches {
		out = append(out, b...)
	}
	return out
}

// TestStageMatchesInProcess: match records published in two halves, the stage stopped in between and a new one
// (with a new engine) restoring the state from the changelog, give the alerts the in-process engine gives for the
// same records: the same ids, the same final counts and windows. Windows left open at the end are closed by the clock
// (idle_timeout) in the stage and by Flush in-process.
func TestStageMatchesInProcess(t *testing.T) {
	_, addr := fakeKafka(t)
	set := testSet(t, chain)
	batches := workload()
	half := len(batches) / 2
	want := inProcessOutcome(set, Config{}, flatten(batches))
	if len(want) < 5 {
		t.Fatalf("the workload gives %d alerts; want several of each correlation", len(want))
	}
	sink := newMemSink()
	cfg := fakeConfig(addr, 4)
	clock := newClock()

	pub := newPublisher(t, cfg, engineAt(set, clock))
	for _, b := range batches[:half] {
		if err := pub.publish(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	first := startStage(t, pub, StageOptions{Sink: sink})
	if err := first.s.Ready(); err == nil {
		t.Error("Ready before joining the group: got nil, want an error")
	}
	n := int64(len(flatten(batches[:half])))
	eventually(t, "first stage consumes the first half", func() bool { return first.s.Stats.Records.Load() == n },
		func() string { return fmt.Sprint(first.s.Stats.Records.Load(), " of ", n) })
	if err := first.s.Ready(); err != nil {
		t.Errorf("Ready while running: %v", err)
	}
	first.stop(t)
	if got := sink.outcome(); len(got) == 0 || len(got) >= len(want) {
		t.Fatalf("after the first half: %d alerts, want some of the %d", len(got), len(want))
	}

	second := startStage(t, newPublisher(t, cfg, engineAt(set, clock)), StageOptions{Sink: sink})
	for _, b := range batches[half:] {
		if err := pub.publish(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	total := int64(len(flatten(batches)))
	eventually(t, "second stage consumes the second half",
		func() bool { return second.s.Stats.Records.Load() >= total-n },
		func() string { return fmt.Sprint(second.s.Stats.Records.Load(), " of ", total-n) })
	if second.s.Stats.RestoredRecords.Load() == 0 {
		t.Error("the second stage restored nothing from the changelog")
	}
	clock.add(24 * time.Hour) // idle: every watermark follows the clock past every window
	eventually(t, "alerts equal in-process", func() bool { return maps.Equal(sink.outcome(), want) },
		func() string { return fmt.Sprintf("got %v\nwant %v", sorted(sink.outcome()), sorted(want)) })
	second.stop(t)
	if got := committed(t, addr, "g", "m", 4); fmt.Sprint(got) != fmt.Sprint(partitionEnds(t, addr, "m", 4)) {
		t.Errorf("committed %v, want the ends of the partitions %v", got, partitionEnds(t, addr, "m", 4))
	}
}

func partitionEnds(t *testing.T, addr, topic string, partitions int) []int64 {
	t.Helper()
	out := make([]int64, partitions)
	for p := range partitions {
		conn, err := kafka.DialLeader(context.Background(), "tcp", addr, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		_, out[p], err = conn.ReadOffsets()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestStageAbandonedBatchIsRedone: a stage whose sink hangs is stopped; its batch is neither checkpointed nor
// committed, and the next stage, restored from the older checkpoint, processes it again: no alert is lost.
func TestStageAbandonedBatchIsRedone(t *testing.T) {
	_, addr := fakeKafka(t)
	set := testSet(t, chain)
	batches := workload()
	recs := flatten(batches)
	want := inProcessOutcome(set, Config{}, recs)
	cfg := fakeConfig(addr, 2)
	clock := newClock()
	pub := newPublisher(t, cfg, engineAt(set, clock))
	sink := newMemSink()
	sink.block = 3 // the fourth write hangs
	first := startStage(t, pub, StageOptions{Sink: sink, DrainTimeout: 200 * time.Millisecond})
	for _, b := range batches {
		if err := pub.publish(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the sink hangs", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return sink.writes >= 3
	}, func() string { return "" })
	time.Sleep(100 * time.Millisecond)
	if err := first.wait(); err != nil {
		t.Fatalf("first stage: got %v, want a clean stop (the abandoned batch is not an error)", err)
	}
	if first.s.Stats.Abandoned.Load() == 0 {
		t.Error("no batch abandoned")
	}
	sink.mu.Lock()
	sink.block = 0
	sink.mu.Unlock()
	second := startStage(t, newPublisher(t, cfg, engineAt(set, clock)), StageOptions{Sink: sink})
	eventually(t, "second stage consumes the rest", func() bool {
		return fmt.Sprint(committed(t, addr, "g", "m", 2)) == fmt.Sprint(partitionEnds(t, addr, "m", 2))
	}, func() string { return fmt.Sprint(committed(t, addr, "g", "m", 2)) })
	clock.add(24 * time.Hour)
	eventually(t, "alerts equal in-process", func() bool { return maps.Equal(sink.outcome(), want) },
		func() string { return fmt.Sprintf("got %v\nwant %v", sorted(sink.outcome()), sorted(want)) })
	second.stop(t)
}

// TestStageCheckpointFailureIsRedone: when the changelog stops accepting checkpoints, the batch is neither committed
// nor counted as done; after a stop, the next stage restores the last checkpoint that was written and processes the
// batch again: no alert is lost (a commit before the checkpoint would lose the batch's matches).
func TestStageCheckpointFailureIsRedone(t *testing.T) {
	cluster, addr := fakeKafka(t)
	var checkpoints, failAfter atomic.Int64
	failAfter.Store(5)
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		for _, topic := range req.(*kmsg.ProduceRequest).Topics {
			if topic.Topic == "m-state" && checkpoints.Add(1) > failAfter.Load() {
				return nil, errors.New("changelog unavailable"), true // the connection is closed: the write fails
			}
		}
		return nil, nil, false
	})
	set := testSet(t, chain)
	batches := workload()
	want := inProcessOutcome(set, Config{}, flatten(batches))
	cfg := fakeConfig(addr, 2)
	clock := newClock()
	pub := newPublisher(t, cfg, engineAt(set, clock))
	sink := newMemSink()
	first := startStage(t, pub, StageOptions{Sink: sink, DrainTimeout: 300 * time.Millisecond})
	for _, b := range batches {
		if err := pub.publish(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "checkpoints fail", func() bool { return first.s.cl.retries.Load() > 0 }, func() string { return "" })
	if err := first.wait(); err != nil {
		t.Fatalf("first stage: got %v, want a clean stop", err)
	}
	if first.s.Stats.Abandoned.Load() == 0 {
		t.Error("no batch abandoned")
	}
	failAfter.Store(1 << 40)
	second := startStage(t, newPublisher(t, cfg, engineAt(set, clock)), StageOptions{Sink: sink})
	eventually(t, "second stage consumes the rest", func() bool {
		return fmt.Sprint(committed(t, addr, "g", "m", 2)) == fmt.Sprint(partitionEnds(t, addr, "m", 2))
	}, func() string { return fmt.Sprint(committed(t, addr, "g", "m", 2)) })
	clock.add(24 * time.Hour)
	eventually(t, "alerts equal in-process", func() bool { return maps.Equal(sink.outcome(), want) },
		func() string { return fmt.Sprintf("got %v\nwant %v", sorted(sink.outcome()), sorted(want)) })
	second.stop(t)
}

// TestStageRebalance: a second stage joins the group mid-run; partitions move, their new owner restores them from
// the changelog, and together they give the in-process alerts.
func TestStageRebalance(t *testing.T) {
	_, addr := fakeKafka(t)
	set := testSet(t, chain)
	batches := workload()
	want := inProcessOutcome(set, Config{}, flatten(batches))
	cfg := fakeConfig(addr, 4)
	clock := newClock()
	sink := newMemSink()
	pub := newPublisher(t, cfg, engineAt(set, clock))
	a := startStage(t, pub, StageOptions{Sink: sink})
	third := len(batches) / 3
	for _, b := range batches[:third] {
		if err := pub.publish(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "first stage consumes a third", func() bool { return a.s.Stats.Records.Load() >= int64(len(flatten(batches[:third]))) },
		func() string { return fmt.Sprint(a.s.Stats.Records.Load()) })
	b := startStage(t, newPublisher(t, cfg, engineAt(set, clock)), StageOptions{Sink: sink})
	for i, batch := range batches[third:] {
		if err := pub.publish(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	eventually(t, "both own partitions", func() bool { return len(a.s.partitions()) > 0 && len(b.s.partitions()) > 0 },
		func() string { return fmt.Sprint(len(a.s.partitions()), len(b.s.partitions())) })
	eventually(t, "all consumed", func() bool {
		return fmt.Sprint(committed(t, addr, "g", "m", 4)) == fmt.Sprint(partitionEnds(t, addr, "m", 4))
	}, func() string { return fmt.Sprint(committed(t, addr, "g", "m", 4)) })
	if b.s.Stats.RestoredRecords.Load() == 0 {
		t.Error("the second stage restored nothing: its partitions' state did not move with them")
	}
	clock.add(24 * time.Hour)
	eventually(t, "alerts equal in-process", func() bool { return maps.Equal(sink.outcome(), want) },
		func() string { return fmt.Sprintf("got %v\nwant %v", sorted(sink.outcome()), sorted(want)) })
}

// deadLetters records what is parked.
type deadLetters struct {
	mu      sync.Mutex
	letters []vigil.DeadLetter
}

func (d *deadLetters) Park(_ context.Context, l []vigil.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.letters = append(d.letters, l...)
	return nil
}

func (d *deadLetters) Close() error { return nil }

// TestStageUndecodableRecord: a record that is not a match record is dead-lettered with reason decode and counted;
// the records around it are processed and the offset moves past it. The metrics show the stage's work.
func TestStageUndecodableRecord(t *testing.T) {
	_, addr := fakeKafka(t)
	set := testSet(t, bruteForce)
	cfg := fakeConfig(addr, 1)
	clock := newClock()
	pub := newPublisher(t, cfg, engineAt(set, clock))
	var recs []Record
	for i := range 6 {
		recs = append(recs, Record{Tenant: "acme", Rule: "brute", Input: "fail", AlertID: fmt.Sprintf("%032x", i+1),
			Time: t0.Add(time.Duration(i) * time.Second), Group: []string{"bob"}})
	}
	if err := pub.publish(context.Background(), recs[:3]); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "m", BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte("k"), Value: []byte("not a record")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := pub.publish(context.Background(), recs[3:]); err != nil {
		t.Fatal(err)
	}
	dl := &deadLetters{}
	sink := newMemSink()
	s := startStage(t, pub, StageOptions{Sink: sink, DeadLetters: dl})
	eventually(t, "all committed", func() bool { return committed(t, addr, "g", "m", 1)[0] == 7 },
		func() string { return fmt.Sprint(committed(t, addr, "g", "m", 1)) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.s.Collector(), s.s.e.Collector(), pub.Collector())
	for name, want := range map[string]float64{
		"vigil_correlation_stage_records_total":             7,
		"vigil_correlation_stage_undecodable_records_total": 1,
		"vigil_correlation_matches_published_total":         6,
		"vigil_correlation_open_groups":                     1,
	} {
		if got := gathered(t, reg, name); got != want {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	if lag := gathered(t, reg, "vigil_correlation_watermark_lag_seconds"); lag < 3600 {
		t.Errorf("watermark lag: got %vs, want more than an hour (the events are of %s)", lag, t0)
	}
	if size := gathered(t, reg, "vigil_correlation_state_bytes"); size <= 0 {
		t.Errorf("state bytes: got %v, want some", size)
	}
	clock.add(time.Hour)
	eventually(t, "the brute force alert", func() bool { return len(sink.outcome()) == 1 },
		func() string { return fmt.Sprint(sink.outcome()) })
	for _, o := range sink.outcome() {
		if !strings.HasPrefix(o, "brute 6 ") {
			t.Errorf("alert: got %s, want brute with count 6", o)
		}
	}
	dl.mu.Lock()
	if len(dl.letters) != 1 || dl.letters[0].Reason != "decode" || string(dl.letters[0].Payload) != "not a record" ||
		dl.letters[0].Origin.Offset != 3 {
		t.Errorf("dead letters: got %+v, want the record at offset 3 with reason decode", dl.letters)
	}
	dl.mu.Unlock()
	if got := gathered(t, reg, "vigil_correlation_stage_alerts_written_total"); got != 1 {
		t.Errorf("alerts written: got %v, want 1", got)
	}
}

// gathered returns the value of a metric without labels.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not gathered", name)
	return 0
}

// TestStageChainsAcrossPartitions: a correlation over another one that groups by fewer fields gets its matches from
// other partitions: the stage publishes them to the match topic and the partition of the next group raises the alert.
func TestStageChainsAcrossPartitions(t *testing.T) {
	_, addr := fakeKafka(t)
	set := testSet(t, `
id: brute_ip
name: brute force from one address
severity: medium
correlation:
  type: event_count
  rules: [fail]
  group_by: [user.name, source.ip]
  timespan: 5m
  condition: {gte: 3}
---
id: distributed
name: brute force from several addresses
severity: high
correlation:
  type: event_count
  rules: [brute_ip]
  group_by: [user.name]
  timespan: 10m
  condition: {gte: 2}
`)
	const partitions = 4
	ips := []string{}
	for i := 0; len(ips) < 2; i++ { // two addresses whose groups are on other partitions than bob's
		ip := fmt.Sprint("10.0.0.", i)
		p := PartitionOf((&Record{Tenant: "acme", Group: []string{"bob", ip}}).Key(), partitions)
		if p != PartitionOf((&Record{Tenant: "acme", Group: []string{"bob"}}).Key(), partitions) {
			ips = append(ips, ip)
		}
	}
	var recs []Record
	for i := range 6 {
		recs = append(recs, Record{Tenant: "acme", Rule: "brute_ip", Input: "fail", AlertID: fmt.Sprintf("%032x", i+1),
			Time: t0.Add(time.Duration(i) * time.Second), Group: []string{"bob", ips[i%2]}})
	}
	clock := newClock()
	pub := newPublisher(t, fakeConfig(addr, partitions), engineAt(set, clock))
	if err := pub.publish(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	sink := newMemSink()
	s := startStage(t, pub, StageOptions{Sink: sink})
	eventually(t, "records consumed", func() bool { return s.s.Stats.Records.Load() == 6 },
		func() string { return fmt.Sprint(s.s.Stats.Records.Load()) })
	clock.add(time.Hour) // bob's bursts from each address end: their alerts go to bob's partition
	eventually(t, "chained records consumed", func() bool { return s.s.Stats.Records.Load() == 8 },
		func() string {
			return fmt.Sprint(s.s.Stats.Records.Load(), " chains published ", s.s.Stats.ChainsPublished.Load())
		})
	clock.add(time.Hour) // and there the clock closes the window
	eventually(t, "the chained alert", func() bool {
		for _, o := range sink.outcome() {
			if strings.HasPrefix(o, "distributed 2 ") {
				return true
			}
		}
		return false
	}, func() string {
		return fmt.Sprint(sink.outcome(), " chains published ", s.s.Stats.ChainsPublished.Load())
	})
	if n := s.s.Stats.ChainsPublished.Load(); n != 2 {
		t.Errorf("chained records published: got %d, want 2 (one per address)", n)
	}
}

package vigil_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
)

// fakeSource yields numbered batches of events and records the order of acks.
type fakeSource struct {
	mu      sync.Mutex
	batches [][]*vigil.Event
	next    int
	reads   int
	acked   []int
	block   bool // after the batches, block until ctx ends instead of io.EOF
}

func newFakeSource(nBatches, perBatch int) *fakeSource {
	s := &fakeSource{}
	for b := range nBatches {
		var evs []*vigil.Event
		for i := range perBatch {
			evs = append(evs, &vigil.Event{Fields: fields.MustFromMap(map[string]any{"batch": b, "i": i}), Tenant: "t",
				Raw: []byte(strconv.Itoa(b*1000 + i))})
		}
		s.batches = append(s.batches, evs)
	}
	return s
}

func (s *fakeSource) Read(ctx context.Context) ([]*vigil.Event, vigil.AckFunc, error) {
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	s.mu.Lock()
	s.reads++
	if s.next >= len(s.batches) {
		s.mu.Unlock()
		if s.block {
			<-ctx.Done()
			return nil, nil, ctx.Err()
		}
		return nil, nil, io.EOF
	}
	n := s.next
	s.next++
	s.mu.Unlock()
	return s.batches[n], func(context.Context) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.acked = append(s.acked, n)
		return nil
	}, nil
}

func (s *fakeSource) Close() error { return nil }

func (s *fakeSource) ackedBatches() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acked)
}

// everyEvent raises one alert per event.
type everyEvent struct{}

func (everyEvent) Detect(ev *vigil.Event, dst []*vigil.Alert) []*vigil.Alert {
	return append(dst, &vigil.Alert{ID: string(ev.Raw), Tenant: ev.Tenant, Doc: map[string]any{"batch": ev.Fields.Get("batch").Int()}, Event: ev})
}

// slowSink delays each write by a per-batch duration, fails when told, and records the alerts it stored.
type slowSink struct {
	mu     sync.Mutex
	delay  func(batch int64) time.Duration
	fail   func(batch int64) error
	stored []*vigil.Alert
}

func (s *slowSink) Write(ctx context.Context, alerts []*vigil.Alert) error {
	b := alerts[0].Doc["batch"].(int64)
	if s.delay != nil {
		select {
		case <-time.After(s.delay(b)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.fail != nil {
		if err := s.fail(b); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored = append(s.stored, alerts...)
	return nil
}

func (s *slowSink) Close() error { return nil }

type memDLQ struct {
	mu      sync.Mutex
	letters []vigil.DeadLetter
}

func (q *memDLQ) Park(_ context.Context, l []vigil.DeadLetter) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.letters = append(q.letters, l...)
	return nil
}

func (q *memDLQ) Close() error { return nil }

func TestPipelineAcksInReadOrder(t *testing.T) {
	src := newFakeSource(20, 50)
	// Even batches are slow, so odd ones finish first; acks must still come in read order.
	sink := &slowSink{delay: func(b int64) time.Duration { return time.Duration(b%2) * 20 * time.Millisecond }}
	p := &vigil.Pipeline{Source: src, Detector: everyEvent{}, Sink: sink, MaxInFlight: 4, Workers: 3}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := make([]int, 20)
	for i := range want {
		want[i] = i
	}
	if got := src.ackedBatches(); !slices.Equal(got, want) {
		t.Errorf("ack order: got %v, want %v", got, want)
	}
	if len(sink.stored) != 1000 || p.Stats.Alerts.Load() != 1000 || p.Stats.Acked.Load() != 1000 {
		t.Errorf("got %d stored, %d alerts, %d acked; want 1000 each", len(sink.stored), p.Stats.Alerts.Load(), p.Stats.Acked.Load())
	}
}

// TestPipelineReleasesFinishedBatches: once a batch is written, the pipeline releases its events' field trees for
// reuse, and only then: the sink still reads them (through the alerts) while it writes.
func TestPipelineReleasesFinishedBatches(t *testing.T) {
	src := newFakeSource(5, 10)
	sink := &treeReadingSink{}
	p := &vigil.Pipeline{Source: src, Detector: everyEvent{}, Sink: sink, MaxInFlight: 2, Workers: 2}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := sink.read.Load(); n != 50 {
		t.Errorf("the sink read %d events' fields while writing, want 50", n)
	}
	for _, batch := range src.batches {
		for _, ev := range batch {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("event %s: its fields were not released after its batch was written", ev.Raw)
					}
				}()
				ev.Fields.Get("batch")
			}()
		}
	}
}

// treeReadingSink reads each alert's event fields while it writes.
type treeReadingSink struct{ read atomic.Int64 }

func (s *treeReadingSink) Write(_ context.Context, alerts []*vigil.Alert) error {
	for _, a := range alerts {
		if a.Event.Fields.Get("i").Exists() {
			s.read.Add(1)
		}
	}
	return nil
}

func (s *treeReadingSink) Close() error { return nil }

func TestPipelineStopsAckingAfterAFailedBatch(t *testing.T) {
	src := newFakeSource(10, 5)
	boom := errors.New("index closed")
	sink := &slowSink{fail: func(b int64) error {
		if b == 3 {
			return boom
		}
		return nil
	}}
	p := &vigil.Pipeline{Source: src, Detector: everyEvent{}, Sink: sink, MaxInFlight: 2}
	err := p.Run(context.Background())
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the sink's error", err)
	}
	if got := src.ackedBatches(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("acked: got %v, want [0 1 2]: nothing at or after the failed batch", got)
	}
}

func TestPipelineDeadLettersInvalidEvents(t *testing.T) {
	src := newFakeSource(1, 3)
	src.batches[0][1].Invalid = "decode: not a JSON object"
	sink, dlq := &slowSink{}, &memDLQ{}
	p := &vigil.Pipeline{Source: src, Detector: everyEvent{}, Sink: sink, DeadLetters: dlq}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(dlq.letters) != 1 || dlq.letters[0].Reason != "decode" || string(dlq.letters[0].Payload) != "1" {
		t.Errorf("dead letters: got %+v, want one with reason decode and the raw payload", dlq.letters)
	}
	if len(sink.stored) != 2 || p.Stats.Invalid.Load() != 1 || p.Stats.Acked.Load() != 3 {
		t.Errorf("got %d stored, %d invalid, %d acked; want 2, 1, 3", len(sink.stored), p.Stats.Invalid.Load(), p.Stats.Acked.Load())
	}
}

func TestPipelineWithoutDeadLetterQueueDoesNotAckInvalidEvents(t *testing.T) {
	src := newFakeSource(1, 2)
	src.batches[0][0].Invalid = "tenant: unknown tenant"
	p := &vigil.Pipeline{Source: src, Detector: everyEvent{}, Sink: &slowSink{}}
	if err := p.Run(context.Background()); err == nil || len(src.ackedBatches()) != 0 {
		t.Errorf("got err %v and acks %v, want an error and no ack", err, src.ackedBatches())
	}
}

type failingEnricher struct{}

func (failingEnricher) Name() string { return "geoip" }
func (failingEnricher) Enrich(context.Context, *vigil.Alert) error {
	return errors.New("database not loaded")
}

func TestPipelineEnrichmentFailsOpen(t *testing.T) {
	src := newFakeSource(1, 1)
	sink := &slowSink{}
	p := &vigil.Pipeline{Source: src, Detector: everyEvent{}, Sink: sink, Enrichers: []vigil.Enricher{failingEnricher{}}}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.stored) != 1 {
		t.Fatalf("got %d alerts stored, want 1", len(sink.stored))
	}
	v := sink.stored[0].Doc["vigil"].(map[string]any)["enrichment"].(map[string]any)["skipped"]
	if !slices.Equal(v.([]any), []any{"geoip"}) {
		t.Errorf("vigil.enrichment.skipped: got %v, want [geoip]", v)
	}
}

func TestPipelineBackpressureAndDrain(t *testing.T) {
	src := newFakeSource(50, 2)
	src.block = true
	release := make(chan struct{})
	sink := &slowSink{delay: func(int64) time.Duration { <-release; return 0 }}
	p := &vigil.Pipeline{Source: src, Detector: everyEvent{}, Sink: sink, MaxInFlight: 3}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(200 * time.Millisecond)
	src.mu.Lock()
	reads := src.reads
	src.mu.Unlock()
	// With the sink stuck: MaxInFlight batches queued, one held by the acker, one blocked on the queue.
	if reads > 3+2 {
		t.Errorf("with a stuck sink the pipeline read %d batches, want at most 5", reads)
	}
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("after cancel: %v", err)
	}
	if got := len(src.ackedBatches()); got != src.next || got < reads {
		t.Errorf("after a graceful stop: %d batches acked, want all %d that were read", got, src.next)
	}
}

// versionCorrelator checks it sees batches in read order, marks odd events' alerts internal, and returns for each
// batch a new version of one growing alert; Flush returns one more alert.
type versionCorrelator struct {
	mu      sync.Mutex
	batches []int
	flushed bool
}

func (c *versionCorrelator) Correlate(_ context.Context, alerts []*vigil.Alert) ([]*vigil.Alert, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := alerts[0].Doc["batch"].(int64)
	c.batches = append(c.batches, int(b))
	for i, a := range alerts {
		a.Internal = i%2 == 1
	}
	return []*vigil.Alert{{ID: "grows", Tenant: "t", Update: true, Doc: map[string]any{"version": b}}}, nil
}

func (c *versionCorrelator) Flush(context.Context) ([]*vigil.Alert, error) {
	c.flushed = true
	return []*vigil.Alert{{ID: "closed", Tenant: "t", Doc: map[string]any{}}}, nil
}

// orderSink records the alerts in the order they are stored; the write of the first batch's version is slow.
type orderSink struct {
	mu     sync.Mutex
	stored []*vigil.Alert
}

func (s *orderSink) Write(_ context.Context, alerts []*vigil.Alert) error {
	if slices.ContainsFunc(alerts, func(a *vigil.Alert) bool { return a.ID == "grows" && a.Doc["version"] == int64(0) }) {
		time.Sleep(100 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored = append(s.stored, alerts...)
	return nil
}

func (s *orderSink) Close() error { return nil }

func TestPipelineCorrelator(t *testing.T) {
	src := newFakeSource(6, 4)
	corr := &versionCorrelator{}
	sink := &orderSink{}
	p := &vigil.Pipeline{Source: src, Detector: everyEvent{}, Correlator: corr, Sink: sink, MaxInFlight: 4}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 2, 3, 4, 5}; !slices.Equal(corr.batches, want) {
		t.Errorf("correlator saw batches %v, want %v (read order)", corr.batches, want)
	}
	var versions []int64
	events, internal := 0, 0
	for _, a := range sink.stored {
		switch a.ID {
		case "grows":
			versions = append(versions, a.Doc["version"].(int64))
		case "closed":
		default:
			events++
		}
		internal += map[bool]int{true: 1}[a.Internal]
	}
	if want := []int64{0, 1, 2, 3, 4, 5}; !slices.Equal(versions, want) {
		t.Errorf("the growing alert's versions were stored in the order %v, want %v: a rewrite overtook an older one",
			versions, want)
	}
	if events != 12 || internal != 0 {
		t.Errorf("got %d event alerts stored (%d internal), want 12 of 24 (the internal ones are not written)", events, internal)
	}
	if !corr.flushed || sink.stored[len(sink.stored)-1].ID != "closed" {
		t.Errorf("the correlator was not flushed at the end of the source, or its alerts were not written last")
	}
	if got := src.ackedBatches(); len(got) != 6 {
		t.Errorf("acked %v, want all 6 batches", got)
	}
}

// orderCorrelator records the ids of the alerts it is handed, in order.
type orderCorrelator struct{ ids []string }

func (c *orderCorrelator) Correlate(_ context.Context, alerts []*vigil.Alert) ([]*vigil.Alert, error) {
	for _, a := range alerts {
		c.ids = append(c.ids, a.ID)
	}
	return nil, nil
}

func (c *orderCorrelator) Flush(context.Context) ([]*vigil.Alert, error) { return nil, nil }

// TestPipelineCorrelatorSeesReadOrder: however the workers share a batch, the Correlator gets its alerts in the order
// of their events, since whether a match is late depends on the matches before it.
func TestPipelineCorrelatorSeesReadOrder(t *testing.T) {
	src := newFakeSource(5, 500)
	var want []string
	for _, b := range src.batches {
		for _, ev := range b {
			want = append(want, string(ev.Raw))
		}
	}
	corr := &orderCorrelator{}
	p := &vigil.Pipeline{Source: src, Detector: everyEvent{}, Correlator: corr, Sink: &orderSink{}, MaxInFlight: 2, Workers: 4}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(corr.ids, want) {
		t.Errorf("the correlator got %d alerts out of read order; first ids %v, want %v", len(corr.ids), corr.ids[:8], want[:8])
	}
}

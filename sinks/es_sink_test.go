package sinks

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
)

var (
	day1 = time.Date(2026, 11, 24, 9, 14, 3, 0, time.UTC)
	day2 = time.Date(2026, 11, 25, 23, 59, 59, 0, time.UTC)
)

// testAlert is a small alert of tenant, numbered i, for an event at t, created a minute later (so that it stays
// inside the event time window whatever the date the test runs).
func testAlert(tenant string, i int, t time.Time) *vigil.Alert {
	id := fmt.Sprintf("%s-%05d", tenant, i)
	return &vigil.Alert{ID: id, Tenant: tenant, RuleID: "test.rule", Time: t, Doc: map[string]any{
		"@timestamp": t.Add(time.Minute).UTC().Format(time.RFC3339Nano),
		"event":      map[string]any{"kind": "alert", "severity": int64(3), "risk_score": int64(73)},
		"rule":       map[string]any{"id": "test.rule", "name": "Test rule"},
		"source":     map[string]any{"ip": "203.0.113.9"},
		"vigil":      map[string]any{"alert": map[string]any{"id": id, "tenant": tenant, "severity": "high"}},
		"n":          int64(i),
	}, Event: &vigil.Event{Origin: vigil.Origin{Source: "test", File: "events.jsonl", Line: int64(i + 1)}}}
}

func testAlerts(tenant string, n int, t time.Time) []*vigil.Alert {
	out := make([]*vigil.Alert, n)
	for i := range out {
		out[i] = testAlert(tenant, i, t)
	}
	return out
}

// memDLQ is a dead-letter queue in memory.
type memDLQ struct {
	mu      sync.Mutex
	letters []vigil.DeadLetter
	err     error
}

func (q *memDLQ) Park(ctx context.Context, letters []vigil.DeadLetter) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.letters = append(q.letters, letters...)
	return nil
}

func (q *memDLQ) Close() error { return nil }

func (q *memDLQ) all() []vigil.DeadLetter {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]vigil.DeadLetter(nil), q.letters...)
}

// testConfig retries fast, so that fault tests take milliseconds.
func testConfig(urls ...string) ElasticsearchConfig {
	return ElasticsearchConfig{URLs: urls, RetryInitialBackoff: time.Millisecond, RetryMaxBackoff: 20 * time.Millisecond,
		RequestTimeout: 5 * time.Second, FlushInterval: ptr(time.Duration(0))}
}

func newTestSink(t testing.TB, cfg ElasticsearchConfig, dlq vigil.DeadLetterQueue) *Elasticsearch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := NewElasticsearch(ctx, cfg, dlq, nil)
	if err != nil {
		t.Fatalf("NewElasticsearch: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func write(t testing.TB, s *Elasticsearch, alerts []*vigil.Alert) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Write(ctx, alerts); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func TestElasticsearchStoresEachAlertOnceInItsDailyIndex(t *testing.T) {
	f := newFakeES(t)
	s := newTestSink(t, testConfig(f.URL), &memDLQ{})
	alerts := append(testAlerts("acme", 150, day1), testAlerts("globex", 50, day2)...)
	write(t, s, alerts)
	write(t, s, alerts) // a replay: every create answers 409

	if got := f.count(); got != 200 {
		t.Errorf("stored documents: got %d, want 200", got)
	}
	doc := f.doc("vigil-alerts-acme-2026.11.24", "acme-00007")
	if doc == nil {
		t.Fatalf("alert acme-00007 not in vigil-alerts-acme-2026.11.24")
	}
	if doc["n"] != float64(7) || docPath(doc, "vigil", "alert", "tenant") != "acme" {
		t.Errorf("stored document: got %v, want the alert document", doc)
	}
	if f.doc("vigil-alerts-globex-2026.11.25", "globex-00049") == nil {
		t.Errorf("alert globex-00049 not in vigil-alerts-globex-2026.11.25")
	}
	if got, want := s.Stats.Created.Load(), int64(200); got != want {
		t.Errorf("created: got %d, want %d", got, want)
	}
	if got, want := s.Stats.Duplicates.Load(), int64(200); got != want {
		t.Errorf("duplicates: got %d, want %d", got, want)
	}
}

func TestElasticsearchInstallsTheIndexTemplate(t *testing.T) {
	f := newFakeES(t)
	cfg := testConfig(f.URL)
	cfg.IndexPrefix = "soc-alerts"
	cfg.Replicas = ptr(0)
	newTestSink(t, cfg, nil)
	raw := f.template("soc-alerts")
	if raw == nil {
		t.Fatal("no index template soc-alerts installed")
	}
	var tmpl struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Aliases  map[string]any `json:"aliases"`
			Settings struct {
				Index map[string]any `json:"index"`
			} `json:"settings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(tmpl.IndexPatterns) != "[soc-alerts-*]" {
		t.Errorf("index_patterns: got %v, want [soc-alerts-*]", tmpl.IndexPatterns)
	}
	if _, ok := tmpl.Template.Aliases["soc-alerts"]; !ok || len(tmpl.Template.Aliases) != 1 {
		t.Errorf("aliases: got %v, want soc-alerts", tmpl.Template.Aliases)
	}
	if got := tmpl.Template.Settings.Index["number_of_replicas"]; got != float64(0) {
		t.Errorf("number_of_replicas: got %v, want 0", got)
	}
}

func TestElasticsearchItemFaults(t *testing.T) {
	tests := []struct {
		name       string
		reply      itemReply
		times      int // the fault answers this many attempts of each faulty item; 0: every attempt
		wantStored int
		wantDead   int
		wantReason string
	}{
		{"429 retried", itemReply{429, "es_rejected_execution_exception", "rejected execution of coordinating operation"}, 3, 20, 0, ""},
		{"503 retried", itemReply{503, "unavailable_shards_exception", "primary shard is not active"}, 2, 20, 0, ""},
		{"500 retried", itemReply{500, "exception", "boom"}, 1, 20, 0, ""},
		{"400 mapping conflict dead-lettered", itemReply{400, "document_parsing_exception", "[1:42] failed to parse field [source.port] of type [long]"}, 0, 15, 5, "mapping"},
		{"400 mapper parsing (OpenSearch, 7.x) dead-lettered", itemReply{400, "mapper_parsing_exception", "failed to parse field [x]"}, 0, 15, 5, "mapping"},
		{"404 other rejection dead-lettered", itemReply{404, "index_not_found_exception", "no such index"}, 0, 15, 5, "rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeES(t)
			f.itemFault = func(id string, doc map[string]any, attempt int) itemReply {
				if n := doc["n"].(float64); int(n)%4 == 0 && (tt.times == 0 || attempt <= tt.times) {
					return tt.reply
				}
				return itemReply{}
			}
			dlq := &memDLQ{}
			s := newTestSink(t, testConfig(f.URL), dlq)
			write(t, s, testAlerts("acme", 20, day1))
			if got := f.count(); got != tt.wantStored {
				t.Errorf("stored: got %d, want %d", got, tt.wantStored)
			}
			letters := dlq.all()
			if len(letters) != tt.wantDead {
				t.Fatalf("dead letters: got %d, want %d", len(letters), tt.wantDead)
			}
			if got := s.Stats.DeadLettered.Load(); got != int64(tt.wantDead) {
				t.Errorf("dead-lettered count: got %d, want %d", got, tt.wantDead)
			}
			for _, l := range letters {
				if l.Kind != "alert" || l.Reason != tt.wantReason || l.Tenant != "acme" {
					t.Errorf("dead letter: got kind %q reason %q tenant %q, want alert %q acme", l.Kind, l.Reason, l.Tenant, tt.wantReason)
				}
				if !strings.Contains(l.Detail, tt.reply.reason) || !strings.Contains(l.Detail, "vigil-alerts-acme-2026.11.24") {
					t.Errorf("dead letter detail: got %q, want the index and %q", l.Detail, tt.reply.reason)
				}
				var doc map[string]any
				if err := json.Unmarshal(l.Payload, &doc); err != nil || docPath(doc, "rule", "id") != "test.rule" {
					t.Errorf("dead letter payload: got %s (%v), want the alert document", l.Payload, err)
				}
				if l.Origin.File != "events.jsonl" {
					t.Errorf("dead letter origin: got %v, want the event's", l.Origin)
				}
			}
		})
	}
}

// TestElasticsearchDynamicMappingRace: an alert rejected because a concurrent request mapped the same new field
// with another type is sent again and stored; one that keeps being rejected so is dead-lettered in the end.
func TestElasticsearchDynamicMappingRace(t *testing.T) {
	race := itemReply{400, "illegal_argument_exception", "mapper [custom.n] cannot be changed from type [long] to [float]"}
	for _, tt := range []struct {
		times      int // rejections per alert
		wantStored int
	}{{1, 10}, {3, 10}, {100, 0}} {
		f := newFakeES(t)
		f.itemFault = func(id string, doc map[string]any, attempt int) itemReply {
			if attempt <= tt.times {
				return race
			}
			return itemReply{}
		}
		dlq := &memDLQ{}
		s := newTestSink(t, testConfig(f.URL), dlq)
		write(t, s, testAlerts("acme", 10, day1))
		if got := f.count(); got != tt.wantStored {
			t.Errorf("rejected %d times: stored %d, want %d", tt.times, got, tt.wantStored)
		}
		if got := len(dlq.all()); got != 10-tt.wantStored {
			t.Errorf("rejected %d times: %d dead letters, want %d", tt.times, got, 10-tt.wantStored)
		}
		for _, l := range dlq.all() {
			if l.Reason != "mapping" || !strings.Contains(l.Detail, "cannot be changed from type") {
				t.Errorf("dead letter: got %q %q, want reason mapping and the engine's message", l.Reason, l.Detail)
			}
		}
	}
}

func TestElasticsearchRetriesFailedRequests(t *testing.T) {
	tests := []struct {
		name  string
		fault fault
	}{
		{"429", fault{status: 429}},
		{"502", fault{status: 502}},
		{"503", fault{status: 503}},
		{"504", fault{status: 504}},
		{"500", fault{status: 500}},
		{"dropped connection", fault{drop: true}},
		{"slow response after storing", fault{delay: 400 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeES(t)
			f.requestFault = func(n int) fault {
				if n <= 3 {
					return tt.fault
				}
				return fault{}
			}
			cfg := testConfig(f.URL)
			cfg.RequestTimeout = 200 * time.Millisecond
			s := newTestSink(t, cfg, &memDLQ{})
			write(t, s, testAlerts("acme", 50, day1))
			if got := f.count(); got != 50 {
				t.Errorf("stored: got %d, want 50", got)
			}
			if got := s.Stats.RequestErrors.Load(); got != 3 {
				t.Errorf("failed requests: got %d, want 3", got)
			}
			if got := s.Stats.Created.Load() + s.Stats.Duplicates.Load(); got != 50 {
				t.Errorf("created + duplicates: got %d, want 50", got)
			}
		})
	}
}

// TestElasticsearchWriteWaitsWhileTheClusterIsDown: Write neither returns nor gives up while every request fails,
// and completes once the cluster answers again.
func TestElasticsearchWriteWaitsWhileTheClusterIsDown(t *testing.T) {
	f := newFakeES(t)
	var down atomic.Bool
	down.Store(true)
	f.requestFault = func(int) fault {
		if down.Load() {
			return fault{status: 503}
		}
		return fault{}
	}
	s := newTestSink(t, testConfig(f.URL), &memDLQ{})
	done := make(chan error, 1)
	go func() { done <- s.Write(context.Background(), testAlerts("acme", 30, day1)) }()
	select {
	case err := <-done:
		t.Fatalf("Write returned %v while the cluster was down, want it to wait", err)
	case <-time.After(500 * time.Millisecond):
	}
	if s.Stats.RequestErrors.Load() < 5 {
		t.Errorf("failed requests: got %d, want retries going on", s.Stats.RequestErrors.Load())
	}
	down.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Write did not return after the cluster came back")
	}
	if got := f.count(); got != 30 {
		t.Errorf("stored: got %d, want 30", got)
	}
}

// TestElasticsearchConnectionRefused: the cluster is not listening at first (the template is installed by an
// administrator), then starts on the same address.
func TestElasticsearchConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := testConfig("http://" + addr)
	cfg.InstallTemplate = ptr(false)
	s := newTestSink(t, cfg, &memDLQ{})
	done := make(chan error, 1)
	go func() { done <- s.Write(context.Background(), testAlerts("acme", 10, day1)) }()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Write returned %v with nothing listening, want it to wait", err)
	default:
	}
	f := &fakeES{t: t, product: true, docs: map[string]map[string]json.RawMessage{}, templates: map[string]json.RawMessage{}, seen: map[string]int{}}
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(f.serve)}}
	srv.Start()
	defer srv.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Write did not return after the cluster started")
	}
	if got := f.count(); got != 10 {
		t.Errorf("stored: got %d, want 10", got)
	}
}

func TestElasticsearchWriteGivesUpWhenCancelled(t *testing.T) {
	f := newFakeES(t)
	f.requestFault = func(int) fault { return fault{status: 503} }
	s := newTestSink(t, testConfig(f.URL), &memDLQ{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := s.Write(ctx, testAlerts("acme", 10, day1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write: got %v, want the context's error", err)
	}
}

func TestElasticsearchSplitsRequestsTheServerFindsTooLarge(t *testing.T) {
	f := newFakeES(t)
	f.maxBody = 3000
	dlq := &memDLQ{}
	s := newTestSink(t, testConfig(f.URL), dlq)
	alerts := testAlerts("acme", 40, day1)
	huge := testAlert("acme", 99, day1)
	huge.Doc["message"] = strings.Repeat("x", 5000)
	write(t, s, append(alerts, huge))
	if got := f.count(); got != 40 {
		t.Errorf("stored: got %d, want 40", got)
	}
	if l := dlq.all(); len(l) != 1 || l[0].Reason != "oversize" {
		t.Errorf("dead letters: got %+v, want the huge alert as oversize", l)
	}
}

func TestElasticsearchRespectsFlushBytes(t *testing.T) {
	f := newFakeES(t)
	cfg := testConfig(f.URL)
	cfg.FlushBytes = 4096
	s := newTestSink(t, cfg, nil)
	alerts := testAlerts("acme", 100, day1)
	write(t, s, alerts)
	size := 0
	for _, a := range alerts {
		b, _ := json.Marshal(a.Doc)
		size += len(b)
	}
	if min := size / 4096; f.bulkCount() < min {
		t.Errorf("bulk requests: got %d, want at least %d for %d bytes with flush_bytes 4096", f.bulkCount(), min, size)
	}
	if got := f.count(); got != 100 {
		t.Errorf("stored: got %d, want 100", got)
	}
}

func TestElasticsearchDeadLettersBadTenantsWithoutARequest(t *testing.T) {
	f := newFakeES(t)
	dlq := &memDLQ{}
	s := newTestSink(t, testConfig(f.URL), dlq)
	bad := testAlert("Acme Corp", 1, day1)
	write(t, s, []*vigil.Alert{bad, testAlert("acme", 2, day1)})
	if l := dlq.all(); len(l) != 1 || l[0].Reason != "tenant" {
		t.Errorf("dead letters: got %+v, want one with reason tenant", l)
	}
	if f.count() != 1 {
		t.Errorf("stored: got %d, want 1", f.count())
	}
}

func TestElasticsearchFailsWhenRejectedAlertsCannotBeParked(t *testing.T) {
	f := newFakeES(t)
	f.itemFault = func(string, map[string]any, int) itemReply {
		return itemReply{400, "document_parsing_exception", "conflict"}
	}
	for _, dlq := range []vigil.DeadLetterQueue{nil, &memDLQ{err: errors.New("disk full")}} {
		s := newTestSink(t, testConfig(f.URL), dlq)
		err := s.Write(context.Background(), testAlerts("acme", 3, day1))
		if err == nil {
			t.Errorf("Write with dead-letter queue %v: got nil, want an error (the batch must not be acked)", dlq)
		}
	}
}

func TestElasticsearchConcurrentWritesUnderFaults(t *testing.T) {
	f := newFakeES(t)
	f.requestFault = func(n int) fault {
		switch n % 7 {
		case 1:
			return fault{status: 429}
		case 3:
			return fault{drop: true}
		}
		return fault{}
	}
	f.itemFault = func(id string, doc map[string]any, attempt int) itemReply {
		if attempt == 1 && int(doc["n"].(float64))%3 == 0 {
			return itemReply{429, "es_rejected_execution_exception", "queue full"}
		}
		return itemReply{}
	}
	cfg := testConfig(f.URL)
	cfg.Workers = 3
	cfg.FlushBytes = 8 << 10
	cfg.FlushInterval = ptr(2 * time.Millisecond)
	s := newTestSink(t, cfg, &memDLQ{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 5 {
				write(t, s, testAlerts(fmt.Sprintf("t%d-%d", w, b), 40, day1))
			}
		}()
	}
	wg.Wait()
	if got := f.count(); got != 6*5*40 {
		t.Errorf("stored: got %d, want %d", got, 6*5*40)
	}
}

func TestElasticsearchProductCheck(t *testing.T) {
	f := newFakeES(t)
	f.product = false // what OpenSearch looks like
	cfg := testConfig(f.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := NewElasticsearch(ctx, cfg, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "not Elasticsearch") || !strings.Contains(err.Error(), "flavor: opensearch") {
		t.Fatalf("flavor elasticsearch against a server without the product header: got %v, want the product check's refusal with a hint", err)
	}
	cfg.Flavor = FlavorOpenSearch
	s := newTestSink(t, cfg, nil)
	write(t, s, testAlerts("acme", 5, day1))
	if f.count() != 5 {
		t.Errorf("opensearch flavour: stored %d, want 5", f.count())
	}
}

func TestElasticsearchAuthentication(t *testing.T) {
	f := newFakeES(t)
	cfg := testConfig(f.URL)
	cfg.APIKey = "a2V5aWQ6c2VjcmV0"
	s := newTestSink(t, cfg, nil)
	write(t, s, testAlerts("acme", 1, day1))
	if got := f.lastHeader().Get("Authorization"); got != "APIKey a2V5aWQ6c2VjcmV0" {
		t.Errorf("Authorization with api_key: got %q", got)
	}
	cfg = testConfig(f.URL)
	cfg.Flavor, cfg.Username, cfg.Password = FlavorOpenSearch, "vigil", "s3cret"
	s = newTestSink(t, cfg, nil)
	write(t, s, testAlerts("acme", 1, day1))
	if got := f.lastHeader().Get("Authorization"); got != "Basic dmlnaWw6czNjcmV0" {
		t.Errorf("Authorization with username and password: got %q", got)
	}
}

func TestElasticsearchTLS(t *testing.T) {
	f := &fakeES{t: t, product: true, docs: map[string]map[string]json.RawMessage{}, templates: map[string]json.RawMessage{}, seen: map[string]int{}}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	defer f.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(f.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := NewElasticsearch(ctx, cfg, nil, nil)
	var unknownCA x509.UnknownAuthorityError
	if !errors.As(err, &unknownCA) {
		t.Errorf("unknown CA: got %v, want an immediate certificate error", err)
	}

	cfg.CACert = caFile
	s := newTestSink(t, cfg, nil)
	write(t, s, testAlerts("acme", 2, day1))

	cfg.CACert, cfg.InsecureSkipVerify = "", true
	s = newTestSink(t, cfg, nil)
	write(t, s, testAlerts("acme", 4, day1))
	if f.count() != 4 {
		t.Errorf("stored: got %d, want 4", f.count())
	}
}

// countingSource yields total events in batches, counting reads.
type countingSource struct {
	total, batch int
	next         int
	reads        atomic.Int64
}

func (c *countingSource) Read(ctx context.Context) ([]*vigil.Event, vigil.AckFunc, error) {
	if c.next >= c.total {
		return nil, nil, io.EOF
	}
	c.reads.Add(1)
	var evs []*vigil.Event
	for ; c.next < c.total && len(evs) < c.batch; c.next++ {
		evs = append(evs, &vigil.Event{Tenant: []string{"acme", "globex"}[c.next%2], Received: time.Now(),
			Fields: fields.MustFromMap(map[string]any{"n": c.next}), Origin: vigil.Origin{Source: "restart", Offset: int64(c.next)}})
	}
	return evs, func(context.Context) error { return nil }, nil
}

func (c *countingSource) Close() error { return nil }

// TestElasticsearchBackpressure: while the cluster answers 503, the pipeline's writes wait, it stops reading and
// acknowledges nothing; once the cluster is back every event is acknowledged and every alert stored once.
func TestElasticsearchBackpressure(t *testing.T) {
	f := newFakeES(t)
	var down atomic.Bool
	f.requestFault = func(n int) fault {
		if n == 5 {
			down.Store(true)
		}
		if down.Load() {
			return fault{status: 503}
		}
		return fault{}
	}
	s := newTestSink(t, testConfig(f.URL), &memDLQ{})
	src := &countingSource{total: 5000, batch: 100}
	p := &vigil.Pipeline{Source: src, Detector: testDetector{}, Sink: s, MaxInFlight: 3}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	for !down.Load() {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	reads, acked := src.reads.Load(), p.Stats.Acked.Load()
	time.Sleep(300 * time.Millisecond)
	if got := src.reads.Load(); got != reads || got > 10 {
		t.Errorf("reads while the cluster was down: %d, then %d; want a few, then no more", reads, got)
	}
	if got := p.Stats.Acked.Load(); got != acked {
		t.Errorf("acked while the cluster was down: %d, then %d", acked, got)
	}
	down.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the pipeline did not finish after the cluster came back")
	}
	if f.count() != 5000 || p.Stats.Acked.Load() != 5000 {
		t.Errorf("stored %d, acked %d; want 5000 and 5000", f.count(), p.Stats.Acked.Load())
	}
}

// testDetector makes one alert of every event.
type testDetector struct{}

func (testDetector) Detect(ev *vigil.Event, dst []*vigil.Alert) []*vigil.Alert {
	return append(dst, testAlert(ev.Tenant, int(ev.Fields.Get("n").Int()), day1))
}

func TestIndexName(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	got := IndexName("vigil-alerts", "acme", time.Date(2026, 1, 2, 3, 0, 0, 0, tokyo))
	if want := "vigil-alerts-acme-2026.01.01"; got != want {
		t.Errorf("IndexName: got %q, want %q (the UTC day)", got, want)
	}
}

func BenchmarkElasticsearchWrite(b *testing.B) {
	f := newFakeES(b)
	cfg := testConfig(f.URL)
	s := newTestSink(b, cfg, nil)
	alerts := testAlerts("acme", 500, day1)
	b.ResetTimer()
	for i := range b.N {
		for j, a := range alerts {
			a.ID = fmt.Sprintf("b%d-%d", i, j)
		}
		if err := s.Write(context.Background(), alerts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(alerts))/b.Elapsed().Seconds(), "alerts/s")
}

package sinks

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logBuffer collects a logger's lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLoggedSink(t *testing.T, cfg ElasticsearchConfig, dlq *memDLQ) (*Elasticsearch, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := NewElasticsearch(ctx, cfg, dlq, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("NewElasticsearch: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

// Block answers as Elasticsearch 7.17/8 and OpenSearch 2.19 give them.
const (
	writeBlockReason = "index [vigil-alerts-acme-2026.11.24] blocked by: [FORBIDDEN/8/index write (api)];"
	floodReason      = "index [vigil-alerts-acme-2026.11.24] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"
	clusterReason    = "blocked by: [FORBIDDEN/6/cluster read-only (api)];"
	noMasterReason   = "blocked by: [SERVICE_UNAVAILABLE/2/no master];"
)

// TestElasticsearchWaitsWhileWritesAreBlocked: alerts refused with a cluster_block_exception, per item or for the
// whole request, wait and are retried, never dead-lettered; the sink says so in one warning (not one per item or
// request), in its counters and in Ready, and stores every alert once when the block is lifted.
func TestElasticsearchWaitsWhileWritesAreBlocked(t *testing.T) {
	tests := []struct {
		name      string
		item      *itemReply // a per-item answer
		request   *fault     // or a whole-request answer
		wantKind  string
		wantInErr string
	}{
		{"index.blocks.write, 403 per item", &itemReply{403, "cluster_block_exception", writeBlockReason}, nil, "write", "index write"},
		{"disk flood stage, 429 per item", &itemReply{429, "cluster_block_exception", floodReason}, nil, "read_only_allow_delete", "flood-stage"},
		{"cluster read-only, 403 for the request", nil, &fault{status: 403, errType: "cluster_block_exception", reason: clusterReason}, "cluster_read_only", "cluster read-only"},
		{"disk flood stage, 429 for the request", nil, &fault{status: 429, errType: "cluster_block_exception", reason: floodReason}, "read_only_allow_delete", "flood-stage"},
		{"no master, 503 for the request", nil, &fault{status: 503, errType: "cluster_block_exception", reason: noMasterReason}, "unavailable", "no master"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeES(t)
			var blocked atomic.Bool
			blocked.Store(true)
			if tt.item != nil {
				f.itemFault = func(string, map[string]any, int) itemReply {
					if blocked.Load() {
						return *tt.item
					}
					return itemReply{}
				}
			} else {
				f.requestFault = func(int) fault {
					if blocked.Load() {
						return *tt.request
					}
					return fault{}
				}
			}
			dlq := &memDLQ{}
			s, logs := newLoggedSink(t, testConfig(f.URL), dlq)
			done := make(chan error, 1)
			go func() { done <- s.Write(context.Background(), testAlerts("acme", 20, day1)) }()
			waitUntil(t, "20 alerts blocked", func() bool { return s.Stats.Blocked.Load() == 20 })
			time.Sleep(300 * time.Millisecond) // many retries, with backoffs of at most 20ms
			select {
			case err := <-done:
				t.Fatalf("Write returned %v while writes were blocked, want it to wait", err)
			default:
			}
			if l := dlq.all(); len(l) > 0 {
				t.Fatalf("dead letters while blocked: got %d (%s), want none", len(l), l[0].Detail)
			}
			err := s.Ready()
			if err == nil || !strings.Contains(err.Error(), "blocks writes") || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("Ready while blocked: got %v, want the block", err)
			}
			if got := s.Stats.BlockedTotals()[tt.wantKind]; got < 40 {
				t.Errorf("blocked answers of kind %s: got %d (%v), want 20 per attempt, at least two attempts", tt.wantKind, got, s.Stats.BlockedTotals())
			}
			if n := strings.Count(logs.String(), "the cluster blocks writes"); n != 1 {
				t.Errorf("warnings about the block: got %d, want 1 (rate-limited)\n%s", n, logs.String())
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "block="+tt.wantKind) {
				t.Errorf("warning: want level WARN and block=%s in\n%s", tt.wantKind, logs.String())
			}

			blocked.Store(false)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Write: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Write did not return after the block was lifted")
			}
			if got := f.count(); got != 20 {
				t.Errorf("stored: got %d, want 20", got)
			}
			if c, d := s.Stats.Created.Load(), s.Stats.Duplicates.Load(); c != 20 || d != 0 {
				t.Errorf("created, duplicates: got %d, %d, want 20, 0", c, d)
			}
			if got := s.Stats.Blocked.Load(); got != 0 {
				t.Errorf("blocked after the block was lifted: got %d, want 0", got)
			}
			if err := s.Ready(); err != nil {
				t.Errorf("Ready after the block was lifted: %v", err)
			}
			if !strings.Contains(logs.String(), "no alert waits behind a write block any more") {
				t.Errorf("no line about the end of the block in\n%s", logs.String())
			}
		})
	}
}

// TestElasticsearchBlockedAlertsOfAnAbandonedWrite: alerts of a Write that gave up (its context ended) no longer
// count as blocked: nobody waits for them.
func TestElasticsearchBlockedAlertsOfAnAbandonedWrite(t *testing.T) {
	f := newFakeES(t)
	f.itemFault = func(string, map[string]any, int) itemReply {
		return itemReply{403, "cluster_block_exception", writeBlockReason}
	}
	s := newTestSink(t, testConfig(f.URL), &memDLQ{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Write(ctx, testAlerts("acme", 5, day1)); err == nil {
		t.Fatal("Write: got nil, want the context's error")
	}
	waitUntil(t, "no alert blocked", func() bool { return s.Stats.Blocked.Load() == 0 })
	if err := s.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

// TestElasticsearchReadyWhenTheClusterHangs: a cluster that accepts connections and never answers makes the sink
// unready once alerts have waited for stall_timeout; it is ready again once they are stored. An idle sink is ready.
func TestElasticsearchReadyWhenTheClusterHangs(t *testing.T) {
	f := newFakeES(t)
	hang := make(chan struct{})
	var hanging atomic.Bool
	hanging.Store(true)
	f.requestFault = func(int) fault {
		if hanging.Load() {
			return fault{hang: hang}
		}
		return fault{}
	}
	cfg := testConfig(f.URL)
	cfg.StallTimeout = 300 * time.Millisecond
	cfg.RequestTimeout = 30 * time.Second
	s := newTestSink(t, cfg, &memDLQ{})
	time.Sleep(400 * time.Millisecond)
	if err := s.Ready(); err != nil {
		t.Fatalf("Ready of an idle sink: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Write(context.Background(), testAlerts("acme", 10, day1)) }()
	time.Sleep(100 * time.Millisecond)
	if err := s.Ready(); err != nil {
		t.Errorf("Ready 100ms into a write: %v, want ready (stall_timeout 300ms)", err)
	}
	waitUntil(t, "the sink unready", func() bool { return s.Ready() != nil })
	if err := s.Ready(); !strings.Contains(err.Error(), "no alert stored for") || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("Ready: got %v, want the stall and that the cluster did not answer", err)
	}
	hanging.Store(false)
	close(hang)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write did not return once the cluster answered")
	}
	if err := s.Ready(); err != nil {
		t.Errorf("Ready after the write: %v", err)
	}
	if got := f.count(); got != 10 {
		t.Errorf("stored: got %d, want 10", got)
	}
}

// TestElasticsearchReadyReportsWhyAlertsWait: while every alert is answered 429 (not a block), the sink turns
// unready after stall_timeout with the last error, and ready as soon as an alert is stored.
func TestElasticsearchReadyReportsWhyAlertsWait(t *testing.T) {
	f := newFakeES(t)
	var full atomic.Bool
	full.Store(true)
	f.itemFault = func(string, map[string]any, int) itemReply {
		if full.Load() {
			return itemReply{429, "es_rejected_execution_exception", "rejected execution of coordinating operation"}
		}
		return itemReply{}
	}
	cfg := testConfig(f.URL)
	cfg.StallTimeout = 200 * time.Millisecond
	s := newTestSink(t, cfg, &memDLQ{})
	done := make(chan error, 1)
	go func() { done <- s.Write(context.Background(), testAlerts("acme", 3, day1)) }()
	waitUntil(t, "the sink unready", func() bool { return s.Ready() != nil })
	if err := s.Ready(); !strings.Contains(err.Error(), "status 429: es_rejected_execution_exception") {
		t.Errorf("Ready: got %v, want the 429", err)
	}
	full.Store(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(); err != nil {
		t.Errorf("Ready after the write: %v", err)
	}
}

func TestBlockKind(t *testing.T) {
	for reason, want := range map[string]string{
		writeBlockReason: "write",
		"index [x] blocked by: [FORBIDDEN/5/index read-only (api)];":                 "read_only",
		"index [x] blocked by: [FORBIDDEN/12/index read-only / allow delete (api)];": "read_only_allow_delete",
		floodReason:   "read_only_allow_delete",
		clusterReason: "cluster_read_only",
		"blocked by: [FORBIDDEN/13/cluster read-only / allow delete (api)];": "cluster_read_only",
		noMasterReason: "unavailable",
		"blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];": "unavailable",
		"index [x] blocked by: [FORBIDDEN/4/index closed];":                      "other",
	} {
		if got := kindOf(&esError{Type: "cluster_block_exception", Reason: reason}).String(); got != want {
			t.Errorf("%s: got %s, want %s", reason, got, want)
		}
	}
}

// waitUntil polls cond for up to 10 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

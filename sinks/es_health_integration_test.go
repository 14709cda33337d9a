//go:build integration

package sinks

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/testenv"
)

// TestSearchEngineWriteBlock sets a write block on the alert index of each real engine through the settings API:
// the alerts written meanwhile wait (none is dead-lettered), the sink is unready and counts the block, and once
// the block is cleared every alert is stored exactly once.
func TestSearchEngineWriteBlock(t *testing.T) {
	for _, e := range testenv.SearchEngines(t) {
		for _, block := range []string{"index.blocks.write", "index.blocks.read_only_allow_delete"} {
			t.Run(e.Flavor+"/"+block, func(t *testing.T) {
				cfg := engineConfig(t, e)
				dlq := &memDLQ{}
				s := newTestSink(t, cfg, dlq)
				now := time.Now()
				first := socAlert("acme", "rule.block", "high", 0, now, now)
				write(t, s, []*vigil.Alert{first}) // creates the index
				index := IndexName(cfg.IndexPrefix, "acme", now)
				if status, m := engineDo(t, e.URL, "PUT", "/"+index+"/_settings", map[string]any{block: true}); status != 200 {
					t.Fatalf("set %s: status %d: %v", block, status, m)
				}
				unblock := func() {
					if status, m := engineDo(t, e.URL, "PUT", "/"+index+"/_settings", map[string]any{block: nil}); status != 200 {
						t.Fatalf("clear %s: status %d: %v", block, status, m)
					}
				}
				t.Cleanup(unblock) // so that the indices can be deleted

				var alerts []*vigil.Alert
				for i := 1; i <= 50; i++ {
					alerts = append(alerts, socAlert("acme", "rule.block", "high", i, now, now))
				}
				done := make(chan error, 1)
				go func() { done <- s.Write(context.Background(), alerts) }()
				waitFor(t, 30*time.Second, "50 alerts blocked", func() bool { return s.Stats.Blocked.Load() == 50 })
				time.Sleep(2 * time.Second) // retries go on, with backoffs up to a second
				select {
				case err := <-done:
					t.Fatalf("Write returned %v while the index was blocked, want it to wait", err)
				default:
				}
				if l := dlq.all(); len(l) > 0 {
					t.Fatalf("dead letters while blocked: got %d (%s), want none", len(l), l[0].Detail)
				}
				err := s.Ready()
				if err == nil || !strings.Contains(err.Error(), "blocks writes") {
					t.Errorf("Ready while blocked: got %v, want the block", err)
				}
				t.Logf("%s on %s: blocked answers %v; Ready: %v", block, e.Flavor, s.Stats.BlockedTotals(), err)
				wantKind := map[string]string{"index.blocks.write": "write", "index.blocks.read_only_allow_delete": "read_only_allow_delete"}[block]
				if s.Stats.BlockedTotals()[wantKind] < 100 {
					t.Errorf("blocked answers: got %v, want at least two attempts of 50 alerts as %s", s.Stats.BlockedTotals(), wantKind)
				}

				unblock()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("Write: %v", err)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("Write did not return after the block was cleared")
				}
				if got := countDocs(t, e.URL, cfg.IndexPrefix); got != 51 {
					t.Errorf("documents: got %d, want 51", got)
				}
				_, m := engineDo(t, e.URL, "POST", "/"+cfg.IndexPrefix+"-*/_search", map[string]any{"size": 0,
					"aggs": map[string]any{"ids": map[string]any{"terms": map[string]any{"field": "vigil.alert.id", "size": 100, "min_doc_count": 2}}}})
				if b, _ := docPath(m, "aggregations", "ids", "buckets").([]any); len(b) > 0 {
					t.Errorf("alerts stored more than once: %v", b)
				}
				if c, d := s.Stats.Created.Load(), s.Stats.Duplicates.Load(); c != 51 || d != 0 {
					t.Errorf("created, duplicates: got %d, %d, want 51, 0", c, d)
				}
				if err := s.Ready(); err != nil || s.Stats.Blocked.Load() != 0 {
					t.Errorf("after the block: Ready %v, blocked %d; want ready and 0", err, s.Stats.Blocked.Load())
				}
			})
		}
	}
}

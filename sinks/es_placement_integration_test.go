//go:build integration

package sinks

import (
	"context"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/testenv"
)

// TestSearchEngineEventTimeOutOfRange: alerts with made-up event times (year 1, year 9999, no time) go to the
// index of their creation day, marked and searchable by the mark; no index is created for their own days.
func TestSearchEngineEventTimeOutOfRange(t *testing.T) {
	for _, e := range testenv.SearchEngines(t) {
		t.Run(e.Flavor, func(t *testing.T) {
			cfg := engineConfig(t, e)
			s := newTestSink(t, cfg, &memDLQ{})
			now := time.Now()
			alerts := []*vigil.Alert{
				socAlert("acme", "rule.time", "high", 1, now.Add(-time.Second), now),
				socAlert("acme", "rule.time", "high", 2, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), now),
				socAlert("acme", "rule.time", "high", 3, time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC), now),
				socAlert("acme", "rule.time", "high", 4, time.Time{}, now),
			}
			write(t, s, alerts)
			if got := countDocs(t, e.URL, cfg.IndexPrefix); got != 4 {
				t.Fatalf("documents: got %d, want 4", got)
			}
			_, res := engineDo(t, e.URL, "POST", "/"+cfg.IndexPrefix+"-*/_search", map[string]any{"size": 0,
				"aggs": map[string]any{"indices": map[string]any{"terms": map[string]any{"field": "_index"}}}})
			buckets, _ := docPath(res, "aggregations", "indices", "buckets").([]any)
			wantIndex := IndexName(cfg.IndexPrefix, "acme", now)
			if len(buckets) != 1 || docPath(buckets[0].(map[string]any), "key") != wantIndex {
				t.Errorf("indices: got %v, want only %s", buckets, wantIndex)
			}
			tp, err := NewSearchTransport(cfg)
			if err != nil {
				t.Fatal(err)
			}
			hits, err := SearchAlerts(context.Background(), tp, cfg.IndexPrefix, AlertQuery{Query: "vigil.alert.time_out_of_range:true", Size: 10})
			if err != nil || hits.Total != 3 {
				t.Fatalf("vigil.alert.time_out_of_range:true: got %+v (%v), want the 3 alerts out of range", hits, err)
			}
			for _, doc := range hits.Alerts {
				if docPath(doc, "vigil", "alert", "original_time") == nil {
					t.Errorf("alert %v: no vigil.alert.original_time", docPath(doc, "vigil", "alert", "id"))
				}
			}
			if got := s.Stats.OutOfRange.Load(); got != 3 {
				t.Errorf("out of range: got %d, want 3", got)
			}
		})
	}
}

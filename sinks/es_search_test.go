package sinks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAlertQueryBody(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	q := AlertQuery{Tenant: "acme", RuleID: "vigil.auth.ssh_bruteforce", Severities: []string{"high", "critical"},
		Since: 2 * time.Hour, Now: now, Query: "user.name:root AND powershell", Size: 10}
	body, err := q.Body()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"query":{"bool":{"filter":[{"term":{"vigil.alert.tenant":"acme"}},{"term":{"rule.id":"vigil.auth.ssh_bruteforce"}},` +
		`{"terms":{"vigil.alert.severity":["high","critical"]}},{"range":{"@timestamp":{"gte":"2026-11-27T10:00:00Z"}}}],` +
		`"must":[{"query_string":{"analyze_wildcard":true,"default_operator":"AND","lenient":true,"query":"user.name:root AND powershell"}}]}},` +
		`"size":10,"sort":[{"@timestamp":{"order":"desc","unmapped_type":"date"}},{"vigil.alert.id":{"order":"asc","unmapped_type":"keyword"}}],` +
		`"track_total_hits":true}`
	if string(body) != want {
		t.Errorf("body:\ngot  %s\nwant %s", body, want)
	}
	empty, _ := (&AlertQuery{}).Body()
	if !strings.Contains(string(empty), `"bool":{"filter":null}`) || !strings.Contains(string(empty), `"size":50`) {
		t.Errorf("empty query: got %s, want match-all of 50", empty)
	}
}

func TestAlertQueryValidate(t *testing.T) {
	for _, q := range []AlertQuery{{Severities: []string{"urgent"}}, {Tenant: "Acme"}, {Since: -time.Hour}} {
		if err := q.Validate(); err == nil {
			t.Errorf("%+v: got no error, want one", q)
		}
	}
}

func TestSearchAlerts(t *testing.T) {
	var gotPath, gotQuery string
	var gotBody map[string]any
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		if requests == 1 { // a new index whose shards are not started yet
			w.WriteHeader(503)
			io.WriteString(w, `{"error":{"type":"search_phase_execution_exception","reason":"all shards failed"},"status":503}`)
			return
		}
		gotPath, gotQuery = r.URL.Path, r.URL.RawQuery
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &gotBody)
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		io.WriteString(w, `{"hits":{"total":{"value":123,"relation":"eq"},"hits":[{"_index":"vigil-alerts-acme-2026.11.27","_id":"a1","_source":{"vigil":{"alert":{"id":"a1"}}}}]}}`)
	}))
	defer srv.Close()
	tp, err := NewSearchTransport(ElasticsearchConfig{URLs: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := SearchAlerts(context.Background(), tp, "vigil-alerts", AlertQuery{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if hits.Total != 123 || len(hits.Alerts) != 1 || docPath(hits.Alerts[0], "vigil", "alert", "id") != "a1" {
		t.Errorf("hits: got %+v", hits)
	}
	if gotPath != "/vigil-alerts-acme-*/_search" || !strings.Contains(gotQuery, "ignore_unavailable=true") {
		t.Errorf("request: got %s?%s, want the tenant's indices, ignoring missing ones", gotPath, gotQuery)
	}
	if requests != 2 {
		t.Errorf("requests: got %d, want 2 (the 503 tried again)", requests)
	}
	if gotBody["track_total_hits"] != true {
		t.Errorf("body: got %v", gotBody)
	}
	if _, err := SearchAlerts(context.Background(), tp, "vigil-alerts", AlertQuery{}); err != nil || gotPath != "/vigil-alerts/_search" {
		t.Errorf("without tenant: got %s (%v), want the alias", gotPath, err)
	}
}

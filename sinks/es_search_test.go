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
		`"size":10,"sort":[{"@timestamp":{"order":"desc","unmapped_type":"date"}},{"vigil.alert.original_time":{"order":"desc","unmapped_type":"date"}},` +
		`{"vigil.alert.id":{"order":"asc","unmapped_type":"keyword"}}],` +
		`"track_total_hits":true}`
	if string(body) != want {
		t.Errorf("body:\ngot  %s\nwant %s", body, want)
	}
	empty, _ := (&AlertQuery{}).Body()
	if !strings.Contains(string(empty), `"bool":{"filter":null}`) || !strings.Contains(string(empty), `"size":50`) {
		t.Errorf("empty query: got %s, want match-all of 50", empty)
	}
}

// TestAlertQueryTimeBounds: absolute bounds (from inclusive, until exclusive), the later of Since and From, and the
// event's time instead of the creation's for the bounds and the order.
func TestAlertQueryTimeBounds(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	nov1, nov2 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		q           AlertQuery
		range_, key string
	}{
		{"from and until", AlertQuery{From: nov1, Until: nov2},
			`{"@timestamp":{"gte":"2026-11-01T00:00:00Z","lt":"2026-11-02T00:00:00Z"}}`, `"@timestamp":{"order":"desc"`},
		{"since later than from", AlertQuery{From: nov1, Since: 24 * time.Hour, Now: now},
			`{"@timestamp":{"gte":"2026-11-26T12:00:00Z"}}`, `"@timestamp":{"order":"desc"`},
		{"until only, by event time", AlertQuery{Until: nov2, ByEventTime: true},
			`{"vigil.alert.original_time":{"lt":"2026-11-02T00:00:00Z"}}`, `"sort":[{"vigil.alert.original_time":{"order":"desc"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.q.Validate(); err != nil {
				t.Fatal(err)
			}
			body, err := tc.q.Body()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(body), `"range":`+tc.range_) || !strings.Contains(string(body), tc.key) {
				t.Errorf("body: got %s, want the range %s and the order %s", body, tc.range_, tc.key)
			}
		})
	}
	if err := (&AlertQuery{From: nov2, Until: nov1}).Validate(); err == nil || !strings.Contains(err.Error(), "must be before") {
		t.Errorf("from after until: got %v, want an error", err)
	}
}

// TestSearchSyntaxError: a query the engine cannot parse fails on every shard; the error shows the engine's reason
// (this body is OpenSearch 2.19's, Elasticsearch 7.17 answers the same), not only "all shards failed".
func TestSearchSyntaxError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"root_cause":[{"type":"query_shard_exception","reason":"Failed to parse query [user.name:(]","index":"vigil-alerts-acme-2026.11.27","index_uuid":"e_kZXmaBSKyrbqH-QYCkaQ"}],"type":"search_phase_execution_exception","reason":"all shards failed","phase":"query","grouped":true,"failed_shards":[{"shard":0,"index":"vigil-alerts-acme-2026.11.27","node":"DNYt87-LSvmr12AlH8E3ag","reason":{"type":"query_shard_exception","reason":"Failed to parse query [user.name:(]","index":"vigil-alerts-acme-2026.11.27","index_uuid":"e_kZXmaBSKyrbqH-QYCkaQ","caused_by":{"type":"parse_exception","reason":"Cannot parse 'user.name:(': Encountered \"<EOF>\" at line 1, column 11.\nWas expecting one of:\n    <NOT> ...\n    \"+\" ...\n    ","caused_by":{"type":"parse_exception","reason":"Encountered \"<EOF>\" at line 1, column 11.\nWas expecting one of:\n    <NOT> ...\n    "}}}}]},"status":400}`)
	}))
	defer srv.Close()
	tp, err := NewSearchTransport(ElasticsearchConfig{URLs: []string{srv.URL}, Flavor: FlavorOpenSearch})
	if err != nil {
		t.Fatal(err)
	}
	_, err = SearchAlerts(context.Background(), tp, "vigil-alerts", AlertQuery{Query: "user.name:("})
	want := `search vigil-alerts: status 400: query_shard_exception: Failed to parse query [user.name:(]: ` +
		`Cannot parse 'user.name:(': Encountered "<EOF>" at line 1, column 11.`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

// TestProduct tells OpenSearch from Elasticsearch by the root endpoint.
func TestProduct(t *testing.T) {
	for body, want := range map[string]string{
		`{"name":"n1","version":{"distribution":"opensearch","number":"2.19.1"},"tagline":"The OpenSearch Project: https://opensearch.org/"}`: "OpenSearch 2.19.1",
		`{"name":"es-1","version":{"number":"7.17.29","build_flavor":"default"},"tagline":"You Know, for Search"}`:                            "Elasticsearch 7.17.29",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
		got, err := Product(context.Background(), ElasticsearchConfig{URLs: []string{srv.URL}})
		srv.Close()
		if err != nil || got != want {
			t.Errorf("got %q (%v), want %q", got, err, want)
		}
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

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/sinks"
)

// TestReadinessFollowsTheElasticsearchSink: /readyz reports the Elasticsearch sink's own readiness: not ready while
// a search engine that accepts connections and never answers holds alerts for longer than stall_timeout, ready
// again once it answers; /metrics shows the same as vigil_elasticsearch_ready.
func TestReadinessFollowsTheElasticsearchSink(t *testing.T) {
	release := make(chan struct{})
	var hanging atomic.Bool
	hanging.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasSuffix(r.URL.Path, "/_bulk") {
			fmt.Fprint(w, `{"acknowledged":true}`) // the index template
			return
		}
		body, _ := io.ReadAll(r.Body)
		if hanging.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		items := strings.Repeat(`{"create":{"status":201}},`, bytes.Count(body, []byte("\n"))/2)
		fmt.Fprintf(w, `{"errors":false,"items":[%s]}`, strings.TrimSuffix(items, ","))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	es, err := sinks.NewElasticsearch(ctx, sinks.ElasticsearchConfig{URLs: []string{srv.URL},
		StallTimeout: 200 * time.Millisecond, RequestTimeout: 30 * time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()

	m := newMonitor(slog.New(slog.DiscardHandler))
	m.ready.pending("sinks", "starting")
	sink := m.sinks(sinks.Fanout{es}, []SinkConfig{{Type: "elasticsearch"}})
	if err := m.serve(freeAddr(t)); err != nil {
		t.Fatal(err)
	}
	defer m.close()
	url := "http://" + m.addr
	if code, body := get(t, url+"/readyz"); code != 200 {
		t.Fatalf("GET /readyz before any write: %d, want 200\n%s", code, body)
	}

	alert := &vigil.Alert{ID: "a1", Tenant: "acme", Time: time.Now(), Doc: map[string]any{"@timestamp": time.Now().UTC().Format(time.RFC3339Nano)}}
	done := make(chan error, 1)
	go func() { done <- sink.Write(ctx, []*vigil.Alert{alert}) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get(t, url+"/readyz")
		if code == 503 {
			if !strings.Contains(body, "[-]sink elasticsearch: no alert stored for") {
				t.Errorf("GET /readyz while the engine hangs: want the sink's reason in\n%s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz stayed %d while the engine hung\n%s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := scrape(t, m.addr)[`vigil_elasticsearch_ready{sink="elasticsearch"}`]; got != 0 {
		t.Errorf("vigil_elasticsearch_ready while the engine hangs: got %v, want 0", got)
	}

	hanging.Store(false)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if code, body := get(t, url+"/readyz"); code != 200 || !strings.Contains(body, "[+]sink elasticsearch ok") {
		t.Errorf("GET /readyz after the engine answered: %d, want 200\n%s", code, body)
	}
	metrics := scrape(t, m.addr)
	for name, want := range map[string]float64{
		`vigil_elasticsearch_ready{sink="elasticsearch"}`:              1,
		`vigil_elasticsearch_blocked_alerts{sink="elasticsearch"}`:     0,
		`vigil_elasticsearch_out_of_range_total{sink="elasticsearch"}`: 0,
		`vigil_elasticsearch_created_total{sink="elasticsearch"}`:      1,
	} {
		if got, ok := metrics[name]; !ok || got != want {
			t.Errorf("%s: got %v (present %v), want %v", name, got, ok, want)
		}
	}
}

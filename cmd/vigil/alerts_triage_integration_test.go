//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/sinks"
	"github.com/vigilsoc/vigil/testenv"
)

// TestTriageSurvivesEngineRewrites runs on each real search engine: an Update alert (a correlation alert that grows)
// is written through the sink, an analyst acks, assigns and closes it with `vigil alerts`, then the engine writes a
// later version of it. The later version's fields are stored; the status, assignee, closed reason and history are
// the analyst's, intact.
func TestTriageSurvivesEngineRewrites(t *testing.T) {
	for _, e := range testenv.SearchEngines(t) {
		t.Run(e.Flavor, func(t *testing.T) {
			prefix := testenv.UniqueName(t, "vigil-triage-")
			t.Cleanup(func() { deleteIndices(t, e.URL, prefix) })
			s := triageTestSink(t, sinks.ElasticsearchConfig{Flavor: e.Flavor, URLs: []string{e.URL}, IndexPrefix: prefix, Replicas: new(int)})
			start := time.Now().Add(-time.Hour).UTC()
			v1 := growingTestAlert(start, 3)
			writeAlerts(t, s, v1)
			refresh(t, e.URL, prefix) // an analyst finds an alert once the engine has refreshed (1 s)

			conn := []string{"--url", e.URL, "--flavor", e.Flavor, "--index-prefix", prefix}
			for _, args := range [][]string{
				{"ack", v1.ID},
				{"assign", v1.ID, "bob"},
				{"close", "--reason", "false_positive", "--note", "the weekly scan", v1.ID},
			} {
				if code, out, errOut := runAlerts(t, append(append([]string{args[0], "--user", "alice"}, conn...), args[1:]...)...); code != 0 {
					t.Fatalf("vigil alerts %v: exit %d, %s%s", args, code, out, errOut)
				}
			}
			writeAlerts(t, s, growingTestAlert(start, 7))

			doc := storedAlert(t, e.URL, sinks.IndexName(prefix, v1.Tenant, v1.Time), v1.ID)
			for field, want := range map[string]any{
				"vigil.alert.status": "closed", "vigil.alert.closed_reason": "false_positive", "vigil.alert.assignee": "bob",
				"vigil.correlation.count": float64(7), "@timestamp": start.Add(7 * time.Minute).Format(time.RFC3339Nano),
			} {
				if got := lookup(doc, field); got != want {
					t.Errorf("%s: got %v, want %v", field, got, want)
				}
			}
			var history []string
			for _, h := range lookup(doc, "vigil.alert.history").([]any) {
				m := h.(map[string]any)
				history = append(history, fmt.Sprintf("%v %v %v->%v %v %v", m["by"], m["action"], m["from"], m["to"], m["reason"], m["note"]))
			}
			want := []string{"alice ack open->acknowledged <nil> <nil>", "alice assign <nil>->bob <nil> <nil>",
				"alice close acknowledged->closed false_positive the weekly scan"}
			if strings.Join(history, "\n") != strings.Join(want, "\n") {
				t.Errorf("history:\ngot  %q\nwant %q", history, want)
			}
			refresh(t, e.URL, prefix)
			checkTriageSearch(t, append([]string{"--tenant", "acme"}, conn...), v1.ID)
		})
	}
}

// checkTriageSearch checks the analyst's views of the closed alert id on the real engine: search by status and
// assignee (a keyword in the template), top by assignee, and show.
func checkTriageSearch(t *testing.T, conn []string, id string) {
	t.Helper()
	code, out, errOut := runAlerts(t, append([]string{"search", "--status", "closed", "--assignee", "bob", "-o", "ndjson"}, conn...)...)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, id) {
		t.Errorf("search --status closed --assignee bob: got %d, %q %s, want the alert", code, out, errOut)
	}
	if code, out, _ := runAlerts(t, append([]string{"search", "--status", "open"}, conn...)...); code != 0 || strings.Contains(out, id) {
		t.Errorf("search --status open: got %d, %q, want no alert", code, out)
	}
	code, out, errOut = runAlerts(t, append([]string{"top", "--by", "vigil.alert.assignee", "--by", "vigil.alert.history.action"}, conn...)...)
	if code != 0 || !strings.Contains(out, "     1  bob\n") || !strings.Contains(out, "     1  close\n") {
		t.Errorf("top: got %d, %q %s, want bob and close counted once", code, out, errOut)
	}
	code, out, errOut = runAlerts(t, append([]string{"show", id}, conn...)...)
	if code != 0 || !strings.Contains(out, "Status      closed, reason false_positive\n") || !strings.Contains(out, "the weekly scan") {
		t.Errorf("show: got %d, %q %s, want the status and the note", code, out, errOut)
	}
}

// growingTestAlert is the version of a correlation alert with count matches, as the correlation stage writes it.
func growingTestAlert(start time.Time, count int) *vigil.Alert {
	id := "triage-corr-1"
	return &vigil.Alert{ID: id, Tenant: "acme", RuleID: "corr.burst", Time: start, Update: true, Doc: map[string]any{
		"@timestamp": start.Add(time.Duration(count) * time.Minute).Format(time.RFC3339Nano),
		"event":      map[string]any{"kind": "alert", "severity": int64(3)},
		"rule":       map[string]any{"id": "corr.burst", "name": "Burst of failed logons"},
		"user":       map[string]any{"name": "svc_scan"},
		"vigil": map[string]any{
			"alert": map[string]any{"id": id, "tenant": "acme", "severity": "high", "status": "open",
				"original_time": start.Format(time.RFC3339Nano)},
			"correlation": map[string]any{"count": int64(count)},
		},
	}}
}

type discardDLQ struct{}

func (discardDLQ) Park(context.Context, []vigil.DeadLetter) error {
	return fmt.Errorf("unexpected dead letter")
}
func (discardDLQ) Close() error { return nil }

func triageTestSink(t *testing.T, cfg sinks.ElasticsearchConfig) *sinks.Elasticsearch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sinks.NewElasticsearch(ctx, cfg, discardDLQ{}, nil)
	if err != nil {
		t.Fatalf("NewElasticsearch: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeAlerts(t *testing.T, s *sinks.Elasticsearch, alerts ...*vigil.Alert) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Write(ctx, alerts); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func refresh(t *testing.T, base, prefix string) {
	t.Helper()
	res, err := http.Post(base+"/"+prefix+"-*/_refresh", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}

// storedAlert is the _source of document id in index, read with a plain GET.
func storedAlert(t *testing.T, base, index, id string) map[string]any {
	t.Helper()
	res, err := http.Get(base + "/" + index + "/_doc/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m struct {
		Source map[string]any `json:"_source"`
	}
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET %s/_doc/%s: status %d, %v", index, id, res.StatusCode, err)
	}
	return m.Source
}

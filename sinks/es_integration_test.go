//go:build integration

package sinks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/testenv"
)

// These tests run the sink against the real search engines of testenv/run (OpenSearch 2.19, Elasticsearch 7.17).

// engineConfig is a sink configuration for engine e with indices of their own for the test.
func engineConfig(t testing.TB, e testenv.SearchEngine) ElasticsearchConfig {
	prefix := testenv.UniqueName(t, "vigil-it-")
	t.Cleanup(func() {
		engineDo(t, e.URL, "DELETE", "/"+prefix+"-*", nil)
		engineDo(t, e.URL, "DELETE", "/_index_template/"+prefix, nil)
	})
	return ElasticsearchConfig{Flavor: e.Flavor, URLs: []string{e.URL}, IndexPrefix: prefix, Replicas: ptr(0),
		RetryInitialBackoff: 10 * time.Millisecond, RetryMaxBackoff: time.Second, RequestTimeout: 30 * time.Second}
}

// engineDo is a plain HTTP request to the engine, independent of the sink's client; it returns the status and the
// decoded JSON body.
func engineDo(t testing.TB, base, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, r)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// countDocs refreshes the indices of prefix and counts their documents.
func countDocs(t testing.TB, base, prefix string) int {
	t.Helper()
	engineDo(t, base, "POST", "/"+prefix+"-*/_refresh", nil)
	status, m := engineDo(t, base, "GET", "/"+prefix+"-*/_count", nil)
	if status != 200 {
		t.Fatalf("count %s-*: status %d: %v", prefix, status, m)
	}
	return int(m["count"].(float64))
}

// socAlert is an alert document like the ones rules.NewAlert builds.
func socAlert(tenant, rule, severity string, i int, eventTime, created time.Time) *vigil.Alert {
	id := fmt.Sprintf("%s-%s-%04d", tenant, rule, i)
	doc := map[string]any{
		"@timestamp":   created.UTC().Format(time.RFC3339Nano),
		"event":        map[string]any{"kind": "alert", "category": "process", "severity": int64(map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}[severity]), "risk_score": int64(73)},
		"rule":         map[string]any{"id": rule, "name": "Rule " + rule, "version": "abc123"},
		"threat":       map[string]any{"framework": "MITRE ATT&CK", "technique": map[string]any{"id": []any{"T1003"}}},
		"host":         map[string]any{"name": fmt.Sprintf("web-%02d", i%5), "ip": []any{"10.0.0.5"}},
		"user":         map[string]any{"name": []string{"root", "alice"}[i%2]},
		"source":       map[string]any{"ip": fmt.Sprintf("203.0.113.%d", i%250), "port": int64(40000 + i)},
		"process":      map[string]any{"name": "mimikatz.exe", "command_line": `C:\Tools\mimikatz.exe "privilege::debug" exit`},
		"message":      "credential dumping tool started",
		"organization": map[string]any{"id": tenant},
		"vigil": map[string]any{"alert": map[string]any{"id": id, "status": "open", "severity": severity, "tenant": tenant,
			"reason":        "process event with process mimikatz.exe created " + severity + " alert " + rule + ".",
			"original_time": eventTime.UTC().Format(time.RFC3339Nano), "origin": map[string]any{"source": "it", "file": "x", "line": int64(i)}}},
	}
	return &vigil.Alert{ID: id, Tenant: tenant, RuleID: rule, Time: eventTime, Doc: doc,
		Event: &vigil.Event{Origin: vigil.Origin{Source: "it", File: "events.jsonl", Line: int64(i)}}}
}

func TestSearchEngineIndexAndSearch(t *testing.T) {
	for _, e := range testenv.SearchEngines(t) {
		t.Run(e.Flavor, func(t *testing.T) {
			cfg := engineConfig(t, e)
			s := newTestSink(t, cfg, &memDLQ{})
			now := time.Now()
			var alerts []*vigil.Alert
			for i := range 30 { // acme, rule a, high, yesterday's events, created now
				alerts = append(alerts, socAlert("acme", "rule.a", "high", i, now.Add(-24*time.Hour), now))
			}
			for i := range 20 { // acme, rule b, low, created 3 hours ago
				alerts = append(alerts, socAlert("acme", "rule.b", "low", i, now.Add(-3*time.Hour), now.Add(-3*time.Hour+time.Duration(i)*time.Second)))
			}
			for i := range 10 { // globex, rule a, critical
				alerts = append(alerts, socAlert("globex", "rule.a", "critical", i, now, now.Add(-time.Minute)))
			}
			write(t, s, alerts)
			if got := countDocs(t, e.URL, cfg.IndexPrefix); got != 60 {
				t.Fatalf("documents: got %d, want 60", got)
			}

			tp, err := NewSearchTransport(cfg)
			if err != nil {
				t.Fatal(err)
			}
			search := func(q AlertQuery) *AlertHits {
				t.Helper()
				q.Size = 100
				hits, err := SearchAlerts(context.Background(), tp, cfg.IndexPrefix, q)
				if err != nil {
					t.Fatalf("search %+v: %v", q, err)
				}
				return hits
			}
			tests := []struct {
				name string
				q    AlertQuery
				want int64
			}{
				{"all, through the alias", AlertQuery{}, 60},
				{"tenant", AlertQuery{Tenant: "acme"}, 50},
				{"tenant and rule", AlertQuery{Tenant: "acme", RuleID: "rule.b"}, 20},
				{"severity", AlertQuery{Severities: []string{"critical"}}, 10},
				{"severities", AlertQuery{Severities: []string{"high", "critical"}}, 40},
				{"time range", AlertQuery{Since: time.Hour}, 40},
				{"time range and tenant", AlertQuery{Tenant: "acme", Since: time.Hour}, 30},
				{"free text in the command line", AlertQuery{Query: "mimikatz.exe"}, 60},
				{"field query", AlertQuery{Query: "user.name:root AND source.ip:[203.0.113.0 TO 203.0.113.9]"}, 15},
				{"ip range in CIDR", AlertQuery{Tenant: "globex", Query: "source.ip:\"203.0.113.0/29\""}, 8},
				{"text of the reason", AlertQuery{Query: "vigil.alert.reason:critical"}, 10},
				{"no match", AlertQuery{Tenant: "initech"}, 0},
			}
			for _, tt := range tests {
				if got := search(tt.q).Total; got != tt.want {
					t.Errorf("%s (%+v): got %d alerts, want %d", tt.name, tt.q, got, tt.want)
				}
			}
			// The example queries of docs/alerts.md parse and run on this engine.
			for q, want := range map[string]int64{
				"host.name:WKS-FIN-014": 0, "user.name:j.morales": 0, "source.ip:203.0.113.9": 3,
				`source.ip:"203.0.113.0/24"`: 60, "mimikatz.exe": 60, "process.command_line:*privilege*": 60,
				"process.name:powershell.exe AND process.command_line:(enc OR encodedcommand)": 0,
				"threat.technique.id:T1003*": 60, "rule.id:rule.* AND event.severity:>=3": 40,
				"vigil.alert.original_time:[now-7d/d TO now]":                                               60,
				"vigil.alert.origin.topic:partner.acme.events AND vigil.alert.origin.offset:[1000 TO 2000]": 0,
				"_ignored:source.ip": 0, "_exists_:threat.enrichments": 0,
			} {
				if got := search(AlertQuery{Query: q}).Total; got != want {
					t.Errorf("docs/alerts.md query %s: got %d alerts, want %d", q, got, want)
				}
			}

			hits := search(AlertQuery{Tenant: "acme"})
			for i := 1; i < len(hits.Alerts); i++ {
				if hits.Alerts[i-1]["@timestamp"].(string) < hits.Alerts[i]["@timestamp"].(string) {
					t.Fatalf("not newest first: %v before %v", hits.Alerts[i-1]["@timestamp"], hits.Alerts[i]["@timestamp"])
				}
			}

			// The same alerts again, as after a crash or a replay: one document each.
			write(t, s, alerts)
			if got := countDocs(t, e.URL, cfg.IndexPrefix); got != 60 {
				t.Errorf("documents after writing the same alerts twice: got %d, want 60", got)
			}
			if got := s.Stats.Duplicates.Load(); got != 60 {
				t.Errorf("duplicates: got %d, want 60", got)
			}

			// The index layout and the mapping.
			day := IndexName(cfg.IndexPrefix, "acme", now.Add(-24*time.Hour))
			_, m := engineDo(t, e.URL, "GET", "/"+day+"/_mapping", nil)
			props, _ := docPath(m, day, "mappings", "properties").(map[string]any)
			for path, typ := range map[string]string{"source.ip": "ip", "@timestamp": "date", "process.command_line": "text", "vigil.alert.tenant": "keyword", "event.severity": "long"} {
				var p []string
				for i, s := range strings.Split(path, ".") {
					if i > 0 {
						p = append(p, "properties")
					}
					p = append(p, s)
				}
				if got := docPath(props, append(p, "type")...); got != typ {
					t.Errorf("mapping of %s in %s: got %v, want %s", path, day, got, typ)
				}
			}
			_, aliases := engineDo(t, e.URL, "GET", "/"+day+"/_alias", nil)
			if docPath(aliases, day, "aliases", cfg.IndexPrefix) == nil {
				t.Errorf("index %s is not behind the alias %s: %v", day, cfg.IndexPrefix, aliases)
			}
		})
	}
}

// TestSearchEngineMappingConflict: alerts that do not fit the mapping go to the dead-letter file with the reason,
// the others are stored; a malformed IP address does not reject its alert (docs/alerts.md).
func TestSearchEngineMappingConflict(t *testing.T) {
	for _, e := range testenv.SearchEngines(t) {
		t.Run(e.Flavor, func(t *testing.T) {
			cfg := engineConfig(t, e)
			dlPath := filepath.Join(t.TempDir(), "deadletters.jsonl")
			dlq, err := NewDeadLetterFile(dlPath)
			if err != nil {
				t.Fatal(err)
			}
			defer dlq.Close()
			s := newTestSink(t, cfg, dlq)
			now := time.Now()
			var alerts []*vigil.Alert
			for i := range 20 {
				a := socAlert("acme", "rule.a", "high", i, now, now)
				a.Doc["custom"] = map[string]any{"field": "a string", "flag": i%2 == 0}
				alerts = append(alerts, a)
			}
			badPort := socAlert("acme", "rule.a", "high", 100, now, now)
			vigil.Object(badPort.Doc, "source")["port"] = "ssh" // source.port is a long
			dashIP := socAlert("acme", "rule.a", "high", 101, now, now)
			vigil.Object(dashIP.Doc, "source")["ip"] = "-" // ip with ignore_malformed: stored
			write(t, s, append(alerts, badPort, dashIP))
			objectForString := socAlert("acme", "rule.a", "high", 102, now, now)
			objectForString.Doc["custom"] = map[string]any{"field": map[string]any{"nested": int64(1)}}
			stringForBoolean := socAlert("acme", "rule.a", "high", 103, now, now) // booleans are keywords: no conflict
			stringForBoolean.Doc["custom"] = map[string]any{"flag": "No"}
			write(t, s, []*vigil.Alert{objectForString, stringForBoolean})

			if got := countDocs(t, e.URL, cfg.IndexPrefix); got != 22 {
				t.Errorf("documents: got %d, want 22 (20 + the malformed IP + the string for a boolean)", got)
			}
			tp, err := NewSearchTransport(cfg)
			if err != nil {
				t.Fatal(err)
			}
			hits, err := SearchAlerts(context.Background(), tp, cfg.IndexPrefix, AlertQuery{Query: "_ignored:source.ip"})
			if err != nil || hits.Total != 1 || docPath(hits.Alerts[0], "vigil", "alert", "id") != "acme-rule.a-0101" {
				t.Errorf("_ignored:source.ip: got %+v (%v), want the alert with source.ip \"-\"", hits, err)
			}
			if got := s.Stats.DeadLettered.Load(); got != 2 {
				t.Errorf("dead-lettered: got %d, want 2", got)
			}
			f, err := os.Open(dlPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var ids []string
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var l struct {
					Kind, Reason, Detail, Tenant, Payload string
				}
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					t.Fatalf("dead-letter line %s: %v", sc.Bytes(), err)
				}
				var doc map[string]any
				if err := json.Unmarshal([]byte(l.Payload), &doc); err != nil {
					t.Fatalf("dead letter payload is not the alert: %v", err)
				}
				ids = append(ids, docPath(doc, "vigil", "alert", "id").(string))
				if l.Kind != "alert" || l.Reason != "mapping" || l.Tenant != "acme" || !strings.Contains(l.Detail, "parsing_exception") {
					t.Errorf("dead letter: got %+v, want kind alert, reason mapping, tenant acme and the server's error", l)
				}
				t.Logf("dead letter detail: %s", l.Detail)
			}
			sort.Strings(ids)
			if want := "[acme-rule.a-0100 acme-rule.a-0102]"; fmt.Sprint(ids) != want {
				t.Errorf("dead-lettered alerts: got %v, want %s", ids, want)
			}
		})
	}
}

// TestSearchEngineUpdateAlertKeepsAnalystFields: a correlation alert written again with a higher count replaces the
// fields Vigil writes, while the status and the assignee an analyst set through the engine's _update API survive,
// and it stays one document.
func TestSearchEngineUpdateAlertKeepsAnalystFields(t *testing.T) {
	for _, e := range testenv.SearchEngines(t) {
		t.Run(e.Flavor, func(t *testing.T) {
			cfg := engineConfig(t, e)
			s := newTestSink(t, cfg, &memDLQ{})
			start := time.Now().Add(-time.Hour)
			version := func(count int) *vigil.Alert {
				a := socAlert("acme", "corr.burst", "high", 1, start, start.Add(time.Duration(count)*time.Minute))
				a.Update = true
				ids := make([]any, count)
				for i := range ids {
					ids[i] = fmt.Sprintf("base-%d", i)
				}
				vigil.Object(a.Doc, "vigil")["correlation"] = map[string]any{"count": int64(count), "alert_ids": ids,
					"last_time": start.Add(time.Duration(count) * time.Second).UTC().Format(time.RFC3339Nano)}
				return a
			}
			v1 := version(3)
			index := IndexName(cfg.IndexPrefix, v1.Tenant, v1.Time)
			source := func() map[string]any {
				t.Helper()
				status, m := engineDo(t, e.URL, "GET", "/"+index+"/_doc/"+v1.ID, nil)
				if status != 200 {
					t.Fatalf("GET %s/_doc/%s: status %d: %v", index, v1.ID, status, m)
				}
				src, _ := m["_source"].(map[string]any)
				return src
			}

			write(t, s, []*vigil.Alert{v1})
			if got := docPath(source(), "vigil", "alert", "status"); got != "open" {
				t.Fatalf("vigil.alert.status after the first version: got %v, want open", got)
			}
			status, m := engineDo(t, e.URL, "POST", "/"+index+"/_update/"+v1.ID, map[string]any{"doc": map[string]any{
				"vigil": map[string]any{"alert": map[string]any{"status": "acknowledged", "assignee": "alice"}}}})
			if status != 200 {
				t.Fatalf("analyst's _update: status %d: %v", status, m)
			}
			write(t, s, []*vigil.Alert{version(7)})

			if got := countDocs(t, e.URL, cfg.IndexPrefix); got != 1 {
				t.Errorf("documents: got %d, want 1", got)
			}
			_, m = engineDo(t, e.URL, "POST", "/"+cfg.IndexPrefix+"-*/_count", map[string]any{
				"query": map[string]any{"ids": map[string]any{"values": []string{v1.ID}}}})
			if got := m["count"]; got != float64(1) {
				t.Errorf("documents with id %s: got %v, want 1", v1.ID, got)
			}
			doc := source()
			if got := docPath(doc, "vigil", "correlation", "count"); got != float64(7) {
				t.Errorf("vigil.correlation.count: got %v, want 7", got)
			}
			if got, _ := docPath(doc, "vigil", "correlation", "alert_ids").([]any); len(got) != 7 {
				t.Errorf("vigil.correlation.alert_ids: got %v, want 7 ids", got)
			}
			if got, want := doc["@timestamp"], start.Add(7*time.Minute).UTC().Format(time.RFC3339Nano); got != want {
				t.Errorf("@timestamp: got %v, want %s (the second version's)", got, want)
			}
			if got := docPath(doc, "vigil", "alert", "status"); got != "acknowledged" {
				t.Errorf("vigil.alert.status: got %v, want acknowledged", got)
			}
			if got := docPath(doc, "vigil", "alert", "assignee"); got != "alice" {
				t.Errorf("vigil.alert.assignee: got %v, want alice", got)
			}
			if c, u := s.Stats.Created.Load(), s.Stats.Updated.Load(); c != 1 || u != 1 {
				t.Errorf("created, updated: got %d, %d, want 1, 1", c, u)
			}
		})
	}
}

// TestOpenSearchKilledAndRestarted runs a pipeline into a separate OpenSearch node, kills the node with SIGKILL in
// the middle of the run and starts it again on the same data: the pipeline stops reading while the node is down,
// then every alert is indexed exactly once.
func TestOpenSearchKilledAndRestarted(t *testing.T) {
	requireOpenSearch(t)
	node := startNode(t)
	const total, batch = 30000, 250
	cfg := ElasticsearchConfig{Flavor: FlavorOpenSearch, URLs: []string{node.url}, IndexPrefix: "vigil-restart",
		Replicas: ptr(0), Workers: 2, FlushBytes: 128 << 10, RequestTimeout: 10 * time.Second,
		RetryInitialBackoff: 50 * time.Millisecond, RetryMaxBackoff: 2 * time.Second}
	dlq := &memDLQ{}
	s := newTestSink(t, cfg, dlq)
	src := &countingSource{total: total, batch: batch}
	p := &vigil.Pipeline{Source: src, Detector: alertPerEvent{}, Sink: s, DeadLetters: dlq, MaxInFlight: 4}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()

	waitFor(t, 120*time.Second, "a third of the alerts stored", func() bool { return s.Stats.Created.Load() >= total/3 })
	node.kill(t)
	killedAt := s.Stats.Created.Load()
	time.Sleep(2 * time.Second) // in-flight batches fail and start retrying
	readAtDown, ackedAtDown := src.reads.Load(), p.Stats.Acked.Load()
	time.Sleep(5 * time.Second)
	if got := src.reads.Load(); got != readAtDown {
		t.Errorf("the pipeline kept reading while the node was down: %d reads, then %d", readAtDown, got)
	}
	if got := p.Stats.Acked.Load(); got != ackedAtDown {
		t.Errorf("batches were acknowledged while the node was down: %d, then %d", ackedAtDown, got)
	}
	select {
	case err := <-done:
		t.Fatalf("the pipeline ended while the node was down: %v", err)
	default:
	}
	if s.Stats.RequestErrors.Load() == 0 {
		t.Error("no failed request was seen while the node was down")
	}
	t.Logf("killed the node after %d of %d alerts; down: %d reads, %d events acked, %d failed requests so far",
		killedAt, total, readAtDown, ackedAtDown, s.Stats.RequestErrors.Load())

	node.start(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pipeline: %v", err)
		}
	case <-time.After(180 * time.Second):
		t.Fatalf("the pipeline did not finish after the restart: %d created", s.Stats.Created.Load())
	}
	if got := countDocs(t, node.url, cfg.IndexPrefix); got != total {
		t.Errorf("documents after the restart: got %d, want %d (each alert exactly once)", got, total)
	}
	if got := p.Stats.Acked.Load(); got != total {
		t.Errorf("acked events: got %d, want %d", got, total)
	}
	if l := dlq.all(); len(l) > 0 {
		t.Errorf("dead letters: got %d (first %+v), want none", len(l), l[0])
	}
	t.Logf("created %d, duplicates %d (stored before the kill, answered 409 on retry), failed requests %d, retried alerts %d",
		s.Stats.Created.Load(), s.Stats.Duplicates.Load(), s.Stats.RequestErrors.Load(), s.Stats.Retries.Load())
}

// alertPerEvent makes one alert of every event.
type alertPerEvent struct{}

func (alertPerEvent) Detect(ev *vigil.Event, dst []*vigil.Alert) []*vigil.Alert {
	n := ev.Fields.Get("n").Int()
	t := time.Date(2026, 11, 20+int(n%3), 12, 0, 0, 0, time.UTC)
	return append(dst, socAlert(ev.Tenant, "rule.restart", "medium", int(n), t, t.Add(time.Minute)))
}

// osNode is an OpenSearch node of the test's own, started with testenv/start-opensearch.
type osNode struct {
	dir, url            string
	httpPort, transport int
	cmd                 *exec.Cmd
	exited              chan struct{}
}

func requireOpenSearch(t *testing.T) {
	for _, e := range testenv.SearchEngines(t) {
		if e.Flavor == testenv.FlavorOpenSearch {
			return
		}
	}
	t.Skip("no OpenSearch in " + testenv.EnvSearch)
}

func startNode(t *testing.T) *osNode {
	n := &osNode{dir: t.TempDir(), httpPort: freePort(t), transport: freePort(t)}
	n.url = fmt.Sprintf("http://127.0.0.1:%d", n.httpPort)
	n.start(t)
	t.Cleanup(func() {
		if n.cmd != nil && n.cmd.Process != nil {
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	})
	return n
}

// start runs the node and waits until it answers yellow or green.
func (n *osNode) start(t *testing.T) {
	t.Helper()
	script, err := filepath.Abs("../testenv/start-opensearch")
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(n.dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(script, filepath.Join(n.dir, "node"), fmt.Sprint(n.httpPort), fmt.Sprint(n.transport))
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", script, err)
	}
	n.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); logf.Close(); close(exited) }(n.cmd, n.exited)
	start := time.Now()
	waitFor(t, 180*time.Second, "OpenSearch node ready", func() bool {
		select {
		case <-n.exited:
			out, _ := os.ReadFile(filepath.Join(n.dir, "node.log"))
			t.Fatalf("the OpenSearch node exited during start-up:\n%.3000s", out)
		default:
		}
		res, err := http.Get(n.url + "/_cluster/health?wait_for_status=yellow&timeout=1s")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		return res.StatusCode == 200
	})
	t.Logf("OpenSearch node on %s ready in %v", n.url, time.Since(start).Round(time.Second))
}

// kill stops the node with SIGKILL, as in a crash.
func (n *osNode) kill(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-n.exited
	n.cmd = nil
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkSearchEngineIndexing measures the sink's indexing throughput against each real engine, as the pipeline
// drives it: b.N alerts (documents of about 1.3 KB like socAlert's, three tenants, two event days) in batches of 500,
// written by 4 concurrent Writes (pipeline.max_in_flight 4), with the default sink settings and replicas 0.
// VIGIL_BENCH_WORKERS, VIGIL_BENCH_FLUSH_INTERVAL, VIGIL_BENCH_BATCH and VIGIL_BENCH_WRITERS override them:
//
//	testenv/run -- go test -tags integration -run '^$' -bench SearchEngineIndexing -benchtime 100000x ./sinks
func BenchmarkSearchEngineIndexing(b *testing.B) {
	for _, e := range testenv.SearchEngines(b) {
		b.Run(e.Flavor, func(b *testing.B) {
			cfg := engineConfig(b, e)
			cfg.RetryInitialBackoff, cfg.RetryMaxBackoff = 0, 0
			if v := os.Getenv("VIGIL_BENCH_WORKERS"); v != "" {
				fmt.Sscan(v, &cfg.Workers)
			}
			if v := os.Getenv("VIGIL_BENCH_FLUSH_INTERVAL"); v != "" {
				d, _ := time.ParseDuration(v)
				cfg.FlushInterval = &d
			}
			batch, writers := envInt("VIGIL_BENCH_BATCH", 500), envInt("VIGIL_BENCH_WRITERS", 4)
			s := newTestSink(b, cfg, &memDLQ{})
			now := time.Now()
			alerts := make([]*vigil.Alert, b.N)
			size := 0
			for i := range alerts {
				tenant := []string{"acme", "globex", "initech"}[i%3]
				alerts[i] = socAlert(tenant, "rule.bench", "high", i, now.Add(-time.Duration(i%2)*24*time.Hour), now)
				if i < 100 {
					d, _ := json.Marshal(alerts[i].Doc)
					size += len(d)
				}
			}
			var next atomic.Int64
			b.ResetTimer()
			errs := make(chan error, writers)
			for range writers {
				go func() {
					for {
						from := int(next.Add(int64(batch))) - batch
						if from >= len(alerts) {
							errs <- nil
							return
						}
						if err := s.Write(context.Background(), alerts[from:min(from+batch, len(alerts))]); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			for range writers {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
			b.ReportMetric(float64(s.Stats.Requests.Load()), "requests")
			if b.N >= 100 {
				b.ReportMetric(float64(size)/100, "doc-bytes")
			}
			if got := countDocs(b, e.URL, cfg.IndexPrefix); got != b.N {
				b.Errorf("documents: got %d, want %d", got, b.N)
			}
		})
	}
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		fmt.Sscan(v, &def)
	}
	return def
}

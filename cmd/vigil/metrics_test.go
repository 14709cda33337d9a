package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// scrape reads /metrics into a map from "name{labels}" (as exposed: labels sorted by name) to the value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /metrics: status %d", res.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// syncBuffer is a log destination that tests read while the code under test writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// metricsRules: one rule with literals the prefilter indexes and an exception; one that fails on a pid that is not a
// number.
const metricsRules = `id: test.auth_failure
name: Authentication failure
severity: medium
condition: event.category == "authentication" && event.outcome == "failure"
exceptions:
  - user.name == "svc_backup"
---
id: test.big_pid
name: Big pid
severity: low
condition: has(process.pid) && int(process.pid) > 100
`

// metricsEvents writes the events of TestMetricsAfterKnownRun: for acme 3 authentication failures (one by
// svc_backup, suppressed), 2 processes with a big pid and one with a pid that is not a number, 4 other events and a
// line that is not JSON; for globex 2 authentication failures and 3 other events.
func metricsEvents(t *testing.T, dir string) (acme, globex string) {
	t.Helper()
	var a, g []string
	auth := func(i int, user string) string {
		return fmt.Sprintf(`{"event":{"id":"a%d","category":"authentication","outcome":"failure"},"user":{"name":%q}}`, i, user)
	}
	a = append(a, auth(1, "alice"), auth(2, "bob"), auth(3, "svc_backup"),
		`{"event":{"id":"p1","category":"process"},"process":{"pid":4242}}`,
		`{"event":{"id":"p2","category":"process"},"process":{"pid":31337}}`,
		`{"event":{"id":"p3","category":"process"},"process":{"pid":"not a number"}}`,
		`not json at all`)
	for i := range 4 {
		a = append(a, fmt.Sprintf(`{"event":{"id":"n%d","category":"network"}}`, i))
	}
	g = append(g, auth(4, "carol"), auth(5, "dave"))
	for i := range 3 {
		g = append(g, fmt.Sprintf(`{"event":{"id":"g%d","category":"network"}}`, i))
	}
	acme, globex = filepath.Join(dir, "acme.jsonl"), filepath.Join(dir, "globex.jsonl")
	writeTestFile(t, acme, strings.Join(a, "\n")+"\n")
	writeTestFile(t, globex, strings.Join(g, "\n")+"\n")
	return acme, globex
}

func writeTestFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runInProcess runs the pipelines of the configuration at path in the background, as `vigil run` does; stop
// cancels them (as SIGTERM does) and returns runPipelines' error.
func runInProcess(t *testing.T, path string, logs io.Writer) (cfg *Config, stop func() error) {
	t.Helper()
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewJSONHandler(logs, nil))
	go func() {
		done <- runPipelines(ctx, cfg, stdio{in: strings.NewReader(""), out: io.Discard, err: logs}, log)
	}()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("runPipelines did not return within 30s of the cancellation")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return cfg, stop
}

// waitFor polls cond every 20ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// TestMetricsAfterKnownRun runs the pipeline over a known set of events, as `vigil run --follow --metrics-addr`
// does, and checks the values /metrics serves against what the events must give, and the health endpoints.
func TestMetricsAfterKnownRun(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(rulesDir, "rules.yml"), metricsRules)
	acme, globex := metricsEvents(t, dir)
	alerts := filepath.Join(dir, "alerts.jsonl")
	addr := freeAddr(t)
	config := filepath.Join(dir, "vigil.yaml")
	writeTestFile(t, config, fmt.Sprintf(`rules: {paths: [%s]}
sources:
  - {name: acme-logs, type: file, file: {paths: [%s], tenant: acme, follow: true, poll_interval: 20ms}}
  - {name: globex-logs, type: file, file: {paths: [%s], tenant: globex, follow: true, poll_interval: 20ms}}
sinks: [{type: file, file: {path: %s}}]
dead_letter: {type: file, path: %s}
metrics: {addr: "%s"}
`, rulesDir, acme, globex, alerts, filepath.Join(dir, "dead.jsonl"), addr))
	var logs syncBuffer
	_, stop := runInProcess(t, config, &logs)

	var m map[string]float64
	waitFor(t, 20*time.Second, "every event acked", func() bool {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil { // not listening yet
			return false
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return false
		}
		m = scrape(t, addr)
		return m[`vigil_events_acked_total{source="acme-logs"}`] == 11 && m[`vigil_events_acked_total{source="globex-logs"}`] == 5
	})
	want := map[string]float64{
		`vigil_events_read_total{source="acme-logs",tenant="acme"}`:             11,
		`vigil_events_read_total{source="globex-logs",tenant="globex"}`:         5,
		`vigil_events_invalid_total{reason="decode",source="acme-logs"}`:        1,
		`vigil_dead_letters_total{kind="event",reason="decode"}`:                1,
		`vigil_alerts_total{source="acme-logs"}`:                                4, // 2 authentication failures, 2 big pids
		`vigil_alerts_total{source="globex-logs"}`:                              2,
		`vigil_alerts_written_total{sink="file"}`:                               6,
		`vigil_sink_write_errors_total{sink="file"}`:                            0,
		`vigil_rule_matches_total{rule="test.auth_failure"}`:                    4,
		`vigil_rule_suppressed_total{rule="test.auth_failure"}`:                 1,
		`vigil_rule_errors_total{rule="test.auth_failure"}`:                     0,
		`vigil_rule_matches_total{rule="test.big_pid"}`:                         2,
		`vigil_rule_errors_total{rule="test.big_pid"}`:                          1, // "not a number" > 100
		`vigil_batches_in_flight{source="acme-logs"}`:                           0,
		`vigil_rules_loaded`:                                                    2,
		`vigil_rules_last_reload_successful`:                                    1,
		`vigil_rules_reload_failures_total`:                                     0,
		`vigil_events_processed_total{source="globex-logs"}`:                    5,
		`vigil_events_read_bytes_total{source="globex-logs"}`:                   float64(fileSize(t, globex) - 5), // without the line breaks
		`vigil_enrich_skipped_total{enricher="geoip"}`:                          0,
		`vigil_build_info{goversion="` + runtime.Version() + `",version="dev"}`: 1,
	}
	for k, v := range want {
		got, ok := m[k]
		if !ok {
			t.Errorf("%s: missing from /metrics", k)
		} else if got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if n := m[`vigil_sink_write_seconds_count{sink="file"}`]; n < 1 || n > 2 {
		t.Errorf("vigil_sink_write_seconds_count = %v, want 1 or 2 (one write per batch with alerts)", n)
	}
	// How many events a rule is evaluated on depends on the prefilter index: at least those that matched, were
	// suppressed or failed, at most every valid event.
	for rule, least := range map[string]float64{"test.auth_failure": 5, "test.big_pid": 3} {
		if ev := m[`vigil_rule_evaluations_total{rule="`+rule+`"}`]; ev < least || ev > 15 {
			t.Errorf("rule %s: %v evaluations, want between %v and the 15 valid events", rule, ev, least)
		}
	}
	if m[`vigil_rule_evaluation_seconds_total{source="acme-logs"}`] <= 0 {
		t.Error("vigil_rule_evaluation_seconds_total is 0")
	}
	// rule.version on the alerts is the version /metrics reports for the running rule.
	for _, doc := range readAlertDocs(t, alerts) {
		r := doc["rule"].(map[string]any)
		key := fmt.Sprintf(`vigil_rule_info{rule="%s",version="%s"}`, r["id"], r["version"])
		if m[key] != 1 {
			t.Errorf("alert carries rule %s version %s; /metrics has no %s", r["id"], r["version"], key)
		}
	}
	if code, body := get(t, "http://"+addr+"/readyz"); code != 200 || !strings.Contains(body, "[+]rules ok") ||
		!strings.Contains(body, "[+]source acme-logs ok") || !strings.Contains(body, "[+]sink file ok") {
		t.Errorf("GET /readyz: %d\n%s", code, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("run ended with %v; log:\n%s", err, logs.String())
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("the metrics server still answers after the run ended")
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

func readAlertDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var doc map[string]any
		if err := json.Unmarshal(line, &doc); err != nil {
			t.Fatalf("alert line %q: %v", line, err)
		}
		out = append(out, doc)
	}
	return out
}

// TestReadiness: /readyz is 503 with the reasons until every check passes, 200 then, 503 again once shutting down;
// /healthz is 200 throughout.
func TestReadiness(t *testing.T) {
	m := newMonitor(slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	m.ready.pending("rules", "starting")
	m.ready.pending("sinks", "starting")
	m.ready.readyUntil(ctx)
	addr := freeAddr(t)
	if err := m.serve(addr); err != nil {
		t.Fatal(err)
	}
	defer m.close()
	url := "http://" + m.addr
	check := func(wantCode int, wantLines ...string) {
		t.Helper()
		code, body := get(t, url+"/readyz")
		if code != wantCode {
			t.Errorf("GET /readyz: %d, want %d\n%s", code, wantCode, body)
		}
		for _, l := range wantLines {
			if !strings.Contains(body, l) {
				t.Errorf("GET /readyz: no %q in\n%s", l, body)
			}
		}
		if code, _ := get(t, url+"/healthz"); code != 200 {
			t.Errorf("GET /healthz: %d, want 200", code)
		}
	}
	check(503, "[-]rules: starting", "[-]sinks: starting", "[+]shutdown ok", "not ready")
	m.ready.set("rules", nil)
	m.ready.remove("sinks")
	m.ready.set("sink elasticsearch", func() error { return fmt.Errorf("connection refused") })
	check(503, "[+]rules ok", "[-]sink elasticsearch: connection refused")
	m.ready.set("sink elasticsearch", nil)
	check(200, "[+]rules ok", "[+]sink elasticsearch ok", "ready")
	cancel()
	check(503, "[-]shutdown: shutting down")
	if err := newMonitor(slog.New(slog.DiscardHandler)).serve(m.addr); err == nil {
		t.Error("serving on an address in use: no error")
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// replayAlerts runs `vigil replay` over events with the rules and returns the alert documents written.
func replayAlerts(t *testing.T, rules string, events []string) []map[string]any {
	t.Helper()
	docs, _ := replayWithStderr(t, rules, events)
	return docs
}

// replayWithStderr is replayAlerts that also returns what replay printed on stderr.
func replayWithStderr(t *testing.T, rules string, events []string) ([]map[string]any, string) {
	t.Helper()
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "rules.yml"), rules)
	input := filepath.Join(dir, "events.jsonl")
	writeTestFile(t, input, strings.Join(events, "\n")+"\n")
	output := filepath.Join(dir, "alerts.jsonl")
	code, _, stderr := runVigil(t, "replay", "--rules", filepath.Join(dir, "rules.yml"), "--input", input, "--output", output)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		docs = append(docs, doc)
	}
	return docs, stderr
}

// TestReplayEventIDReuse: a different event that reuses an event.id (a new host, the same partner id) raises its own
// alert; the same record twice is one alert id.
func TestReplayEventIDReuse(t *testing.T) {
	docs := replayAlerts(t, "id: t.nc\nname: netcat\nseverity: high\ncondition: process.name == \"nc\"\n", []string{
		`{"event":{"id":"nc-1"},"host":{"name":"web-01"},"process":{"name":"nc"}}`,
		`{"event":{"id":"nc-1"},"host":{"name":"db-02"},"process":{"name":"nc"}}`,
		`{"event":{"id":"nc-1"},"host":{"name":"db-02"},"process":{"name":"nc"}}`,
	})
	ids := map[any]int{}
	for _, d := range docs {
		ids[d["vigil"].(map[string]any)["alert"].(map[string]any)["id"]]++
	}
	if len(docs) != 3 || len(ids) != 2 {
		t.Errorf("got %d alerts with %d ids, want 3 alerts with 2 ids (web-01, and db-02 twice)", len(docs), len(ids))
	}
}

// TestReplayCorrelation: `vigil replay` runs correlation rules in-process; the growing alert is written once per
// version under one id, and its failed-logon inputs raise no alerts of their own.
func TestReplayCorrelation(t *testing.T) {
	var events []string
	for i := range 7 {
		events = append(events, fmt.Sprintf(`{"@timestamp":"2026-11-24T10:00:%02dZ","event":{"outcome":"failure"},"user":{"name":"bob"}}`, i*5))
	}
	docs := replayAlerts(t, correlationRules, events) // 7 failures in 30 s, over the threshold of 5 in 1m
	if len(docs) == 0 {
		t.Fatal("no alerts")
	}
	last := docs[len(docs)-1]
	corr, _ := last["vigil"].(map[string]any)["correlation"].(map[string]any)
	ids := map[any]bool{}
	for _, d := range docs {
		if d["rule"].(map[string]any)["id"] != "t.brute" {
			t.Errorf("an alert of %v was written: the correlation's input raises none", d["rule"])
		}
		ids[d["vigil"].(map[string]any)["alert"].(map[string]any)["id"]] = true
	}
	if corr == nil || corr["count"] != 7.0 || len(ids) != 1 || last["user"].(map[string]any)["name"] != "bob" {
		t.Errorf("got %d versions of %d alerts, last %v, want versions of one alert ending at count 7 for bob", len(docs), len(ids), corr)
	}
}

// TestReplayNumberBeyondFloat64: an event with a number beyond float64's range matches, and its alert is written with
// the number as it came (it was dead-lettered with an empty payload, and replay aborted on it).
func TestReplayNumberBeyondFloat64(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "r.yml"), "id: t.big\nname: big\nseverity: low\ncondition: x > 5\n")
	input := filepath.Join(dir, "events.jsonl")
	writeTestFile(t, input, `{"x":1e400,"y":{"z":-1e999}}`+"\n"+`{"x":7}`+"\n")
	output := filepath.Join(dir, "alerts.jsonl")
	code, _, stderr := runVigil(t, "replay", "--rules", dir, "--input", input, "--output", output)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, _ := os.ReadFile(output)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"x":1e400`) || !strings.Contains(lines[0], `"z":-1e999`) {
		t.Errorf("got %q, want two alerts, the first with x 1e400 and y.z -1e999 as they came", lines)
	}
}

// TestReplayStopsOnSIGTERM: replay reading a stream that never ends (a FIFO held open) stops on SIGTERM, writes what
// it read and prints its summary.
func TestReplayStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "r.yml"), "id: t.any\nname: any\nseverity: low\ncondition: x > 0\n")
	fifo := filepath.Join(dir, "events")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	output := filepath.Join(dir, "alerts.jsonl")
	c := startChild(t, "replay", "--rules", dir, "--input", fifo, "--output", output)
	var w *os.File
	waitFor(t, 10*time.Second, "replay to open its input", func() bool {
		var err error
		w, err = os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0) // fails (ENXIO) until a reader has it open
		return err == nil
	})
	defer w.Close()
	fmt.Fprintln(w, `{"x":1}`)
	fmt.Fprintln(w, `{"x":2}`)
	waitFor(t, 10*time.Second, "the alerts to be written", func() bool {
		data, _ := os.ReadFile(output)
		return strings.Count(string(data), "\n") == 2
	})
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if code := c.wait(t, replayDrain+shutdownGrace+5*time.Second); code != 0 {
		t.Errorf("exit %d, want 0; log:\n%s", code, c.logs.String())
	}
	if !strings.Contains(c.logs.String(), "replay: 2 events, 2 alerts") {
		t.Errorf("no summary of the two events; log:\n%s", c.logs.String())
	}
}

// TestReplaySuppression: a suppressing rule's matches in `vigil replay` are versions of one alert per window, the
// last with the window's count; a match far behind the newest event is dropped as late, and replay says so.
func TestReplaySuppression(t *testing.T) {
	var events []string
	for _, at := range []string{"10:00:00", "10:01:00", "10:02:00", "10:03:00", "10:04:00", "08:00:00"} {
		events = append(events, fmt.Sprintf(`{"@timestamp":"2026-11-24T%sZ","event":{"outcome":"failure"},"user":{"name":"bob"}}`, at))
	}
	docs, stderr := replayWithStderr(t, `id: t.fail
name: failed logon
severity: medium
condition: event.outcome == "failure"
suppress: {by: [user.name], for: 10m}
`, events)
	windows := map[any]string{} // alert id: its last version's suppression
	for _, d := range docs {
		v := d["vigil"].(map[string]any)
		windows[v["alert"].(map[string]any)["id"]] = fmt.Sprint(v["suppression"])
	}
	want := []string{"map[count:5 end:2026-11-24T10:04:00Z group:map[user.name:bob] start:2026-11-24T10:00:00Z]"}
	if got := slices.Sorted(maps.Values(windows)); !slices.Equal(got, want) {
		t.Errorf("got alerts %q, want %q", got, want)
	}
	if !strings.Contains(stderr, "1 matches of correlation inputs or suppressing rules came more than the allowed lateness (1m0s) after a newer event and were dropped") {
		t.Errorf("stderr does not report the late match:\n%s", stderr)
	}
}

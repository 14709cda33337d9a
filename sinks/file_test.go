package sinks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

func fileTestAlerts() []*vigil.Alert {
	return []*vigil.Alert{
		{ID: "a1", Tenant: "acme", RuleID: "r.one", Time: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
			Doc: map[string]any{"vigil": map[string]any{"alert": map[string]any{"id": "a1", "severity": "high"}},
				"host": map[string]any{"name": "web-01"}, "process": map[string]any{"command_line": "a && b <c>"}}},
		{ID: "a2", Tenant: "acme", RuleID: "r.two", Doc: map[string]any{"vigil": map[string]any{"alert": map[string]any{"id": "a2"}}}},
	}
}

func TestFileSinkAppendsOneDocumentPerLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	for range 2 { // a second run appends
		s, err := NewFile(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(context.Background(), fileTestAlerts()); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4", len(lines))
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lines[0], `"a && b <c>"`) {
		t.Errorf("got %s, want characters written as they are, not HTML-escaped", lines[0])
	}
}

// TestFileSinkTruncate: with Truncate a second run replaces the first run's alerts (one copy of each), a torn last
// line included; without it the second run appends (TestFileSinkAppendsOneDocumentPerLine).
func TestFileSinkTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	if err := os.WriteFile(path, []byte(`{"vigil":{"alert":{"id":"old"}}}`+"\n"+`{"torn`), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s, err := NewFileWith(path, nil, FileOptions{Truncate: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(context.Background(), fileTestAlerts()); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(path)
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var doc struct {
			Vigil struct{ Alert struct{ ID string } }
		}
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		ids = append(ids, doc.Vigil.Alert.ID)
	}
	if got := strings.Join(ids, " "); got != "a1 a2" {
		t.Errorf("alert ids in the file after two runs: got %q, want %q", got, "a1 a2")
	}
	// A device ignores Truncate.
	s, err := NewFileWith(os.DevNull, nil, FileOptions{Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFileSinkToDevNullAndStdout(t *testing.T) {
	s, err := NewFile(os.DevNull, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), fileTestAlerts()); err != nil {
		t.Errorf("writing to %s: %v", os.DevNull, err)
	}
	s.Close()
	var buf bytes.Buffer
	s, _ = NewFile("-", &buf)
	s.Write(context.Background(), fileTestAlerts())
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 2 {
		t.Errorf("stdout: got %d lines, want 2", n)
	}
}

func TestSummaryLine(t *testing.T) {
	got := SummaryLine(fileTestAlerts()[0])
	want := "2026-11-24T09:00:00Z high     acme       r.one host.name=web-01"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDeadLetterFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.jsonl")
	q, err := NewDeadLetterFile(path)
	if err != nil {
		t.Fatal(err)
	}
	err = q.Park(context.Background(), []vigil.DeadLetter{
		{Kind: "event", Reason: "decode", Detail: "decode: not a JSON object", Payload: []byte("not json"),
			Origin: vigil.Origin{Source: "f", File: "in.jsonl", Line: 7}, Tenant: "acme"},
		{Kind: "event", Reason: "decode", Payload: []byte{0xff, 0xfe}},
	})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	f, _ := os.Open(path)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var docs []map[string]any
	for sc.Scan() {
		var d map[string]any
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	if len(docs) != 2 || docs[0]["payload"] != "not json" || docs[0]["reason"] != "decode" ||
		docs[0]["origin"].(map[string]any)["line"] != 7.0 || docs[1]["payload_base64"] != "//4=" {
		t.Errorf("got %v", docs)
	}
}

// TestFileSinkAfterATornLine: a crash in the middle of a write leaves half a line; the next run's first alert must
// start on a new line instead of being glued to it.
func TestFileSinkAfterATornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	os.WriteFile(path, []byte(`{"vigil":{"alert":{"id":"a0"}}}`+"\n"+`{"vigil":{"alert":{"i`), 0o600)
	s, err := NewFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), fileTestAlerts()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var ids []string
	for _, l := range lines {
		var doc struct {
			Vigil struct {
				Alert struct{ ID string } `json:"alert"`
			} `json:"vigil"`
		}
		if json.Unmarshal([]byte(l), &doc) == nil {
			ids = append(ids, doc.Vigil.Alert.ID)
		}
	}
	if strings.Join(ids, ",") != "a0,a1,a2" || len(lines) != 4 {
		t.Errorf("got ids %v in %d lines, want a0,a1,a2 and the torn line on its own:\n%s", ids, len(lines), data)
	}
}

// TestFileSinkAppendsEachVersionOfAnUpdateAlert: every version of an Update alert is a new line with the same id,
// the last line the current version.
func TestFileSinkAppendsEachVersionOfAnUpdateAlert(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	s, err := NewFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 3; v++ {
		if err := s.Write(context.Background(), []*vigil.Alert{growingAlert(1, v)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3 (one per version)", len(lines))
	}
	for i, l := range lines {
		var doc map[string]any
		if err := json.Unmarshal([]byte(l), &doc); err != nil {
			t.Fatal(err)
		}
		if id, count := docPath(doc, "vigil", "alert", "id"), docPath(doc, "vigil", "correlation", "count"); id != "corr-001" || count != float64(i+1) {
			t.Errorf("line %d: got id %v count %v, want corr-001 and %d", i+1, id, count, i+1)
		}
	}
}

// TestFileSinkParksUnencodableAlerts: an alert that cannot be encoded is parked with its record and the rest are
// written; without a dead-letter queue the Write fails.
func TestFileSinkParksUnencodableAlerts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	bad := &vigil.Alert{ID: "bad", RuleID: "r", Tenant: "acme", Doc: map[string]any{"x": math.Inf(1)},
		Event: &vigil.Event{Raw: []byte(`{"x":"the record"}`)}}
	alerts := append([]*vigil.Alert{bad}, fileTestAlerts()...)
	s, err := NewFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), alerts); err == nil {
		t.Errorf("without a dead-letter queue: got no error for an unencodable alert")
	}
	dlq := &memDLQ{}
	s.DeadLetters = dlq
	if err := s.Write(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	s.Close()
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != len(fileTestAlerts()) {
		t.Errorf("got %d lines, want the %d good alerts of the second write (the first failed at once)", n, len(fileTestAlerts()))
	}
	if len(dlq.letters) != 1 || dlq.letters[0].Reason != "encode" || string(dlq.letters[0].Payload) != `{"x":"the record"}` {
		t.Errorf("got letters %+v, want the bad alert's record parked with reason encode", dlq.letters)
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}

// fixedSource hands out its events in one batch, then ends.
type fixedSource struct{ events []*vigil.Event }

func (s *fixedSource) Read(ctx context.Context) ([]*vigil.Event, vigil.AckFunc, error) {
	if len(s.events) == 0 {
		return nil, nil, io.EOF
	}
	ev := s.events
	s.events = nil
	return ev, nil, nil
}

func (s *fixedSource) Close() error { return nil }

// TestProgressLine: the line shows the share of the input read, the rate over the last interval and the alerts;
// messages printed meanwhile erase it first; Stop erases it.
func TestProgressLine(t *testing.T) {
	var raw [][]byte
	for range 4 {
		raw = append(raw, []byte(`{"event":{"id":"x"}}`)) // 20 bytes and a line break each
	}
	var events []*vigil.Event
	for _, r := range raw {
		events = append(events, &vigil.Event{Raw: r, Tenant: "acme"})
	}
	m := newMonitor(slog.New(slog.DiscardHandler))
	p := &vigil.Pipeline{}
	src := m.source("replay", &fixedSource{events: events}, p)
	if _, _, err := src.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.Stats.Events.Add(4000)
	p.Stats.Alerts.Add(1234)
	var out bytes.Buffer
	g := newProgress(&out, src, p, 168) // the 4 events are half of the input
	start := g.start
	got := g.line(start.Add(2 * time.Second))
	want := "replay:  50.0%  4,000 events  2,000 events/s  1,234 alerts  2s  about 2s left"
	if got != want {
		t.Errorf("line:\n got %q\nwant %q", got, want)
	}
	h := newProgress(&out, src, p, 0) // vigil hunt: a label, and a fraction of records in place of bytes
	h.label, h.fraction = "hunt", func() float64 { return 0.25 }
	if got, want := h.line(h.start.Add(2*time.Second)), "hunt:  25.0%  4,000 events  2,000 events/s  1,234 alerts  2s  about 6s left"; got != want {
		t.Errorf("hunt line:\n got %q\nwant %q", got, want)
	}
	p.Stats.Events.Add(500)
	if got := g.line(start.Add(3 * time.Second)); !strings.Contains(got, "  500 events/s") {
		t.Errorf("rate over the last second: %q, want 500 events/s", got)
	}
	g.total = 0
	if got := g.line(start.Add(4 * time.Second)); strings.Contains(got, "%") {
		t.Errorf("input of unknown size: %q shows a percentage", got)
	}

	g.draw(start.Add(5 * time.Second))
	if _, err := g.writer().Write([]byte("skipped line 3: decode\n")); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "\r\033[Kskipped line 3: decode\n") {
		t.Errorf("a message does not erase the line first: %q", out.String())
	}
	g.draw(start.Add(6 * time.Second))
	g.Start()
	g.Stop()
	if !strings.HasSuffix(out.String(), "\r\033[K") {
		t.Errorf("Stop does not erase the line: %q", out.String())
	}
}

// TestReplayQuietWithoutTerminal: when stderr is not a terminal, replay prints only its summary, no progress.
func TestReplayQuietWithoutTerminal(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "r.yml"), "id: test.any\nname: Any\nseverity: low\ncondition: has(event.id)\n")
	input := filepath.Join(dir, "events.jsonl")
	writeTestFile(t, input, strings.Repeat(`{"event":{"id":"x"}}`+"\n", 2000))
	code, stdout, stderr := runVigil(t, "replay", "--rules", dir, "--input", input, "--output", filepath.Join(dir, "alerts.jsonl"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" || strings.ContainsAny(stderr, "\r\033") || !strings.HasPrefix(stderr, "replay: 2000 events, 2000 alerts") {
		t.Errorf("stdout %q, stderr %q: want only the summary", stdout, stderr)
	}
}

// TestShowProgress: progress only on a terminal, and not when the alerts go to that terminal.
func TestShowProgress(t *testing.T) {
	var buf bytes.Buffer
	if showProgress(&buf, &buf, "out.jsonl") {
		t.Error("progress on a buffer")
	}
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if showProgress(f, &buf, "out.jsonl") {
		t.Error("progress on a regular file")
	}
	if got := inputSize(f.Name(), nil); got != 0 {
		t.Errorf("inputSize of an empty file = %d", got)
	}
	writeTestFile(t, f.Name(), "0123456789")
	if got := inputSize(f.Name(), nil); got != 10 {
		t.Errorf("inputSize = %d, want 10", got)
	}
	if got := inputSize("-", strings.NewReader("abc")); got != 0 {
		t.Errorf("inputSize of a stdin that is not a file = %d, want 0", got)
	}
}

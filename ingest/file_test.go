package ingest

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

func readAll(t *testing.T, src vigil.Source) []*vigil.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*vigil.Event
	for {
		evs, _, err := src.Read(ctx)
		out = append(out, evs...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.jsonl")
	os.WriteFile(a, []byte("{\"x\":1}\nnot json\n{\"file.path\":\"/p\"}\n"), 0o600)
	src, err := NewFile("files", FileConfig{Paths: []string{a, "-"}, Tenant: "acme", BatchSize: 2},
		strings.NewReader(`{"y":2}`+"\n"+`"str"`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	evs := readAll(t, src)
	if len(evs) != 5 {
		t.Fatalf("got %d events, want 5", len(evs))
	}
	wantInvalid := []string{"", "decode: not a JSON object", "", "", "decode: not a JSON object"}
	wantOrigin := []string{a + ":1", a + ":2", a + ":3", "-:1", "-:2"}
	for i, ev := range evs {
		if ev.Invalid != wantInvalid[i] || ev.Origin.String() != wantOrigin[i] || ev.Tenant != "acme" {
			t.Errorf("event %d: got invalid %q origin %s tenant %s, want %q %s acme", i, ev.Invalid, ev.Origin, ev.Tenant, wantInvalid[i], wantOrigin[i])
		}
	}
	if p := evs[2].Fields.Lookup("file", "path").Str(); p != "/p" {
		t.Errorf("dotted key: got %v, want /p", p)
	}
}

func TestFileSourceMissingFile(t *testing.T) {
	_, err := NewFile("f", FileConfig{Paths: []string{"/nonexistent/x.jsonl"}, Tenant: "t"}, nil)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/x.jsonl") {
		t.Errorf("got %v, want an error naming the file", err)
	}
}

func TestFileSourceFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.jsonl")
	os.WriteFile(path, []byte(`{"n":1}`+"\n"), 0o600)
	src, err := NewFile("live", FileConfig{Paths: []string{path}, Tenant: "t", Follow: true, PollInterval: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	next := func() *vigil.Event {
		evs, _, err := src.Read(ctx)
		if err != nil || len(evs) != 1 {
			t.Fatalf("got %d events, %v; want 1", len(evs), err)
		}
		return evs[0]
	}
	if ev := next(); ev.Fields.Get("n").Int() != 1 {
		t.Fatalf("first: got %v", ev.Fields.Map())
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"n":`) // half a line: must wait for the rest
	time.Sleep(50 * time.Millisecond)
	f.WriteString("2}\n")
	f.Close()
	if ev := next(); ev.Fields.Get("n").Int() != 2 || ev.Origin.Line != 2 {
		t.Fatalf("appended: got %v at line %d, want n=2 at line 2", ev.Fields.Map(), ev.Origin.Line)
	}
	shortCtx, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, _, err := src.Read(shortCtx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("at the end of a followed file: got %v, want to wait until the context ends", err)
	}
}

func TestFileSourceFollowsEveryFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	os.WriteFile(a, []byte(`{"f":"a"}`+"\n"), 0o600)
	os.WriteFile(b, []byte(`{"f":"b"}`+"\n"), 0o600)
	src, err := NewFile("live", FileConfig{Paths: []string{a, b}, Tenant: "t", Follow: true, PollInterval: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen := map[any]bool{}
	for len(seen) < 2 {
		evs, _, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("got %v after %v, want both files' events while following", err, seen)
		}
		for _, ev := range evs {
			seen[ev.Fields.Get("f").Interface()] = true
		}
	}
}

func TestFileSourceRejectsInvalidTenant(t *testing.T) {
	_, err := NewFile("f", FileConfig{Paths: []string{"-"}, Tenant: "ACME Corp"}, nil)
	if err == nil || !strings.Contains(err.Error(), `tenant "ACME Corp"`) {
		t.Errorf("got %v, want an error naming the tenant", err)
	}
}

package enrich

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/rules"
)

func TestTableReloadKeepsOldVersionOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ind.txt")
	writeFile(t, path, "203.0.113.1\n")
	ti := NewThreatIntel(ThreatIntelConfig{Files: []string{path}})
	tb := ti.Table
	if err := tb.Reload(); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		content   string
		wantErr   string
		wantMatch string // an address that must match after the step
	}{
		{"203.0.113.1\n203.0.113.2\n", "", "203.0.113.2"},
		{"203.0.113.3\nbogus value\n", "ind.txt:2:", "203.0.113.2"}, // invalid: the previous version stays
		{"", "", ""}, // an empty file is a valid, empty table
		{"203.0.113.4\n", "", "203.0.113.4"},
	}
	for i, s := range steps {
		replaceFile(t, path, s.content)
		changed, err := tb.ReloadIfChanged()
		if !changed {
			t.Fatalf("step %d: file change not noticed", i)
		}
		if s.wantErr == "" && err != nil || s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)) {
			t.Fatalf("step %d: got error %v, want %q", i, err, s.wantErr)
		}
		if s.wantMatch != "" && !found(ti.MatchIP(netip.MustParseAddr(s.wantMatch))) {
			t.Errorf("step %d: %s does not match", i, s.wantMatch)
		}
		if changed, _ := tb.ReloadIfChanged(); changed {
			t.Errorf("step %d: an unchanged file was reloaded again", i)
		}
	}
	if found(ti.MatchIP(netip.MustParseAddr("203.0.113.2"))) {
		t.Error("203.0.113.2 still matches after the last valid reload")
	}
	if got, want := tb.Stats.Loads.Load(), int64(4); got != want {
		t.Errorf("got %d loads, want %d", got, want)
	}
	if got := tb.Stats.Errors.Load(); got != 1 {
		t.Errorf("got %d errors, want 1", got)
	}
	if got := tb.Stats.Entries.Load(); got != 1 {
		t.Errorf("got %d entries, want 1", got)
	}
}

func TestTableMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assets.csv")
	tb := NewTable("assets", []string{path}, LoadInventory)
	if err := tb.Reload(); err == nil || !strings.Contains(err.Error(), "assets.csv") {
		t.Fatalf("got %v, want an error naming the file", err)
	}
	if tb.Get() != nil {
		t.Error("got a table, want none")
	}
	writeFile(t, path, "asset\n10.0.0.1\n")
	if changed, err := tb.ReloadIfChanged(); !changed || err != nil {
		t.Fatalf("got %v %v, want a reload once the file exists", changed, err)
	}
	if tb.Get().Len() != 1 {
		t.Errorf("got %d entries, want 1", tb.Get().Len())
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatcher(t *testing.T) {
	for _, tc := range []struct {
		name  string
		watch bool
		poll  time.Duration
		write func(t testing.TB, path, content string)
	}{
		{"notify, rename over", true, 0, replaceFile},
		{"notify, write in place", true, 0, writeFile},
		{"poll only", false, 20 * time.Millisecond, replaceFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ind.txt")
			writeFile(t, path, "203.0.113.1\n")
			ti := NewThreatIntel(ThreatIntelConfig{Files: []string{path}})
			if err := ti.Table.Reload(); err != nil {
				t.Fatal(err)
			}
			w := NewWatcher(ReloadConfig{Watch: &tc.watch, PollInterval: tc.poll, Debounce: 10 * time.Millisecond},
				slog.New(slog.NewTextHandler(io.Discard, nil)), ti.Tables()...)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			time.Sleep(20 * time.Millisecond) // let the watcher start
			tc.write(t, path, "203.0.113.1\n203.0.113.2\n")
			waitFor(t, "the new indicator", func() bool { return found(ti.MatchIP(netip.MustParseAddr("203.0.113.2"))) })
			tc.write(t, path, "not an indicator\n")
			waitFor(t, "the failed reload", func() bool { return ti.Table.Stats.Errors.Load() == 1 })
			if !found(ti.MatchIP(netip.MustParseAddr("203.0.113.2"))) {
				t.Error("the previous version was not kept")
			}
		})
	}
}

// TestReloadWhileAlertsFlow swaps valid and invalid files while goroutines enrich alerts and evaluate lookups: every
// alert is enriched from one complete version, none fails, and the race detector sees no data race.
func TestReloadWhileAlertsFlow(t *testing.T) {
	dir := t.TempDir()
	indPath, invPath := filepath.Join(dir, "ind.csv"), filepath.Join(dir, "assets.csv")
	// Version A lists 203.0.113.1 and 203.0.113.2; version B lists 203.0.113.3 and 203.0.113.4. An alert holding
	// .1 and .3 is thus enriched with exactly one indicator, whichever version it saw.
	versionA := "value,provider\n203.0.113.1,A\n203.0.113.2,A\n"
	versionB := "value,provider\n203.0.113.3,B\n203.0.113.4,B\n"
	writeFile(t, indPath, versionA)
	writeFile(t, invPath, "asset,owner\n10.0.0.0/8,A\n")
	ti := NewThreatIntel(ThreatIntelConfig{Files: []string{indPath}})
	assets := NewAssets(AssetsConfig{Files: []string{invPath}})
	geo := newTestGeoIP(t)
	w := NewWatcher(ReloadConfig{}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		append(append(ti.Tables(), assets.Tables()...), geo.Tables()...)...)
	w.CheckAll()
	if ti.Table.Get() == nil || assets.Shared.Get() == nil {
		t.Fatal("tables not loaded")
	}
	env, err := rules.NewEnv(rules.WithLibrary(Library(geo, assets, ti)))
	if err != nil {
		t.Fatal(err)
	}
	// Each condition holds in every valid version.
	cond := compileCondition(t, env, `ioc.ip(["203.0.113.1", "203.0.113.3"]) && asset(host.ip).owner != ""`+
		` && geoip(destination.ip).country_iso_code == "XR"`)
	ev := eventFrom(t, "acme", `{"host": {"ip": "10.1.1.1"}, "destination": {"ip": "203.0.113.3"}}`)

	var stop atomic.Bool
	var enriched, bad atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if !cond.Match(ev) {
				bad.Add(1)
			}
		}
	}()
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				a := &vigil.Alert{Tenant: "acme", Doc: map[string]any{
					"source":      map[string]any{"ip": "203.0.113.1"},
					"destination": map[string]any{"ip": "203.0.113.3"},
					"host":        map[string]any{"ip": "10.1.1.1"},
				}}
				for _, e := range []vigil.Enricher{geo, assets, ti} {
					if err := e.Enrich(context.Background(), a); err != nil {
						bad.Add(1)
					}
				}
				th, _ := vigil.Get(a.Doc, "threat").(map[string]any)
				if th == nil || len(th["enrichments"].([]any)) != 1 || a.Doc["vigil"] == nil {
					bad.Add(1)
				}
				enriched.Add(1)
			}
		}()
	}
	versions := []string{versionB, "value\nnot-an-indicator!\n", versionA, versionB, "type,value\nipv4,::1\n", versionA}
	for i, v := range versions {
		replaceFile(t, indPath, v)
		replaceFile(t, invPath, "asset,owner\n10.0.0.0/8,"+string(rune('A'+i))+"\n")
		time.Sleep(2 * time.Millisecond)
		w.CheckAll()
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if enriched.Load() == 0 {
		t.Fatal("no alert was enriched during the reloads")
	}
	if bad.Load() > 0 {
		t.Errorf("%d of %d alerts were not enriched from one complete version", bad.Load(), enriched.Load())
	}
	if got := ti.Table.Stats.Errors.Load(); got != 2 {
		t.Errorf("got %d failed reloads, want 2", got)
	}
	if got := ti.Table.Stats.Loads.Load(); got != 5 {
		t.Errorf("got %d loads, want 5 (the first and four valid versions)", got)
	}
	if !found(ti.MatchIP(netip.MustParseAddr("203.0.113.1"))) {
		t.Error("the last valid version (A) is not in place")
	}
}

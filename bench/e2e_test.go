package bench

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/sinks"
)

// TestE2ERuleFiles checks that the rule files the benchmark writes load as `vigil run` loads them, and that the two
// rule sets give the alert rates they are named for on the workload's events.
func TestE2ERuleFiles(t *testing.T) {
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	w := NewE2EWorkload(5000, 3, 1, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	for rate, band := range map[string][2]float64{RateRealistic: {0.4, 2}, RateStorm: {12, 28}} {
		rs, err := E2ERules(rate)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "rules.yml")
		if err := os.WriteFile(path, RuleFile(rs), 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := env.LoadSetWith([]string{path}, nil)
		if err != nil {
			t.Fatalf("%s: %v", rate, err)
		}
		if got := len(set.Rules()); got != len(rs) {
			t.Fatalf("%s: got %d rules from the file, want %d", rate, got, len(rs))
		}
		engine := rules.NewEngine(set)
		var alerts []*vigil.Alert
		n := 0
		for i, raw := range w.Events {
			tree, err := fields.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			alerts = engine.Detect(&vigil.Event{Raw: raw, Fields: tree, Tenant: w.Tenant(i)}, alerts[:0])
			n += len(alerts)
			tree.Release()
		}
		if pct := 100 * float64(n) / float64(len(w.Events)); pct < band[0] || pct > band[1] {
			t.Errorf("%s: got %.2f%% alerts, want %.1f-%.1f%%", rate, pct, band[0], band[1])
		}
	}
	if _, err := E2ERules("flood"); err == nil {
		t.Error("an unknown rate gave no error")
	}
}

func TestE2EWorkloadTenants(t *testing.T) {
	w := NewE2EWorkload(10, 3, 1, time.Now())
	by := w.ByTenant()
	if len(by) != 3 || w.Tenant(4) != "tenant01" {
		t.Fatalf("got %d tenants, event 4 of %s; want 3, tenant01", len(by), w.Tenant(4))
	}
	lines := 0
	for _, b := range by {
		for _, c := range b {
			if c == '\n' {
				lines++
			}
		}
	}
	if lines != 10 {
		t.Errorf("got %d lines over the tenants' files, want 10", lines)
	}
}

// TestProcFigures reads this process's CPU time and peak RSS, and finds it as the listener of a port.
func TestProcFigures(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	cpu, err := CPUSeconds(os.Getpid())
	if err != nil || cpu < 0 {
		t.Fatalf("CPUSeconds: %v, %v", cpu, err)
	}
	rss, err := PeakRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("PeakRSS: %d, %v", rss, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pid, err := ListeningPID(port(l.Addr().String()))
	if err != nil || pid != os.Getpid() {
		t.Fatalf("ListeningPID: got %d, %v; want %d", pid, err, os.Getpid())
	}
	if port("http://127.0.0.1:39201") != 39201 {
		t.Error("port of a URL")
	}
}

func TestMetricValue(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# HELP vigil_events_read_total x\nvigil_events_read_total{tenant=\"a\"} 3\n"+
			"vigil_events_read_total{tenant=\"b\"} 4\nvigil_events_read_total_bytes 100\n")
	})}
	go srv.Serve(l)
	defer srv.Close()
	got, err := metricValue(t.Context(), l.Addr().String(), "vigil_events_read_total")
	if err != nil || got != 7 {
		t.Fatalf("got %v, %v; want 7", got, err)
	}
}

func TestRunSettings(t *testing.T) {
	s, err := ParseRunSettings("max_in_flight=16, batch_size=2000")
	if err != nil || s != (RunSettings{BatchSize: 2000, MaxInFlight: 16}) {
		t.Fatalf("got %+v, %v", s, err)
	}
	if s.String() != "batch_size=2000,max_in_flight=16" || (RunSettings{}).String() != "defaults" {
		t.Errorf("String: got %q", s.String())
	}
	if got := s.sourceYAML() + s.pipelineYAML(); got != "      batch_size: 2000\npipeline: {max_in_flight: 16}\n" {
		t.Errorf("YAML: got %q", got)
	}
	if r, err := ParseRunSettings("retry_max_backoff=5s"); err != nil || r.sinkYAML() != ", retry_max_backoff: 5s" ||
		r.String() != "retry_max_backoff=5s" {
		t.Errorf("retry_max_backoff: got %+v, %v", r, err)
	}
	w, err := ParseRunSettings("workers=8,flush_interval=20ms")
	if err != nil || w.sinkYAML() != ", workers: 8, flush_interval: 20ms" || w.String() != "workers=8,flush_interval=20ms" {
		t.Errorf("sink settings: got %+v (%q), %v", w, w.sinkYAML(), err)
	}
	if cfg := w.sink(sinks.ElasticsearchConfig{}); cfg.Workers != 8 || *cfg.FlushInterval != 20*time.Millisecond {
		t.Errorf("sink config: got %+v", cfg)
	}
	for _, bad := range []string{"batch_size=0", "threads=2", "max_in_flight", "retry_max_backoff=soon", "flush_interval=0s"} {
		if _, err := ParseRunSettings(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

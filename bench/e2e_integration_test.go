//go:build integration

package bench_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/vigilsoc/vigil/bench"
	"github.com/vigilsoc/vigil/sinks"
	"github.com/vigilsoc/vigil/testenv"
)

// TestBenchE2EAccounting runs a small `vigil bench e2e` (the built binary as `vigil run` and `vigil replay`) against
// the real broker and every search engine, and checks its accounting from the outside: every alert id replay gives
// is stored exactly once, nothing else is stored, and the report says the same; so the benchmark cannot report a rate
// for a run that lost or duplicated alerts.
func TestBenchE2EAccounting(t *testing.T) {
	addr := testenv.Kafka(t)
	var targets []bench.SearchTarget
	for _, e := range testenv.SearchEngines(t) {
		targets = append(targets, bench.SearchTarget{Flavor: e.Flavor, URL: e.URL})
	}
	bin := buildVigil(t)
	name := testenv.UniqueName(t, "vigil-bench-")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	rep, err := bench.RunE2E(ctx, bench.E2EOptions{Vigil: bin, Kafka: addr, Search: targets, Events: 3000, Tenants: 3,
		Partitions: 6, BulkWorkers: []int{2}, Dir: t.TempDir(), Name: name, Keep: true, Timeout: 5 * time.Minute,
		Log: testLog{t}})
	t.Cleanup(func() {
		if err := bench.DeleteTopic(context.Background(), addr, name+"-events"); err != nil {
			t.Logf("delete topic: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Source.Items != 3000 || rep.Source.PerSec <= 0 {
		t.Errorf("kafka source alone: got %d records at %.0f/s, want 3000", rep.Source.Items, rep.Source.PerSec)
	}
	if len(rep.Rates) != 2 {
		t.Fatalf("got %d alert rates, want 2", len(rep.Rates))
	}
	bands := map[string][2]float64{bench.RateRealistic: {0.3, 3}, bench.RateStorm: {10, 30}}
	for _, r := range rep.Rates {
		if b := bands[r.Rate]; r.AlertPct < b[0] || r.AlertPct > b[1] {
			t.Errorf("%s: got %.2f%% alerts, want %.1f-%.1f%%", r.Rate, r.AlertPct, b[0], b[1])
		}
		if r.Detection.Items != 3000 || len(r.Expected) != r.Alerts || r.Alerts == 0 {
			t.Errorf("%s: detection read %d events, %d alerts, %d distinct ids", r.Rate, r.Detection.Items, r.Alerts, len(r.Expected))
		}
		if len(r.Engines) != len(targets) {
			t.Fatalf("%s: got %d engines, want %d", r.Rate, len(r.Engines), len(targets))
		}
		for i, e := range r.Engines {
			tp, err := sinks.NewSearchTransport(sinks.ElasticsearchConfig{Flavor: e.Flavor, URLs: []string{targets[i].URL}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := bench.DeleteIndices(context.Background(), tp, e.Run.IndexPrefix+"-*", e.Run.IndexPrefix); err != nil {
					t.Logf("delete indices: %v", err)
				}
			})
			checkStored(t, r, e, tp)
			if e.Run.EventsPerSec <= 0 || e.Sink.PerSec <= 0 || e.BulkBest.PerSec <= 0 || e.EndToEndRatio <= 0 {
				t.Errorf("%s %s: a rate is missing: %+v", r.Rate, e.Flavor, e)
			}
		}
	}
}

// checkStored reads back the ids stored by the end-to-end run and compares them with replay's.
func checkStored(t *testing.T, r bench.E2ERate, e bench.E2EEngine, tp esapi.Transport) {
	t.Helper()
	stored, err := bench.StoredIDs(context.Background(), tp, e.Run.IndexPrefix+"-*")
	if err != nil {
		t.Fatalf("%s %s: %v", r.Rate, e.Flavor, err)
	}
	missing, twice, extra := 0, 0, 0
	for id := range r.Expected {
		switch stored[id] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	for id := range stored {
		if _, ok := r.Expected[id]; !ok {
			extra++
		}
	}
	if missing+twice+extra > 0 || len(stored) != len(r.Expected) {
		t.Errorf("%s %s: %d alerts expected, %d ids stored: %d missing, %d stored more than once, %d not expected",
			r.Rate, e.Flavor, len(r.Expected), len(stored), missing, twice, extra)
	}
	if e.Run.Missing != missing || e.Run.Duplicated != twice || e.Run.Unexpected != extra || e.Run.DeadLetters != 0 {
		t.Errorf("%s %s: the report says %d missing, %d duplicated, %d unexpected, %d dead letters; read back: %d, %d, %d",
			r.Rate, e.Flavor, e.Run.Missing, e.Run.Duplicated, e.Run.Unexpected, e.Run.DeadLetters, missing, twice, extra)
	}
}

// buildVigil compiles the command into a temporary folder.
func buildVigil(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/vigilsoc/vigil/cmd/vigil").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// testLog writes the benchmark's progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(string(p))
	return len(p), nil
}

// TestBenchScaleAccounting runs 2 and then 4 instances of `vigil run` in one consumer group over a 12-partition topic
// (the benchmark's scale runs): each instance reads its share of the records, and every alert replay gives is
// stored exactly once, nothing else.
func TestBenchScaleAccounting(t *testing.T) {
	addr := testenv.Kafka(t)
	engines := testenv.SearchEngines(t)
	target := bench.SearchTarget{Flavor: engines[0].Flavor, URL: engines[0].URL}
	bin := buildVigil(t)
	name := testenv.UniqueName(t, "vigil-bench-")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	rep, err := bench.RunE2E(ctx, bench.E2EOptions{Vigil: bin, Kafka: addr, Search: []bench.SearchTarget{target},
		Events: 6000, Tenants: 3, Partitions: 12, Rates: []string{bench.RateStorm}, BulkWorkers: []int{2},
		Dir: t.TempDir(), Name: name, Timeout: 5 * time.Minute, Scale: []int{2, 4}, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scale) != 2 {
		t.Fatalf("got %d scale runs, want 2", len(rep.Scale))
	}
	for _, sc := range rep.Scale {
		var total int64
		for _, n := range sc.Events {
			total += n
		}
		if len(sc.Events) != sc.Instances || total < 6000 || sc.Spread > 1.25 || sc.Spread < 1 {
			t.Errorf("%d instances: events read per instance %v (spread %.2f), want %d instances splitting 6000 events evenly",
				sc.Instances, sc.Events, sc.Spread, sc.Instances)
		}
		want := rep.Rates[0].Alerts
		if sc.Missing+sc.Duplicated+sc.Unexpected > 0 || sc.Stored != want {
			t.Errorf("%d instances: %d stored of %d alerts: %d missing, %d duplicated, %d unexpected", sc.Instances,
				sc.Stored, want, sc.Missing, sc.Duplicated, sc.Unexpected)
		}
	}
}

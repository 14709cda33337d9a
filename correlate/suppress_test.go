package correlate

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/rules"
)

// suppressed is the failed-logon rule of the tests, suppressed per user for 10 minutes.
const suppressed = `
id: quietfail
name: failed logon, suppressed
severity: medium
condition: event.outcome == "failure"
suppress: {by: [user.name], for: 10m}
`

// suppressedAlerts is the visible state of one suppressed alert: its first match's event id and the suppression fields.
func suppressedAlerts(t *testing.T, set *rules.RuleSet, cfg Config, events []map[string]any) map[string]string {
	t.Helper()
	alerts, err := Replay(set, cfg, nil, events, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range only(alerts, "quietfail") {
		out[a.ID] = fmt.Sprint(vigil.Get(a.Doc, "seq"), " ", vigil.Get(a.Doc, "vigil", "suppression"))
	}
	return out
}

func TestSuppression(t *testing.T) {
	set := testSet(t, suppressed)
	events := cat(series(0, time.Minute, 4, "failure", "bob", "1.1.1.1"), // 0-3m: one alert of count 4
		series(30*time.Second, time.Minute, 2, "failure", "eve", "1.1.1.1"), // another group
		series(10*time.Minute, time.Minute, 2, "failure", "bob", "1.1.1.1"), // the window ended at 10m: a new alert
		series(0, time.Minute, 1, "success", "bob", "1.1.1.1"))
	slices.SortStableFunc(events, compareTime)
	got := suppressedAlerts(t, set, Config{}, events)
	want := []string{
		"0sfailurebob1.1.1.1 map[count:4 end:2026-12-01T10:03:00Z group:map[user.name:bob] start:2026-12-01T10:00:00Z]",
		"30sfailureeve1.1.1.1 map[count:2 end:2026-12-01T10:01:30Z group:map[user.name:eve] start:2026-12-01T10:00:30Z]",
		"10m0sfailurebob1.1.1.1 map[count:2 end:2026-12-01T10:11:00Z group:map[user.name:bob] start:2026-12-01T10:10:00Z]",
	}
	if vals := slices.Sorted(maps.Values(got)); !slices.Equal(vals, slices.Sorted(slices.Values(want))) {
		t.Fatalf("got %q, want %q", vals, want)
	}
	// the alert keeps its first match's id and document; only vigil.suppression changes
	first, err := rules.TestEvent(events[0], rules.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, a := range rules.NewEngine(set).Detect(first, nil) {
		if a.RuleID == "quietfail" {
			id = a.ID
		}
	}
	if v, ok := got[id]; !ok || v != want[0] {
		t.Errorf("alert %s: got %q, want bob's first alert %q under its first match's id", id, v, want[0])
	}

	// Any arrival order within the allowed lateness gives the same alerts, ids and counts.
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 20 {
		shuffled := slices.Clone(events)
		slices.SortStableFunc(shuffled, func(a, b map[string]any) int {
			return tsOf(a).Add(time.Duration(rng.Int64N(int64(50 * time.Second)))).Compare(tsOf(b))
		})
		if g := suppressedAlerts(t, set, Config{}, shuffled); !maps.Equal(g, got) {
			t.Fatalf("round %d: got %v, want %v", round, g, got)
		}
	}
}

func TestSuppressionMissing(t *testing.T) {
	for _, tc := range []struct {
		missing string
		alerts  int
	}{{"group", 1}, {"skip", 3}} {
		set := testSet(t, fmt.Sprintf(`
id: quietfail
name: failed logon, suppressed
severity: medium
condition: event.outcome == "failure"
suppress: {by: [host.name], for: 1h, missing: %s}
`, tc.missing))
		alerts, err := Replay(set, Config{}, nil, series(0, time.Minute, 3, "failure", "bob", "1.1.1.1"), "")
		if err != nil {
			t.Fatal(err)
		}
		got := only(alerts, "quietfail")
		if len(got) != tc.alerts {
			t.Errorf("missing: %s: got %d alerts, want %d", tc.missing, len(got), tc.alerts)
			continue
		}
		if s := vigil.Get(got[0].Doc, "vigil", "suppression"); (tc.missing == "skip") != (s == nil) {
			t.Errorf("missing: %s: got vigil.suppression %v", tc.missing, s)
		}
	}
}

// TestSuppressionRestore: an instance that dies after any batch, restored from the changelog and fed again from the
// batch in flight, ends with the suppressed alerts (ids, counts, documents) of an instance that never died. Batch i
// stands for the match partition's offset i: the restored partition skips what its checkpoint says it applied.
func TestSuppressionRestore(t *testing.T) {
	set := testSet(t, suppressed)
	detector := rules.NewEngine(set)
	var batches [][]*vigil.Alert
	for b := range 30 {
		var batch []*vigil.Alert
		for i := range 10 {
			n := b*10 + i
			ev, err := rules.TestEvent(ev(time.Duration(n)*20*time.Second, "failure", fmt.Sprint("u", n%4), "1.1.1.1"), "acme")
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, detector.Detect(ev, nil)...)
		}
		batches = append(batches, batch)
	}
	// the match records of the batches, through the record encoding as on the match topic
	e := New(set, Config{})
	recs := make([][]Record, len(batches))
	for i, batch := range batches {
		var plain []Record
		for _, a := range batch {
			plain = e.Records(a, plain)
		}
		for _, r := range plain {
			var dec Record
			if err := dec.UnmarshalBinary(r.AppendBinary(nil)); err != nil {
				t.Fatal(err)
			}
			recs[i] = append(recs[i], dec)
		}
	}
	if want := crashes(t, set, recs, 4); len(want) < 4 {
		t.Fatalf("got %d suppressed alerts, want several windows of each user: %v", len(want), want)
	}
}

// TestSuppressedCorrelation: a correlation's suppress folds the group's next bursts within suppress.for into its first
// alert (a new version of it, vigil.suppression.count one more), while the correlations naming it see every burst.
func TestSuppressedCorrelation(t *testing.T) {
	set := testSet(t, bruteForce+`suppress: {for: 1h}
---
id: twice
name: two brute forces
severity: critical
correlation:
  type: event_count
  rules: [brute]
  group_by: [user.name]
  timespan: 2h
  condition: {gte: 2}
  generate: true
`)
	events := cat(series(0, 12*time.Second, 10, "failure", "bob", "1.2.3.4"), // a burst of 10
		series(20*time.Minute, time.Second, 5, "failure", "bob", "1.2.3.4"), // 20 minutes later: folded into the first alert
		series(70*time.Minute, time.Second, 6, "failure", "bob", "1.2.3.4"), // after the hour: a new alert
		series(3*time.Hour, time.Second, 1, "failure", "eve", "1.2.3.4"))    // the data goes on: every window is decided
	alerts, err := Replay(set, Config{}, nil, events, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range only(alerts, "brute") {
		got = append(got, fmt.Sprint(vigil.Get(a.Doc, "vigil", "correlation", "count"), " ",
			vigil.Get(a.Doc, "vigil", "suppression", "count"), " ", vigil.Get(a.Doc, "vigil", "suppression", "start")))
	}
	want := []string{"5 2 2026-12-01T10:00:48Z", "6 1 2026-12-01T11:10:04Z"}
	if !slices.Equal(got, want) {
		t.Errorf("brute: got %q, want %q (count of the last burst, bursts folded, first match)", got, want)
	}
	// The folded alert keeps its first burst's time: its versions stay in one daily index.
	if b := only(alerts, "brute"); len(b) == 2 && !b[0].Time.Equal(time.Date(2026, 12, 1, 10, 0, 48, 0, time.UTC)) {
		t.Errorf("brute: got the folded alert's time %v, want its first burst's, 10:00:48", b[0].Time)
	}
	if tw := only(alerts, "twice"); len(tw) != 1 || vigil.Get(tw[0].Doc, "vigil", "correlation", "count") != int64(3) {
		t.Errorf("twice: got %d alerts (%v), want one of count 3: it sees each of the three bursts", len(tw), describeAlerts(tw, "correlation"))
	}
}

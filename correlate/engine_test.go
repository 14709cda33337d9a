package correlate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/rules"
)

// inputs are the single-event rules the tests correlate.
const inputs = `
id: fail
name: failed logon
severity: low
condition: event.outcome == "failure"
---
id: ok
name: successful logon
severity: low
condition: event.outcome == "success"
---
id: conn
name: connection
severity: low
condition: event.category == "network"
`

func testSet(t *testing.T, corr string) *rules.RuleSet {
	t.Helper()
	rs, err := rules.Parse("test.yml", []byte(inputs+"---\n"+corr))
	if err != nil {
		t.Fatal(err)
	}
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	set, err := env.CompileSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// ev makes an event at t0+at of outcome (or category network when outcome is "network") for user and address.
func ev(at time.Duration, outcome, user, ip string) map[string]any {
	e := map[string]any{"@timestamp": t0.Add(at).Format(time.RFC3339Nano), "user": map[string]any{"name": user},
		"source": map[string]any{"ip": ip}, "seq": fmt.Sprint(at, outcome, user, ip)}
	if outcome == "network" {
		e["event"] = map[string]any{"category": "network"}
	} else {
		e["event"] = map[string]any{"outcome": outcome}
	}
	return e
}

// series makes n events of outcome for user, step apart from at.
func series(at, step time.Duration, n int, outcome, user, ip string) []map[string]any {
	var out []map[string]any
	for i := range n {
		out = append(out, ev(at+time.Duration(i)*step, outcome, user, ip))
	}
	return out
}

type got struct {
	count int64
	group map[string]any
	value any
}

func correlations(t *testing.T, set *rules.RuleSet, cfg Config, events []map[string]any, rule string) []got {
	t.Helper()
	events = slices.Clone(events)
	slices.SortStableFunc(events, compareTime) // arrival in time order; TestOutOfOrderWithinLateness shuffles
	alerts, err := Replay(set, cfg, nil, events, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []got
	for _, a := range alerts {
		if a.RuleID == rule {
			g := got{count: vigil.Get(a.Doc, "vigil", "correlation", "count").(int64),
				group: vigil.Get(a.Doc, "vigil", "correlation", "group").(map[string]any),
				value: vigil.Get(a.Doc, "vigil", "correlation", "value")}
			out = append(out, g)
		}
	}
	return out
}

func counts(gs []got) []int64 {
	var out []int64
	for _, g := range gs {
		out = append(out, g.count)
	}
	return out
}

func cat(parts ...[]map[string]any) []map[string]any {
	var out []map[string]any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

const bruteForce = `
id: brute
name: brute force
severity: high
correlation:
  type: event_count
  rules: [fail]
  group_by: [user.name]
  timespan: 5m
  condition: {gte: 5}
`

func TestCorrelationTypes(t *testing.T) {
	tests := []struct {
		name   string
		rule   string
		events []map[string]any
		want   []int64
	}{
		{"ten failures in two minutes are one alert of count 10", bruteForce,
			series(0, 12*time.Second, 10, "failure", "bob", "1.2.3.4"), []int64{10}},
		{"four failures are none", bruteForce, series(0, time.Second, 4, "failure", "bob", "1.2.3.4"), nil},
		{"five spread over more than the timespan are none", bruteForce,
			series(0, 76*time.Second, 5, "failure", "bob", "1.2.3.4"), nil},
		{"a second burst twenty minutes later is a second alert", bruteForce,
			cat(series(0, 12*time.Second, 10, "failure", "bob", "1.2.3.4"),
				series(20*time.Minute, time.Second, 5, "failure", "bob", "1.2.3.4")), []int64{10, 5}},
		{"groups are apart", bruteForce,
			cat(series(0, time.Second, 3, "failure", "bob", "1.2.3.4"), series(0, time.Second, 3, "failure", "eve", "1.2.3.4")), nil},
		{"the burst takes what comes within the timespan after the match, then starts afresh", bruteForce,
			// a match at 4m (0-4m), the burst takes 5-8m (9m is its end), then 9-13m match again and 14m joins
			series(0, time.Minute, 15, "failure", "bob", "1.2.3.4"), []int64{9, 6}},
		{"value_count: distinct users from one address", `
id: spray
name: password spray
severity: high
correlation:
  type: value_count
  rules: [fail]
  group_by: [source.ip]
  timespan: 10m
  condition: {field: user.name, gte: 3}
`, cat(series(0, time.Second, 5, "failure", "a", "9.9.9.9"), series(time.Minute, time.Second, 1, "failure", "b", "9.9.9.9"),
			series(2*time.Minute, time.Second, 1, "failure", "c", "9.9.9.9"), series(3*time.Minute, time.Second, 2, "failure", "c", "8.8.8.8")), []int64{7}},
		{"temporal: both rules in any order", `
id: both
name: both
severity: medium
correlation:
  type: temporal
  rules: [fail, ok]
  group_by: [user.name]
  timespan: 5m
`, cat(series(0, time.Second, 1, "success", "bob", "1.1.1.1"), series(time.Minute, time.Second, 1, "failure", "bob", "1.1.1.1"),
			series(0, time.Second, 1, "success", "eve", "1.1.1.1")), []int64{2}},
		{"temporal_ordered: failure then success", `
id: then
name: then
severity: high
correlation:
  type: temporal_ordered
  rules: [fail, ok]
  group_by: [user.name]
  timespan: 5m
`, cat(series(0, time.Second, 1, "failure", "bob", "1.1.1.1"), series(time.Minute, time.Second, 1, "success", "bob", "1.1.1.1"),
			series(0, time.Second, 1, "success", "eve", "1.1.1.1"), series(time.Minute, time.Second, 1, "failure", "eve", "1.1.1.1")), []int64{2}},
		{"event_count lt: decided when the window closes", `
id: few
name: few
severity: low
correlation:
  type: event_count
  rules: [conn]
  group_by: [user.name]
  timespan: 10m
  condition: {lt: 3}
`, cat(series(0, time.Minute, 2, "network", "bob", "1.1.1.1"), series(0, time.Minute, 5, "network", "eve", "1.1.1.1")), []int64{2}},
		{"a range: gt 2 and lte 4", `
id: range
name: range
severity: low
correlation:
  type: event_count
  rules: [conn]
  group_by: [user.name]
  timespan: 10m
  condition: {gt: 2, lte: 4}
`, cat(series(0, time.Minute, 3, "network", "a", "1.1.1.1"), series(0, time.Minute, 5, "network", "b", "1.1.1.1"),
			series(0, time.Minute, 2, "network", "c", "1.1.1.1")), []int64{3}},
		{"absence: a failure followed by no success", `
id: nosuccess
name: no success
severity: low
correlation:
  type: absence
  rules: [fail]
  followed_by: [ok]
  group_by: [user.name]
  timespan: 10m
`, cat(series(0, time.Second, 1, "failure", "bob", "1.1.1.1"), series(0, time.Second, 1, "failure", "eve", "1.1.1.1"),
			series(5*time.Minute, time.Second, 1, "success", "eve", "1.1.1.1")), []int64{1}},
		{"absence without followed_by: silence after the last one", `
id: silent
name: silent
severity: medium
correlation:
  type: absence
  rules: [conn]
  group_by: [user.name]
  timespan: 15m
`, cat(series(0, time.Minute, 30, "network", "bob", "1.1.1.1"), series(0, 10*time.Minute, 4, "network", "eve", "1.1.1.1")), []int64{1, 1}},
		{"value_sum", `
id: sum
name: sum
severity: low
correlation:
  type: value_sum
  rules: [conn]
  group_by: [user.name]
  timespan: 1h
  condition: {field: bytes, gt: 100}
`, func() []map[string]any {
			var out []map[string]any
			for i, n := range []int{40, 40, 30, 10} {
				e := ev(time.Duration(i)*time.Minute, "network", "bob", "1.1.1.1")
				e["bytes"] = n
				out = append(out, e)
			}
			return out
		}(), []int64{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := testSet(t, tt.rule)
			id := set.Correlations()[0].ID
			// matches of another group hours later: the data goes on past every window, so each is decided
			events := append(tt.events, ev(3*time.Hour, "success", "zz", "9.9.9.9"), ev(3*time.Hour, "network", "zz", "9.9.9.9"))
			if got := counts(correlations(t, set, Config{}, events, id)); !slices.Equal(got, tt.want) {
				t.Errorf("got alert counts %v, want %v", got, tt.want)
			}
		})
	}
}

// TestOutOfOrderWithinLateness: any arrival order within the allowed lateness gives the alerts of in-order arrival,
// ids included.
func TestOutOfOrderWithinLateness(t *testing.T) {
	set := testSet(t, bruteForce)
	var events []map[string]any
	for _, u := range []string{"a", "b", "c"} {
		events = append(events, series(0, 7*time.Second, 23, "failure", u, "1.1.1.1")...)
		events = append(events, series(9*time.Minute, 3*time.Second, 7, "failure", u, "1.1.1.1")...)
	}
	slices.SortStableFunc(events, compareTime)
	want := ids(t, set, events)
	if len(want) != 6 {
		t.Fatalf("in order: got %d alerts, want 6 (two bursts per user)", len(want))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		// arrival order: event time plus a random delay below 50s, within the default lateness of 1m
		arrival := make([]time.Time, len(events))
		order := make([]int, len(events))
		for i := range events {
			arrival[i], order[i] = tsOf(events[i]).Add(time.Duration(rng.Int64N(int64(50*time.Second)))), i
		}
		slices.SortFunc(order, func(a, b int) int { return arrival[a].Compare(arrival[b]) })
		shuffled := make([]map[string]any, len(events))
		for k, i := range order {
			shuffled[k] = events[i]
		}
		if got := ids(t, set, shuffled); !slices.Equal(got, want) {
			t.Fatalf("round %d: got %v, want %v", round, got, want)
		}
	}
}

func tsOf(e map[string]any) time.Time {
	ts, _ := time.Parse(time.RFC3339Nano, e["@timestamp"].(string))
	return ts
}

func compareTime(a, b map[string]any) int { return tsOf(a).Compare(tsOf(b)) }

func ids(t *testing.T, set *rules.RuleSet, events []map[string]any) []string {
	t.Helper()
	alerts, err := Replay(set, Config{}, nil, events, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range alerts {
		if a.RuleID == "brute" {
			out = append(out, fmt.Sprint(a.ID, "/", vigil.Get(a.Doc, "vigil", "correlation", "count")))
		}
	}
	slices.Sort(out)
	return out
}

func TestLateAndDuplicateRecords(t *testing.T) {
	set := testSet(t, bruteForce)
	e := New(set, Config{})
	p := e.NewPartition(nil)
	rec := func(at time.Duration, id string) *Record {
		return &Record{Tenant: "t", Rule: "brute", Input: "fail", AlertID: id, Time: t0.Add(at), Group: []string{"bob"}}
	}
	for i := range 4 {
		p.Add(rec(time.Duration(i)*time.Second, fmt.Sprintf("%032x", i)))
	}
	p.Add(rec(2*time.Second, fmt.Sprintf("%032x", 2))) // delivered twice
	p.Add(rec(10*time.Minute, fmt.Sprintf("%032x", 10)))
	p.Advance()
	p.Add(rec(5*time.Second, fmt.Sprintf("%032x", 5))) // older than the watermark (10m - 1m)
	out, _ := p.Flush()
	if len(out) != 0 {
		t.Errorf("got %d alerts, want none: the duplicate and the late record must not count", len(out))
	}
	if d, l := e.Stats.Duplicates.Load(), e.Stats.Late.Load(); d != 1 || l != 1 {
		t.Errorf("got %d duplicates and %d late, want 1 and 1", d, l)
	}
	if g := e.Stats.Groups.Load(); g != 0 {
		t.Errorf("got %d open groups after the flush, want 0", g)
	}
}

// TestLatenessIgnoresBatches: whether a record is late depends on the records before it in its partition, not on
// when Advance last ran, so the same records cut into batches differently (a replay's batches, a stage's fetches, a
// restart) give the same alerts.
func TestLatenessIgnoresBatches(t *testing.T) {
	set := testSet(t, bruteForce)
	var recs []*Record
	for _, shift := range []time.Duration{0, -time.Hour} { // ten failures, then ten from an hour before them: late
		for i := range 10 {
			recs = append(recs, &Record{Tenant: "t", Rule: "brute", Input: "fail", Time: t0.Add(shift + time.Duration(i)*time.Second),
				AlertID: fmt.Sprintf("%032x", len(recs)), Group: []string{"bob"}})
		}
	}
	for _, batch := range []int{1, 3, len(recs)} {
		e := New(set, Config{})
		p := e.NewPartition(nil)
		var out []*vigil.Alert
		for i, r := range recs {
			p.Add(r)
			if (i+1)%batch == 0 {
				a, _ := p.Advance()
				out = append(out, a...)
			}
		}
		a, _ := p.Flush()
		out = append(out, a...)
		var counts []any
		for _, a := range out {
			counts = append(counts, vigil.Get(a.Doc, "vigil", "correlation", "count"))
		}
		if len(out) != 1 || counts[0] != int64(10) || e.Stats.Late.Load() != 10 {
			t.Errorf("batches of %d: got alerts of counts %v and %d late records, want one alert of count 10 and 10 late",
				batch, counts, e.Stats.Late.Load())
		}
	}
}

func TestTenantsNeverMix(t *testing.T) {
	set := testSet(t, bruteForce)
	var events []map[string]any
	for i, e := range series(0, time.Second, 8, "failure", "bob", "1.1.1.1") {
		e["_tenant"] = []string{"acme", "globex"}[i%2]
		events = append(events, e)
	}
	if got := correlations(t, set, Config{}, events, "brute"); len(got) != 0 {
		t.Errorf("got %d alerts, want none: four failures per tenant", len(got))
	}
}

// silence is an absence correlation without followed_by: a user whose connections stop for 15 minutes.
const silence = `
id: silent
name: silent
severity: medium
correlation:
  type: absence
  rules: [conn]
  group_by: [user.name]
  timespan: 15m
`

// TestFlushDecidesWhatTheDataDecides: at the end of the data, a wait or window that would end after the last event is
// left undecided: a host whose log ends with the file has not gone silent.
func TestFlushDecidesWhatTheDataDecides(t *testing.T) {
	set := testSet(t, silence)
	e := New(set, Config{})
	events := cat(series(0, time.Minute, 3, "network", "bob", "1.1.1.1"), series(0, time.Minute, 20, "network", "eve", "1.1.1.1"))
	if got := correlations(t, set, Config{}, events, "silent"); len(got) != 1 || got[0].group["user.name"] != "bob" {
		t.Errorf("got %v, want one alert for bob (silent from 2m; the data goes on to 19m); eve's wait is undecided", got)
	}
	p := e.NewPartition(nil)
	p.Add(&Record{Tenant: "t", Rule: "silent", Input: "conn", AlertID: fmt.Sprintf("%032x", 1), Time: t0, Group: []string{"bob"}})
	if got, _ := p.Flush(); len(got) != 0 || e.Stats.Undecided.Load() != 1 || e.Stats.Groups.Load() != 0 {
		t.Errorf("got %d alerts, %d undecided, %d groups left; want 0, 1 and 0", len(got), e.Stats.Undecided.Load(), e.Stats.Groups.Load())
	}
}

// TestIdleAdvance: a tenant that sends nothing has its watermark moved by the clock once idle_timeout has passed, so
// silence is noticed without a flush: the watermark then trails the clock by the allowed lateness.
func TestIdleAdvance(t *testing.T) {
	set := testSet(t, silence)
	e := New(set, Config{IdleTimeout: time.Minute})
	clock := t0
	e.now = func() time.Time { return clock }
	p := e.NewPartition(nil)
	p.Add(&Record{Tenant: "acme", Rule: "silent", Input: "conn", AlertID: fmt.Sprintf("%032x", 1), Time: t0, Group: []string{"bob"}})
	for _, step := range []struct {
		after time.Duration
		want  int
	}{{30 * time.Second, 0}, {time.Minute, 0}, {10 * time.Minute, 0}, {4 * time.Minute, 0}, {2 * time.Minute, 1}} {
		clock = clock.Add(step.after)
		if got, _ := p.Advance(); len(got) != step.want {
			t.Fatalf("at %s of processing time: got %d alerts, want %d", clock.Sub(t0), len(got), step.want)
		}
	}
}

func TestChainsAliasesAndGenerate(t *testing.T) {
	set := testSet(t, chain)
	events := cat(series(0, 10*time.Second, 6, "failure", "bob", "1.1.1.1"), series(2*time.Minute, time.Second, 1, "success", "bob", "1.1.1.1"),
		series(0, 10*time.Second, 6, "failure", "eve", "2.2.2.2"))
	slices.SortStableFunc(events, compareTime)
	alerts, err := Replay(set, Config{}, nil, events, "")
	if err != nil {
		t.Fatal(err)
	}
	byRule := map[string][]*vigil.Alert{}
	for _, a := range alerts {
		byRule[a.RuleID] = append(byRule[a.RuleID], a)
	}
	if n := len(byRule["brute_then_success"]); n != 1 {
		t.Fatalf("got %d chained alerts, want 1 (bob's brute force then success; eve never succeeded)", n)
	}
	a := byRule["brute_then_success"][0]
	if g := vigil.Get(a.Doc, "user", "name"); g != "bob" {
		t.Errorf("chained alert: got user.name %v, want bob", g)
	}
	if got, want := vigil.Get(a.Doc, "vigil", "correlation", "rules"), []any{"brute", "ok"}; !slices.Equal(got.([]any), want) {
		t.Errorf("chained alert: got rules %v, want %v", got, want)
	}
	// brute is named by brute_then_success (no generate): input only; ok is named by quiet too
	for _, rule := range []string{"brute", "fail", "ok"} {
		for _, a := range byRule[rule] {
			if !a.Internal {
				t.Errorf("an alert of %s is not internal: the correlations naming it do not say generate: true", rule)
			}
		}
	}
	if len(byRule["brute"]) != 2 {
		t.Errorf("got %d brute-force alerts, want 2 (bob and eve)", len(byRule["brute"]))
	}

	withGenerate := testSet(t, strings.Replace(chain, "  timespan: 10m\n", "  timespan: 10m\n  generate: true\n", 1))
	if c := withGenerate.Rule("brute"); c.Internal {
		t.Errorf("brute is internal although brute_then_success says generate: true")
	}
	alertFalse := testSet(t, strings.Replace(bruteForce, "severity: high\n", "severity: high\nalert: false\n", 1))
	if c := alertFalse.Rule("brute"); !c.Internal {
		t.Errorf("brute says alert: false but is not internal")
	}
}

func TestAliases(t *testing.T) {
	set := testSet(t, `
id: scan_then_logon
name: a connection from an address, then a failed logon to it
severity: medium
correlation:
  type: temporal_ordered
  rules: [conn, fail]
  group_by: [addr]
  aliases:
    addr: {conn: destination.ip, fail: source.ip}
  timespan: 5m
`)
	conn := ev(0, "network", "x", "9.9.9.9")
	conn["destination"] = map[string]any{"ip": "5.5.5.5"}
	events := []map[string]any{conn, ev(time.Minute, "failure", "bob", "5.5.5.5"), ev(2*time.Minute, "failure", "bob", "6.6.6.6")}
	got := correlations(t, set, Config{}, events, "scan_then_logon")
	if len(got) != 1 || got[0].group["addr"] != "5.5.5.5" {
		t.Errorf("got %v, want one alert for addr 5.5.5.5", got)
	}
}

func TestValueAverageAndPercentile(t *testing.T) {
	set := testSet(t, `
id: avg
name: big transfers on average
severity: low
correlation:
  type: value_avg
  rules: [conn]
  group_by: [user.name]
  timespan: 1h
  condition: {field: bytes, gte: 100}
---
id: rare
name: a rare user from an address
severity: low
correlation:
  type: value_percentile
  rules: [conn]
  group_by: [source.ip]
  timespan: 1h
  condition: {field: user.name, lte: 10}
`)
	var events []map[string]any
	for i, n := range []int{50, 150, 160} { // bob: average 120
		e := ev(time.Duration(i)*time.Minute, "network", "bob", "1.1.1.1")
		e["bytes"] = n
		events = append(events, e)
	}
	for i, n := range []int{50, 60} { // eve: average 55
		e := ev(time.Duration(i)*time.Minute, "network", "eve", "2.2.2.2")
		e["bytes"] = n
		events = append(events, e)
	}
	end := ev(3*time.Hour, "network", "zz", "9.9.9.9") // the data goes on past every window
	end["bytes"] = 1
	events = append(events, end)
	for i := range 20 { // 2.2.2.2: eve 19 times, mallory once (5%)
		user := "eve"
		if i == 7 {
			user = "mallory"
		}
		e := ev(10*time.Minute+time.Duration(i)*time.Second, "network", user, "3.3.3.3")
		e["bytes"] = 1
		events = append(events, e)
	}
	avg := correlations(t, set, Config{}, events, "avg")
	if len(avg) != 1 || avg[0].group["user.name"] != "bob" || avg[0].value != 120.0 {
		t.Errorf("value_avg: got %v, want bob with 120", avg)
	}
	slices.SortStableFunc(events, compareTime)
	alerts, _ := Replay(set, Config{}, nil, events, "")
	var rare []any
	for _, a := range alerts {
		if a.RuleID == "rare" {
			rare = append(rare, vigil.Get(a.Doc, "vigil", "correlation", "values"), vigil.Get(a.Doc, "vigil", "correlation", "value"))
		}
	}
	if want := []any{[]any{"mallory"}, 5.0}; fmt.Sprint(rare) != fmt.Sprint(want) {
		t.Errorf("value_percentile: got %v, want %v", rare, want)
	}
}

// TestIdlePartitionCatchesUp: a partition that receives nothing for idle_timeout takes its tenant's newest watermark
// from the engine's other partitions, so a silence on it is decided as soon as the tenant's data moves on.
func TestIdlePartitionCatchesUp(t *testing.T) {
	set := testSet(t, silence)
	e := New(set, Config{IdleTimeout: time.Minute})
	clock := t0
	e.now = func() time.Time { return clock }
	quiet, busy := e.NewPartition(nil), e.NewPartition(nil)
	quiet.Add(&Record{Tenant: "acme", Rule: "silent", Input: "conn", AlertID: fmt.Sprintf("%032x", 1), Time: t0, Group: []string{"bob"}})
	quiet.Advance()
	busy.Add(&Record{Tenant: "acme", Rule: "silent", Input: "conn", AlertID: fmt.Sprintf("%032x", 2), Time: t0.Add(time.Hour), Group: []string{"eve"}})
	busy.Advance()
	if got, _ := quiet.Advance(); len(got) != 0 {
		t.Fatalf("got %d alerts before the partition was idle, want 0", len(got))
	}
	clock = clock.Add(2 * time.Minute)
	if got, _ := quiet.Advance(); len(got) != 1 {
		t.Errorf("got %d alerts once idle, want bob's silence: the tenant's other partition is an hour on", len(got))
	}
}

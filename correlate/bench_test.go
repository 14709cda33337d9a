package correlate

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil/rules"
)

// benchSet has n event_count correlations over one input rule, each grouping by one field.
func benchSet(b *testing.B, n int) *rules.RuleSet {
	var sb strings.Builder
	sb.WriteString(inputs)
	for i := range n {
		fmt.Fprintf(&sb, "---\nid: c%d\nname: c%d\nseverity: low\ncorrelation:\n  type: event_count\n  rules: [fail]\n  group_by: [user.name]\n  timespan: 5m\n  condition: {gte: 5}\n", i, i)
	}
	rs, err := rules.Parse("bench.yml", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	env, _ := rules.NewEnv()
	set, err := env.CompileSet(rs)
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// BenchmarkPartition feeds match records of 20 correlations over 1,000,000 groups, in event-time order, in batches of
// 1,000 with an Advance after each: the correlation stage's work per record, without Kafka.
func BenchmarkPartition(b *testing.B) {
	const groups, corrs = 1_000_000, 20
	set := benchSet(b, corrs)
	// a record a millisecond of event time, each for a random one of the million groups: a group sees one record
	// every 1,000 s on average, so a few reach the threshold of 5 in 5 minutes and raise alerts
	rng := rand.New(rand.NewPCG(1, 1))
	recs := make([]Record, 1<<18)
	for i := range recs {
		g := rng.IntN(groups)
		recs[i] = Record{Tenant: "acme", Rule: fmt.Sprint("c", g%corrs), Input: "fail",
			AlertID: fmt.Sprintf("%032x", i), Group: []string{fmt.Sprint("user", g/corrs)}}
	}
	p := New(set, Config{}).NewPartition(nil)
	b.ResetTimer()
	for i := range b.N {
		r := &recs[i%len(recs)]
		r.Time = t0.Add(time.Duration(i) * time.Millisecond)
		if i >= len(recs) {
			r.AlertID = fmt.Sprintf("%032x", i) // a new match, not a duplicate (not timed in the first round)
		}
		p.Add(r)
		if i%1000 == 999 {
			p.Advance()
		}
	}
}

// BenchmarkOpenGroupBytes reports the heap an open event_count group takes (B/group): a million groups of one match.
func BenchmarkOpenGroupBytes(b *testing.B) {
	set := benchSet(b, 1)
	const n = 1_000_000
	for range b.N {
		p := New(set, Config{}).NewPartition(nil)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := Record{Tenant: "acme", Rule: "c0", Input: "fail", Time: t0}
		for i := range n {
			r.AlertID = fmt.Sprintf("%032x", i)
			r.Group = []string{fmt.Sprint("user", i)}
			p.Add(&r)
		}
		p.Advance()
		p.Checkpoint()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(p.groups) != n {
			b.Fatalf("got %d open groups, want %d", len(p.groups), n)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/group")
		runtime.KeepAlive(p)
	}
}

// BenchmarkSuppression feeds the match records of a suppressing rule (each with a 1.2 KB alert document) over 10,000
// groups, in event-time order, in batches of 1,000 with an Advance after each, and builds the alert versions that
// gives: the stage's work per suppressed match, to read beside BenchmarkPartition's per correlation record.
func BenchmarkSuppression(b *testing.B) {
	rs, err := rules.Parse("bench.yml", []byte(inputs+"---\nid: quiet\nname: quiet\nseverity: low\n"+
		"condition: event.outcome == \"failure\"\nsuppress: {by: [user.name], for: 1h}\n"))
	if err != nil {
		b.Fatal(err)
	}
	env, _ := rules.NewEnv()
	set, err := env.CompileSet(rs)
	if err != nil {
		b.Fatal(err)
	}
	doc := []byte(`{"@timestamp":"2026-12-01T10:00:00Z","event":{"kind":"alert","severity":1,"risk_score":21,"outcome":"failure"},` +
		`"rule":{"id":"quiet","name":"quiet","version":"0123456789abcdef","description":"` + strings.Repeat("x", 800) + `"},` +
		`"user":{"name":"u"},"source":{"ip":"203.0.113.7","geo":{"country_iso_code":"XF"}},` +
		`"vigil":{"alert":{"id":"00","tenant":"acme","status":"open","severity":"low"}}}`)
	const groups = 10_000
	rng := rand.New(rand.NewPCG(1, 1))
	recs := make([]Record, 1<<16)
	for i := range recs {
		recs[i] = Record{Tenant: "acme", Rule: "quiet", Input: "quiet", Doc: doc,
			Group: []string{fmt.Sprint("user", rng.IntN(groups))}}
	}
	p := New(set, Config{}).NewPartition(nil)
	versions := 0
	b.ResetTimer()
	for i := range b.N {
		r := &recs[i%len(recs)]
		r.Time = t0.Add(time.Duration(i) * time.Millisecond)
		r.AlertID = fmt.Sprintf("%032x", i)
		p.Add(r)
		if i%1000 == 999 {
			alerts, _ := p.Advance()
			versions += len(alerts)
		}
	}
	b.ReportMetric(float64(versions)/float64(b.N), "versions/match")
}

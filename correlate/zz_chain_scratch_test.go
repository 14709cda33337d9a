package correlate

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

func runBatched(e *Engine, recs []Record, size int) map[string]string {
	p := e.NewPartition(nil)
	out := map[string]string{}
	keep := func(alerts []*vigil.Alert) {
		for _, a := range alerts {
			out[a.ID] = fmt.Sprint(a.RuleID, " ", vigil.Get(a.Doc, "vigil", "correlation", "count"), vigil.Get(a.Doc, "vigil", "correlation", "window"), a.Time)
		}
	}
	for i := 0; i < len(recs); i += size {
		for j := i; j < min(i+size, len(recs)); j++ {
			p.Add(&recs[j])
		}
		a, _ := p.Advance()
		keep(a)
	}
	a, _ := p.Flush()
	keep(a)
	return out
}

func TestScratchChainBatching(t *testing.T) {
	set := testSet(t, chain)
	var recs []Record
	for _, b := range workload() {
		recs = append(recs, b...)
	}
	want := runBatched(New(set, Config{}), recs, 1)
	for _, size := range []int{1, 7, 50, 1000} {
		for _, late := range []time.Duration{time.Second, time.Minute, 10 * time.Minute} {
			got := runBatched(New(set, Config{AllowedLateness: late}), recs, size)
			if !maps.Equal(got, want) {
				t.Errorf("size %d lateness %s: got %v, want %v", size, late, sorted(got), sorted(want))
			}
		}
	}
}

func TestScratchChainTargeted(t *testing.T) {
	set := testSet(t, chain)
	var recs []Record
	n := 0
	add := func(at time.Duration, input string, rules ...string) {
		n++
		for _, r := range rules {
			recs = append(recs, Record{Tenant: "acme", Rule: r, Input: input, AlertID: fmt.Sprintf("%032x", n), Time: t0.Add(at), Group: []string{"u1"}, Value: "u1"})
		}
	}
	for i := range 5 {
		add(time.Duration(i)*time.Second, "fail", "brute")
	}
	add(5*time.Second, "ok", "brute_then_success")
	add(30*time.Minute, "fail", "brute")
	for _, size := range []int{1, 100} {
		for _, late := range []time.Duration{time.Second, time.Minute} {
			got := runBatched(New(set, Config{AllowedLateness: late}), recs, size)
			t.Logf("size %d lateness %s: %v", size, late, sorted(got))
		}
	}
}

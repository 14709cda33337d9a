package rules_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/vigilsoc/vigil/rules"
)

// BenchmarkLoadSigmaHQ compiles SigmaHQ's converted Windows rules (rules/windows, profile windows-flat, about 2,400
// rules) into a rule set, the work of a start, reload or deploy after the files are read:
//
//	baseline  as before (rules.ReferenceCompile): one rule at a time, cel.Env's ANTLR parser, no cache
//	cold      a new Env: the fast parser, compiled over GOMAXPROCS cores
//	reload    the same rules again on the same Env: every program from the cache
//	reload-1% the same with 24 rules changed (a deploy of a few edits)
//
// Each reports "x-baseline", the baseline's time per load measured in the same run divided by its own, and the
// heap the loaded set keeps per rule (live bytes after a collection, with the set, minus without): with a new Env
// that includes the programs, while in the reload runs the Env keeps the programs and the figure is the rest.
func BenchmarkLoadSigmaHQ(b *testing.B) {
	conv, err := rules.NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	rs := sigmaHQRules(b, conv, "rules/windows", "windows-flat")
	changed := make([]*rules.Rule, len(rs))
	for i, r := range rs {
		changed[i] = r
		if i%100 == 0 {
			c := *r
			c.Condition = fmt.Sprintf("(%s) && %d == %d", r.Condition, i, i)
			changed[i] = &c
		}
	}
	var baseline float64
	for _, bc := range []struct {
		name  string
		env   func() *rules.Env
		rules func(i int) []*rules.Rule
	}{
		{"baseline", func() *rules.Env { e := newEnv(b); rules.ReferenceCompile(e); return e }, nil},
		{"cold", func() *rules.Env { return newEnv(b) }, nil},
		{"reload", warmEnv(b, rs), nil},
		{"reload-1%", warmEnv(b, rs), func(i int) []*rules.Rule { return [][]*rules.Rule{rs, changed}[i%2] }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var set *rules.RuleSet
			n := 0
			for b.Loop() {
				load := rs
				if bc.rules != nil {
					load = bc.rules(n)
				}
				n++
				if set, err = bc.env().CompileSet(load); err != nil {
					b.Fatal(err)
				}
			}
			perLoad := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if bc.name == "baseline" {
				baseline = perLoad
			}
			if baseline > 0 {
				b.ReportMetric(baseline/perLoad, "x-baseline")
			}
			b.ReportMetric(float64(len(set.Rules())), "rules")
			b.ReportMetric(heapPerRule(set), "heap-B/rule")
		})
	}
}

// warmEnv returns a function giving the same Env every time, one that has compiled rs once.
func warmEnv(b *testing.B, rs []*rules.Rule) func() *rules.Env {
	e := newEnv(b)
	if _, err := e.CompileSet(rs); err != nil {
		b.Fatal(err)
	}
	return func() *rules.Env { return e }
}

func newEnv(b *testing.B) *rules.Env {
	e, err := rules.NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// heapPerRule is the live heap that set holds, per enabled rule: the heap after a collection with the set, minus
// the heap after one without it.
func heapPerRule(set *rules.RuleSet) float64 {
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	n := len(set.Rules())
	set = nil
	runtime.GC()
	runtime.ReadMemStats(&without)
	return float64(int64(with.HeapAlloc)-int64(without.HeapAlloc)) / float64(n)
}

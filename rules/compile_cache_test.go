package rules

import (
	"fmt"
	"testing"
)

func cacheTestRules(n int, bad ...int) []*Rule {
	var rs []*Rule
	for i := range n {
		cond := fmt.Sprintf(`event.action == "a%d" && process.name.icontains("tool%d")`, i, i)
		for _, b := range bad {
			if b == i {
				cond = fmt.Sprintf(`event.action == "a%d" &&`, i)
			}
		}
		rs = append(rs, &Rule{ID: fmt.Sprintf("r%d", i), Name: "r", Severity: "low", Condition: cond,
			Exceptions: []string{`user.name == "svc"`}, Source: Position{File: fmt.Sprintf("f%d.yml", i), Line: 1}})
	}
	return rs
}

// TestCompileSetParallelDeterministic: compiled over several workers, a set has its rules in input order and its
// errors in the text the one-at-a-time reference compile gives.
func TestCompileSetParallelDeterministic(t *testing.T) {
	ref, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	ref.reference = true
	rs := cacheTestRules(200, 17, 150, 151)
	_, want := ref.CompileSet(rs)
	if want == nil {
		t.Fatal("got no error from the reference compile, want three")
	}
	good := cacheTestRules(200)
	for range 5 {
		env, err := NewEnv()
		if err != nil {
			t.Fatal(err)
		}
		if _, got := env.CompileSet(rs); got == nil || got.Error() != want.Error() {
			t.Fatalf("got error %v, want %v", got, want)
		}
		set, err := env.CompileSet(good)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range set.Rules() {
			if c.Rule != good[i] {
				t.Fatalf("rule %d is %s, want %s", i, c.ID, good[i].ID)
			}
		}
	}
}

// TestCompileSetCache: a reload compiles only the expressions that changed, and the cache holds what the last good
// set used, plus what a failed attempt compiled.
func TestCompileSetCache(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	rs := cacheTestRules(50)
	first, err := env.CompileSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := env.CachedExpressions(), 51; got != want { // 50 conditions, one exception shared by all
		t.Fatalf("got %d cached expressions, want %d", got, want)
	}
	edited := cacheTestRules(50)
	edited[7].Condition = `event.action == "changed"`
	second, err := env.CompileSet(edited)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range second.Rules() {
		if same := c.cond == first.Rules()[i].cond; same != (i != 7) {
			t.Errorf("rule %d: program reused %v, want %v", i, same, i != 7)
		}
	}
	if got, want := env.CachedExpressions(), 51; got != want { // the old rule 7 is dropped
		t.Fatalf("got %d cached expressions, want %d", got, want)
	}
	ev := event(t, `{"event":{"action":"changed"},"process":{"name":"x"}}`)
	if !second.Rules()[7].Match(ev) || first.Rules()[7].Match(ev) {
		t.Errorf("the changed rule does not run its new condition")
	}
	broken := cacheTestRules(50, 3)
	broken[7].Condition = `event.action == "changed again"`
	if _, err := env.CompileSet(broken); err == nil {
		t.Fatal("got no error, want rule 3's")
	}
	if got, want := env.CachedExpressions(), 52; got != want { // the good set's 51 and the new rule 7
		t.Fatalf("after a failed compile: got %d cached expressions, want %d", got, want)
	}
}

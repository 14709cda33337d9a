package rules

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Loading a rule set is what a start, a reload, a deploy and a hunt wait for, so CompileSet does three things beyond
// compiling each rule:
//
//   - It compiles over every core (GOMAXPROCS workers taking rules in turn). Each rule's result and errors are kept
//     at its place in the input, so the set, its order and its error text are the same as compiled one by one.
//   - It reuses what the Env compiled before: the programs of the last successful CompileSet are kept in the Env,
//     keyed by the expression's text (the content itself, so two texts never share an entry), and a reload compiles
//     only the conditions and exceptions that changed. A compiled expression (native nodes or a CEL program) is
//     stateless and shared by every goroutine, so two sets may hold the same one. The cache keeps what the last good set used, plus, after a failed compile,
//     what that attempt compiled, so fixing the bad file recompiles only it; it never holds more than two sets'.
//   - The index requirements of a condition are kept with its program, since they come from the parsed (or checked)
//     tree, which is not kept.

// compiledExpr is one compiled condition or exception.
type compiledExpr struct {
	prg      *evaluator
	cost     uint64
	requires [][]group
}

// exprCache holds compiled expressions by text: prev is read-only during a CompileSet, found collects what this
// CompileSet used or compiled.
type exprCache struct {
	prev  map[string]*compiledExpr
	mu    sync.Mutex
	found map[string]*compiledExpr
}

// compiledExpr compiles expr, or takes it from cache (nil: no cache).
func (e *Env) compiledExpr(expr string, cache *exprCache) (*compiledExpr, error) {
	if cache != nil {
		if x, ok := cache.prev[expr]; ok {
			cache.keep(expr, x)
			return x, nil
		}
	}
	prg, tree, est, err := e.program(expr)
	if err != nil {
		return nil, err
	}
	x := &compiledExpr{prg: prg, cost: est, requires: requirementBranches(tree)}
	if cache != nil {
		cache.keep(expr, x)
	}
	return x, nil
}

func (c *exprCache) keep(expr string, x *compiledExpr) {
	c.mu.Lock()
	c.found[expr] = x
	c.mu.Unlock()
}

// compileAll compiles rules over GOMAXPROCS workers with the Env's cache; out[i] and errs[i] are rules[i]'s.
func (e *Env) compileAll(rules []*Rule) (out []*Compiled, errs []error) {
	out, errs = make([]*Compiled, len(rules)), make([]error, len(rules))
	if e.reference {
		for i, r := range rules {
			out[i], errs[i] = e.compile(r, nil)
		}
		return out, errs
	}
	e.cacheMu.Lock()
	cache := &exprCache{prev: e.cache, found: make(map[string]*compiledExpr, len(rules))}
	e.cacheMu.Unlock()
	parallel(len(rules), func(i int) { out[i], errs[i] = e.compile(rules[i], cache) })
	failed := false
	for _, err := range errs {
		failed = failed || err != nil
	}
	if failed {
		for k, x := range cache.prev {
			if _, ok := cache.found[k]; !ok {
				cache.found[k] = x
			}
		}
	}
	e.cacheMu.Lock()
	e.cache = cache.found
	e.cacheMu.Unlock()
	return out, errs
}

// CachedExpressions returns how many compiled conditions and exceptions the Env keeps for the next CompileSet.
func (e *Env) CachedExpressions() int {
	e.cacheMu.Lock()
	defer e.cacheMu.Unlock()
	return len(e.cache)
}

// parallel calls fn(i) for every i in [0, n) over GOMAXPROCS goroutines, each taking the next i, and returns when
// all calls have.
func parallel(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

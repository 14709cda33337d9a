package rules

import (
	"sync"
	"sync/atomic"
	"time"

	"cel.dev/cel-go/common/types"

	"github.com/vigilsoc/vigil"
)

// Engine evaluates the current rule set on events; it is the pipeline's vigil.Detector. The rule set is swapped
// atomically by Swap: an event is evaluated entirely against one set, never a half-loaded one.
type Engine struct {
	set   atomic.Pointer[RuleSet]
	now   func() time.Time
	mu    sync.Mutex // guards stats
	stats map[string]*Stats
}

// Stats counts one rule's work. The counters survive reloads of the rule.
type Stats struct {
	Evaluations atomic.Int64
	Matches     atomic.Int64
	// Errors counts evaluations that failed (a missing field, a value of the wrong type); such an evaluation is not
	// a match.
	Errors atomic.Int64
	// Suppressed counts matches an exception suppressed.
	Suppressed atomic.Int64
}

// NewEngine returns an engine running set.
func NewEngine(set *RuleSet) *Engine {
	e := &Engine{now: time.Now, stats: map[string]*Stats{}}
	e.Swap(set)
	return e
}

// Swap replaces the rule set in one step and returns the old one.
func (e *Engine) Swap(set *RuleSet) *RuleSet {
	e.mu.Lock()
	for _, c := range set.rules {
		s, ok := e.stats[c.ID]
		if !ok {
			s = &Stats{}
			e.stats[c.ID] = s
		}
		c.stats = s
	}
	e.mu.Unlock()
	return e.set.Swap(set)
}

// RuleSet returns the current rule set.
func (e *Engine) RuleSet() *RuleSet { return e.set.Load() }

// Stats returns the counters of every rule ever loaded, by rule id.
func (e *Engine) Stats() map[string]*Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]*Stats, len(e.stats))
	for k, v := range e.stats {
		out[k] = v
	}
	return out
}

// Detect implements vigil.Detector.
func (e *Engine) Detect(ev *vigil.Event, dst []*vigil.Alert) []*vigil.Alert {
	var buf [8]*Compiled
	matched := e.match(e.set.Load(), ev, buf[:0])
	if len(matched) == 0 {
		return dst
	}
	now := e.now()
	for _, c := range matched {
		dst = append(dst, NewAlert(c, ev, now))
	}
	return dst
}

// Matches appends the rules that match ev to dst, as Detect finds them, without building alerts.
func (e *Engine) Matches(ev *vigil.Event, dst []*Compiled) []*Compiled {
	return e.match(e.set.Load(), ev, dst)
}

func (e *Engine) match(set *RuleSet, ev *vigil.Event, dst []*Compiled) []*Compiled {
	act := activation{fields: ev.Fields}
	s := set.index.pool.Get().(*scratch)
	defer set.index.pool.Put(s)
	for _, i := range set.index.candidates(ev.Fields, s) {
		c := set.rules[i]
		if c.tenants != nil && !c.tenants[ev.Tenant] {
			continue
		}
		if c.match(&act, ev.Tenant) {
			dst = append(dst, c)
		}
	}
	return dst
}

// Match reports whether the rule matches the event, counting the evaluation. Exceptions are applied.
func (c *Compiled) Match(ev *vigil.Event) bool {
	if c.tenants != nil && !c.tenants[ev.Tenant] {
		return false
	}
	return c.match(&activation{fields: ev.Fields}, ev.Tenant)
}

func (c *Compiled) match(act *activation, tenant string) bool {
	s := c.stats
	if s == nil {
		s = &Stats{}
	}
	s.Evaluations.Add(1)
	switch c.cond.eval(act) {
	case errored:
		s.Errors.Add(1)
		return false
	case falsy:
		return false
	}
	for i := range c.exceptions {
		if c.exceptions[i].applies(act, tenant) {
			s.Suppressed.Add(1)
			return false
		}
	}
	s.Matches.Add(1)
	return true
}

type outcome int

const (
	falsy outcome = iota
	truthy
	errored
)

// NaiveMatch evaluates the rule the simple way, handing fields to CEL as a map that it wraps in a new activation on
// every call, with no index and no tenant check. It is the baseline of `vigil bench`, not for production use.
func (c *Compiled) NaiveMatch(fields map[string]any) bool {
	out, err := c.cond.celEval(fields)
	if err != nil || out != types.True {
		return false
	}
	for _, x := range c.exceptions {
		if out, err := x.prg.celEval(fields); err == nil && out == types.True {
			return false
		}
	}
	return true
}

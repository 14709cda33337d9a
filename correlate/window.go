package correlate

import (
	"math"
	"slices"

	"github.com/vigilsoc/vigil/rules"
)

// step applies the group's next waiting match or fires its timer, whichever comes first (the timer at equal times).
func (p *Partition) step(s *stream, g *group) {
	if t := g.timer(); t != never && (int(g.applied) == len(g.ev) || t <= g.ev[g.applied].time) {
		p.fire(g, t)
	} else {
		p.apply(g)
	}
	p.schedule(s, g)
}

// apply moves the group's next waiting match into its window.
func (p *Partition) apply(g *group) {
	c := g.corr
	en := g.ev[g.applied]
	g.applied++
	switch {
	case c.kind == suppressing:
		p.applySuppress(g, en)
	case c.kind == absence:
		p.applyAbsence(g, en)
	case c.kind == closing:
		// the window opened at its first match and closes by the timer
	case g.burst() != nil:
		p.touch(g)
	default:
		// slide: matches as old as the timespan leave the window
		drop := 0
		for drop < int(g.applied)-1 && g.ev[drop].time <= en.time-c.span {
			drop++
		}
		g.ev = slices.Delete(g.ev, 0, drop)
		g.applied -= int32(drop)
		if x, ok := g.aggregate(); ok && g.holds(x) {
			p.openBurst(g, en)
		}
	}
}

// applyAbsence: a followed_by match ends the waits opened before it; an opening match starts one.
func (p *Partition) applyAbsence(g *group, en entry) {
	c := g.corr
	trigger := func(e entry) bool { return int(e.input) < c.triggers }
	follows := !trigger(en) || c.triggers == len(c.inputs)
	pos := int(g.applied) - 1 // en's place
	kept := g.ev[:0]
	for i, w := range g.ev {
		if i < pos && follows && trigger(w) || i == pos && !trigger(en) {
			continue
		}
		kept = append(kept, w)
	}
	g.applied -= int32(len(g.ev) - len(kept)) // every match removed was applied
	g.ev = kept
}

// fire ends the group's window, burst or oldest wait at time t, or its suppression window.
func (p *Partition) fire(g *group, t int64) {
	c := g.corr
	if c.kind != suppressing && g.x != nil && g.x.sup != nil && g.x.sup.end == t {
		g.endCorrelationSuppression(t)
		if g.windowTimer() != t {
			return
		}
	}
	switch {
	case c.kind == suppressing:
		g.closeSuppression()
	case c.kind == absence:
		first := g.ev[0]
		p.emit(g, &output{id: g.alertID(first.id), count: 1, start: first.time, last: first.time, end: t, match: t,
			ids: []alertID{first.id}, inputs: []int32{first.input}})
		g.ev = slices.Delete(g.ev, 0, 1)
		g.applied--
	case g.burst() != nil:
		p.snapshot(g)
		g.x.burst = nil
		g.ev = slices.Delete(g.ev, 0, int(g.applied))
		g.applied = 0
	case c.kind == closing:
		window := g.ev[:g.applied]
		if x, ok := g.aggregate(); ok && g.holds(x) {
			o := g.describe(window, x)
			o.id, o.start, o.end, o.match = g.alertID(window[0].id), window[0].time, t, window[len(window)-1].time
			p.emit(g, o)
		}
		g.ev = slices.Delete(g.ev, 0, int(g.applied))
		g.applied = 0
	default: // the sliding window has emptied
		g.ev = slices.Delete(g.ev, 0, int(g.applied))
		g.applied = 0
	}
}

// openBurst raises the alert of a sliding match completed by en.
func (p *Partition) openBurst(g *group, en entry) {
	window := g.ev[:g.applied]
	first := window[0]
	if g.corr.c.Correlation.Type == rules.TemporalOrdered {
		first = window[orderedChain(g.corr, window)[0]]
	}
	id := g.alertID(first.id)
	folded, sup := p.foldCorrelation(g, id, en.time)
	b := &burst{id: folded, start: first.time, match: en.time, end: en.time + g.corr.span,
		created: p.e.now().UnixNano()}
	if sup != nil && sup.created != 0 {
		// A burst folded into the suppression window's alert is a version of that alert: it keeps the alert's time
		// and creation time, so that every version lands in the same daily index.
		b.match, b.created = sup.start, sup.created
	}
	g.extra().burst = b
	p.touch(g)
	p.chain(g, id, en.time, int(g.applied)) // the correlations naming this one see every alert, suppressed or not
}

// aggregate is the number the condition compares: the count of matches, of distinct values or of distinct rules, a
// sum, an average, or the smallest share (in percent) that one value has of the matches. ok is false when the
// window is ordered and holds no chain in order.
func (g *group) aggregate() (float64, bool) {
	window := g.ev[:g.applied]
	switch g.corr.c.Correlation.Type {
	case rules.ValueCount:
		return float64(len(distinct(window, func(e entry) uint64 { return math.Float64bits(e.num) }))), true
	case rules.Temporal:
		return float64(len(distinct(window, func(e entry) uint64 { return uint64(e.input) }))), true
	case rules.TemporalOrdered:
		chain := orderedChain(g.corr, window)
		return float64(len(chain)), len(chain) == len(g.corr.c.Correlation.Rules)
	case rules.ValueSum, rules.ValueAvg:
		sum := 0.0
		for _, e := range window {
			sum += e.num
		}
		if g.corr.c.Correlation.Type == rules.ValueAvg {
			return sum / float64(len(window)), true
		}
		return sum, true
	case rules.ValuePercentile:
		counts := distinct(window, func(e entry) uint64 { return math.Float64bits(e.num) })
		least := len(window)
		for _, n := range counts {
			least = min(least, n)
		}
		return 100 * float64(least) / float64(len(window)), true
	}
	return float64(len(window)), true
}

// holds applies the condition; temporal correlations without one need every rule.
func (g *group) holds(x float64) bool {
	k := g.corr.c.Correlation
	if (k.Type == rules.Temporal || k.Type == rules.TemporalOrdered) && k.Condition.GT == nil && k.Condition.GTE == nil &&
		k.Condition.LT == nil && k.Condition.LTE == nil && k.Condition.EQ == nil && k.Condition.NEQ == nil {
		return x >= float64(len(k.Rules))
	}
	return k.Condition.Holds(x)
}

func distinct(window []entry, key func(entry) uint64) map[uint64]int {
	m := make(map[uint64]int, len(window))
	for _, e := range window {
		m[key(e)]++
	}
	return m
}

// orderedChain returns the positions in window of the earliest chain of matches of the correlation's rules in their
// order, as far as it goes.
func orderedChain(c *corr, window []entry) []int {
	want := c.c.Correlation.Rules
	var chain []int
	for i, e := range window {
		if len(chain) < len(want) && c.inputs[e.input] == want[len(chain)] {
			chain = append(chain, i)
		}
	}
	return chain
}

// hashString is 64-bit FNV-1a: stable across processes, since hashes are kept in checkpointed state.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

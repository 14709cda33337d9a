package rules

import "sort"

// substrings is an Aho-Corasick automaton: it finds, in one pass over a text, every literal of a set that occurs in
// it. The prefilter index uses one per field for the literals of contains/startsWith/endsWith conditions.
type substrings struct {
	root   [256]int32 // transitions from the root, dense
	states []acState
	// The scan spends most of its steps near the root, where texts keep falling back to, so the states of depth
	// up to denseDepth have a complete transition row (goto and fail resolved) over byte classes: the bytes of the
	// literals, and class 0 for every other byte, which leads back to the root from any state.
	class   [256]uint8
	classes int
	dense   []int32 // state → its row in rows, or -1
	rows    []int32
	report  []bool // state → literals end here or on its fail chain
}

// denseDepth is the depth of the deepest states with a transition row. On SigmaHQ's Windows rules over the OTRF
// recordings, rows for the first three levels made the scan about twice as fast, for some megabytes in all.
const denseDepth = 3

type acState struct {
	edges []acEdge // sorted by byte
	fail  int32
	// out are the literals ending here; dict is the nearest state on the fail chain with literals (-1 if none).
	out  []int32
	dict int32
}

type acEdge struct {
	b  byte
	to int32
}

func (s *acState) next(b byte) int32 {
	e := s.edges
	lo, hi := 0, len(e)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if e[m].b < b {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(e) && e[lo].b == b {
		return e[lo].to
	}
	return -1
}

// newSubstrings builds the automaton; literal i of lits is reported as i. Empty literals are ignored.
func newSubstrings(lits []string) *substrings {
	a := &substrings{states: []acState{{fail: 0, dict: -1}}}
	for i := range a.root {
		a.root[i] = -1
	}
	for id, lit := range lits {
		if lit == "" {
			continue
		}
		s := int32(0)
		for j := 0; j < len(lit); j++ {
			n := a.child(s, lit[j])
			if n < 0 {
				n = int32(len(a.states))
				a.states = append(a.states, acState{dict: -1})
				a.addEdge(s, lit[j], n)
			}
			s = n
		}
		a.states[s].out = append(a.states[s].out, int32(id))
	}
	// Breadth-first: fail links and dictionary links.
	var queue []int32
	for b := range 256 {
		if c := a.root[b]; c >= 0 {
			a.states[c].fail = 0
			queue = append(queue, c)
		} else {
			a.root[b] = 0
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, e := range a.states[s].edges {
			f := a.states[s].fail
			for f != 0 && a.child(f, e.b) < 0 {
				f = a.states[f].fail
			}
			fc := a.step(f, e.b)
			if fc == e.to {
				fc = 0
			}
			a.states[e.to].fail = fc
			if len(a.states[fc].out) > 0 {
				a.states[e.to].dict = fc
			} else {
				a.states[e.to].dict = a.states[fc].dict
			}
			queue = append(queue, e.to)
		}
	}
	a.buildRows()
	return a
}

// buildRows gives the states of depth up to denseDepth their transition rows (see substrings).
func (a *substrings) buildRows() {
	var byClass []byte // class → a byte of it
	byClass = append(byClass, 0)
	for _, st := range a.states {
		for _, e := range st.edges {
			if a.class[e.b] == 0 {
				a.class[e.b] = uint8(len(byClass))
				byClass = append(byClass, e.b)
			}
		}
	}
	for b := range 256 {
		if a.root[b] != 0 && a.class[b] == 0 {
			a.class[b] = uint8(len(byClass))
			byClass = append(byClass, byte(b))
		}
	}
	if len(byClass) > 255 {
		a.classes = 0 // every byte occurs: no rows, step as before
		return
	}
	a.classes = len(byClass)
	a.dense = make([]int32, len(a.states))
	a.report = make([]bool, len(a.states))
	for i := range a.dense {
		a.dense[i] = -1
		a.report[i] = len(a.states[i].out) > 0 || a.states[i].dict >= 0
	}
	level := []int32{0}
	for depth := 0; depth <= denseDepth && len(level) > 0; depth++ {
		var next []int32
		for _, s := range level {
			a.dense[s] = int32(len(a.rows) / a.classes)
			for c := range a.classes {
				to := int32(0)
				if c > 0 {
					to = a.step(s, byClass[c])
				}
				a.rows = append(a.rows, to)
			}
			for _, e := range a.states[s].edges {
				next = append(next, e.to)
			}
		}
		if depth == 0 {
			next = next[:0]
			for b := range 256 {
				if c := a.root[b]; c > 0 {
					next = append(next, c)
				}
			}
		}
		level = next
	}
}

func (a *substrings) child(s int32, b byte) int32 {
	if s == 0 {
		return a.root[b]
	}
	return a.states[s].next(b)
}

func (a *substrings) addEdge(s int32, b byte, to int32) {
	if s == 0 {
		a.root[b] = to
	}
	st := &a.states[s]
	i := sort.Search(len(st.edges), func(i int) bool { return st.edges[i].b >= b })
	st.edges = append(st.edges, acEdge{})
	copy(st.edges[i+1:], st.edges[i:])
	st.edges[i] = acEdge{b: b, to: to}
}

// step follows the goto function from s on b, falling back along fail links; the root loops to itself.
func (a *substrings) step(s int32, b byte) int32 {
	for {
		if s == 0 {
			return a.root[b]
		}
		if n := a.states[s].next(b); n >= 0 {
			return n
		}
		s = a.states[s].fail
	}
}

// scan appends to dst every literal occurring in text (a literal occurring several times is appended each time).
func (a *substrings) scan(text string, dst []int32) []int32 {
	if a.classes == 0 {
		return a.scanSparse(text, dst)
	}
	s := int32(0)
	for i := 0; i < len(text); i++ {
		c := int32(a.class[text[i]])
		switch {
		case c == 0:
			s = 0
			continue
		case a.dense[s] >= 0:
			s = a.rows[a.dense[s]*int32(a.classes)+c]
		default:
			s = a.step(s, text[i])
		}
		if a.report[s] {
			for o := s; o > 0; o = a.states[o].dict {
				dst = append(dst, a.states[o].out...)
			}
		}
	}
	return dst
}

// scanSparse is scan without transition rows.
func (a *substrings) scanSparse(text string, dst []int32) []int32 {
	s := int32(0)
	for i := 0; i < len(text); i++ {
		s = a.step(s, text[i])
		for o := s; o > 0; o = a.states[o].dict {
			dst = append(dst, a.states[o].out...)
		}
	}
	return dst
}

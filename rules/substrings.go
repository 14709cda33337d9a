package rules

import "sort"

// substrings is an Aho-Corasick automaton: it finds, in one pass over a text, every literal of a set that occurs in
// it. The prefilter index uses one per field for the literals of contains/startsWith/endsWith conditions.
type substrings struct {
	root   [256]int32 // transitions from the root, dense
	states []acState
}

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
	i := sort.Search(len(e), func(i int) bool { return e[i].b >= b })
	if i < len(e) && e[i].b == b {
		return e[i].to
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
	return a
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
	s := int32(0)
	for i := 0; i < len(text); i++ {
		s = a.step(s, text[i])
		for o := s; o > 0; o = a.states[o].dict {
			dst = append(dst, a.states[o].out...)
		}
	}
	return dst
}

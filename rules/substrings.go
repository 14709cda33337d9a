package rules

import (
	"slices"
	"strings"
)

// substrings is an Aho-Corasick automaton: it finds, in one pass over a text, every literal of a set that occurs in
// it. The prefilter index uses one per field for the literals of contains/startsWith/endsWith conditions.
type substrings struct {
	// few holds the literals, when they are few, instead of an automaton (see fewLiterals).
	few  []fewLiteral
	root [256]int32 // transitions from the root, dense
	// The trie's states are numbered breadth-first from the root (0), from the sorted literals: the children of
	// state s are the states first[s] to first[s+1]-1, in the order of their bytes, label[child]. So the trie is a
	// few flat arrays, built without an allocation per state (SigmaHQ's hash lists make hundreds of thousands).
	first []int32
	label []byte
	fail  []int32
	dict  []int32 // the nearest state on the fail chain with literals ending there, -1 if none
	// The literals ending at state s are ids[out[s]:out[s]+nOut[s]]: ids sorts the literals, and those ending at a
	// state are the first of the run sharing its prefix.
	out  []int32
	nOut []int32
	ids  []int32
	// fold: the literals are lowered (no A-Z) and the scan lowers the text's A-Z as it goes (class and step), so an
	// ASCII text need not be copied lowered first.
	fold bool
	// ascii: every literal is ASCII, so every byte of a non-ASCII rune leads back to the root.
	ascii bool
	// The scan spends most of its steps near the root, where texts keep falling back to, so the states of depth
	// up to denseDepth have a complete transition row (goto and fail resolved) over byte classes: the bytes of the
	// literals, and class 0 for every other byte, which leads back to the root from any state.
	class   [256]uint8
	classes int
	nDense  int32 // states 0 to nDense-1 have their row at rows[s*classes]
	rows    []int32
	report  []bool // state → literals end here or on its fail chain
}

// denseDepth is the depth of the deepest states with a transition row. On SigmaHQ's Windows rules over the OTRF
// recordings, rows for the first three levels made the scan about twice as fast, for some megabytes in all.
const denseDepth = 3

// fewLiterals is the number of literals up to which scan looks for each in turn, instead of stepping an automaton
// through every byte: a vectorized search for the literal's rarest byte (indexFold) or its first (strings.Index)
// skips most of a long text. Windows events' Message, 4.6 MB of the 7.7 MB of text the index scans in the OTRF
// recordings, has one literal in SigmaHQ's rules.
const fewLiterals = 4

type fewLiteral struct {
	s      string
	id     int32
	anchor int // for fold: see anchorOf
}

// newSubstrings builds the automaton; literal i of lits is reported as i. Empty literals are ignored. With fold, the
// scan lowers the text's letters A-Z, and a literal holding one of them is never found.
func newSubstrings(lits []string, fold bool) *substrings {
	a := &substrings{fold: fold}
	for i, l := range lits {
		if l != "" {
			a.ids = append(a.ids, int32(i))
		}
	}
	if len(a.ids) <= fewLiterals {
		for _, id := range a.ids {
			a.few = append(a.few, fewLiteral{s: lits[id], id: id, anchor: anchorOf(lits[id])})
		}
		return a
	}
	slices.SortFunc(a.ids, func(x, y int32) int { return strings.Compare(lits[x], lits[y]) })
	a.buildTrie(lits)
	a.buildLinks()
	a.buildRows()
	return a
}

// buildTrie numbers the states breadth-first. A state stands for the run of sorted literals sharing its prefix; its
// children split the run by the byte after the prefix, so they come out contiguous and in byte order.
func (a *substrings) buildTrie(lits []string) {
	type span struct{ lo, hi, depth int32 }
	states := 1 // at most: the root and a state per byte of the literals
	for _, id := range a.ids {
		states += len(lits[id])
	}
	spans := make([]span, 1, states)
	spans[0] = span{0, int32(len(a.ids)), 0}
	a.label = make([]byte, 1, states)
	a.first = make([]int32, 0, states+1)
	a.out = make([]int32, 0, states)
	a.nOut = make([]int32, 0, states)
	for s := 0; s < len(spans); s++ {
		sp := spans[s]
		i := sp.lo
		for i < sp.hi && len(lits[a.ids[i]]) == int(sp.depth) {
			i++
		}
		a.out = append(a.out, sp.lo)
		a.nOut = append(a.nOut, i-sp.lo)
		a.first = append(a.first, int32(len(spans)))
		for i < sp.hi {
			b := lits[a.ids[i]][sp.depth]
			j := i + 1
			for j < sp.hi && lits[a.ids[j]][sp.depth] == b {
				j++
			}
			spans = append(spans, span{i, j, sp.depth + 1})
			a.label = append(a.label, b)
			i = j
		}
	}
	a.first = append(a.first, int32(len(spans)))
	if n := len(a.label); cap(a.label) > n+n/4 { // literals sharing prefixes: keep what is used
		a.label, a.first, a.out, a.nOut = slices.Clone(a.label), slices.Clone(a.first), slices.Clone(a.out), slices.Clone(a.nOut)
	}
	for c := a.first[0]; c < a.first[1]; c++ {
		a.root[a.label[c]] = c
	}
}

// buildLinks sets the fail and dictionary links, breadth-first: a state's links are set before its children's.
func (a *substrings) buildLinks() {
	n := len(a.label)
	a.fail = make([]int32, n)
	a.dict = make([]int32, n)
	a.dict[0] = -1
	for p := range int32(n) {
		for c := a.first[p]; c < a.first[p+1]; c++ {
			fc := int32(0)
			if p != 0 {
				fc = a.step(a.fail[p], a.label[c])
			}
			a.fail[c] = fc
			if a.nOut[fc] > 0 {
				a.dict[c] = fc
			} else {
				a.dict[c] = a.dict[fc]
			}
		}
	}
}

// buildRows gives the states of depth up to denseDepth their transition rows (see substrings).
func (a *substrings) buildRows() {
	byClass := []byte{0} // class → a byte of it
	a.ascii = true
	for _, b := range a.label[1:] {
		a.ascii = a.ascii && b < 0x80
		if a.class[b] == 0 {
			a.class[b] = uint8(min(len(byClass), 255))
			byClass = append(byClass, b)
		}
	}
	if a.fold {
		for b := 'A'; b <= 'Z'; b++ {
			a.class[b] = a.class[b+'a'-'A']
		}
	}
	if len(byClass) > 255 {
		a.classes = 0 // every byte occurs: no rows, step as before
		return
	}
	a.classes = len(byClass)
	a.report = make([]bool, len(a.label))
	for i := range a.report {
		a.report[i] = a.nOut[i] > 0 || a.dict[i] >= 0
	}
	// Breadth-first numbering puts the states of depth up to denseDepth first: the states before the first child of
	// the first state of a level are those of the levels above it.
	end := int32(1)
	for range denseDepth {
		end = a.first[end]
	}
	a.nDense = end
	a.rows = make([]int32, 0, int(end)*a.classes)
	for s := range end {
		a.rows = append(a.rows, 0)
		for _, b := range byClass[1:] {
			a.rows = append(a.rows, a.step(s, b))
		}
	}
}

// child returns the child of a state other than the root on b, or -1.
func (a *substrings) child(s int32, b byte) int32 {
	lo, hi := a.first[s], a.first[s+1]
	end := hi
	for lo < hi {
		m := int32(uint32(lo+hi) >> 1)
		if a.label[m] < b {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < end && a.label[lo] == b {
		return lo
	}
	return -1
}

// step follows the goto function from s on b, falling back along fail links; the root loops to itself.
func (a *substrings) step(s int32, b byte) int32 {
	for {
		if s == 0 {
			return a.root[b]
		}
		if n := a.child(s, b); n >= 0 {
			return n
		}
		s = a.fail[s]
	}
}

// stepDeep is step from a state without a row, on b of class c: once the fail links reach a state with a row, the
// row gives the rest.
func (a *substrings) stepDeep(s int32, b byte, c int32) int32 {
	for s >= a.nDense {
		if n := a.child(s, b); n >= 0 {
			return n
		}
		s = a.fail[s]
	}
	return a.rows[s*int32(a.classes)+c]
}

// scan appends to dst the literals occurring in text; a literal may be appended more than once.
func (a *substrings) scan(text string, dst []int32) []int32 {
	if a.ids == nil {
		return dst
	}
	if a.few != nil {
		return a.scanFew(text, dst)
	}
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
		case s < a.nDense:
			s = a.rows[s*int32(a.classes)+c]
		default:
			b := text[i]
			if a.fold {
				b = lowerASCII(b)
			}
			s = a.stepDeep(s, b, c)
		}
		if a.report[s] {
			dst = a.appendOut(s, dst)
		}
	}
	return dst
}

// scanFew is scan for few literals. indexFold compares the text's bytes lowered (A-Z only) with the literal's: a
// literal holding A-Z is never found, as with the automaton.
func (a *substrings) scanFew(text string, dst []int32) []int32 {
	for _, l := range a.few {
		if a.fold && indexFold(text, l.s, l.anchor) >= 0 || !a.fold && strings.Contains(text, l.s) {
			dst = append(dst, l.id)
		}
	}
	return dst
}

// scanSparse is scan without transition rows.
func (a *substrings) scanSparse(text string, dst []int32) []int32 {
	s := int32(0)
	for i := 0; i < len(text); i++ {
		b := text[i]
		if a.fold {
			b = lowerASCII(b)
		}
		s = a.step(s, b)
		dst = a.appendOut(s, dst)
	}
	return dst
}

// appendOut appends the literals ending at s and along its fail chain.
func (a *substrings) appendOut(s int32, dst []int32) []int32 {
	for o := s; o > 0; o = a.dict[o] {
		dst = append(dst, a.ids[a.out[o]:a.out[o]+int32(a.nOut[o])]...)
	}
	return dst
}

package rules

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/vigilsoc/vigil/fields"
)

// Finding an event's candidates: the index's work on every event (index.go builds it).

// scratch is per-goroutine state for collecting candidates without allocating. A mark equal to gen means "set for
// this event"; count is valid for a branch only when its branchMark is gen; ruleMark says a rule is a candidate.
type scratch struct {
	event      fields.Value // the event whose candidates are being collected
	gen        uint32
	groupMark  []uint32
	branchMark []uint32
	count      []uint8
	ruleMark   []uint32
	cands      []int32
	lits       []int32
	buf        []byte // a text lowered
	num        []byte // a number's text
}

// candidates returns the indexes, in rule order, of the rules that may match the event. The slice belongs to s.
func (ix *index) candidates(event fields.Value, s *scratch) []int32 {
	s.gen++
	if s.gen == 0 { // wrapped around: reset the marks
		clear(s.groupMark)
		clear(s.branchMark)
		clear(s.ruleMark)
		s.gen = 1
	}
	s.cands = append(s.cands[:0], ix.always...)
	s.event = event
	if ix.byTop != nil {
		for name, v := range event.Members() {
			if i := ix.byTop.find(ix.tops, name); i >= 0 {
				ix.collectTop(ix.tops[i].fields, v, s)
			}
		}
	} else {
		for _, t := range ix.tops {
			if v := event.Get(t.name); v.Exists() {
				ix.collectTop(t.fields, v, s)
			}
		}
	}
	s.event = fields.Value{}
	if len(s.cands) > len(ix.always) {
		slices.Sort(s.cands)
	}
	return s.cands
}

// collectTop collects the values of the fields under one top-level member of the event, top.
func (ix *index) collectTop(fs []*fieldIndex, top fields.Value, s *scratch) {
	for _, f := range fs {
		v := top.Lookup(f.path[1:]...)
		if !v.Exists() {
			continue
		}
		ix.satisfy(f.present, s)
		switch v.Kind() {
		case fields.Array:
			for e := range v.Elements() {
				f.collect(ix, e, s)
			}
		case fields.Object:
			for k := range v.Members() {
				f.collectString(ix, k, s)
			}
		default:
			f.collect(ix, v, s)
		}
	}
}

func (f *fieldIndex) collect(ix *index, v fields.Value, s *scratch) {
	if f.sigma {
		f.collectSigma(ix, v, s)
		return
	}
	switch v.Kind() {
	case fields.String:
		f.collectString(ix, v.Str(), s)
	case fields.Int:
		f.collectNumber(ix, float64(v.Int()), s)
	case fields.Uint:
		f.collectNumber(ix, float64(v.Uint()), s)
	case fields.Float:
		f.collectNumber(ix, v.Float(), s)
	case fields.Bool:
		if v.Bool() {
			ix.satisfy(f.bools[1], s)
		} else {
			ix.satisfy(f.bools[0], s)
		}
	}
}

func (f *fieldIndex) collectString(ix *index, x string, s *scratch) {
	if f.sigma {
		f.collectSigmaString(ix, x, s)
		return
	}
	// lowerAscii changes the letters A-Z only: the automaton lowers them as it scans, and only a text as long as some
	// value is copied lowered for the lookup.
	if f.mayEqual(len(x)) {
		key := x
		if f.fold {
			s.buf = appendLowerASCII(s.buf[:0], x)
			key = unsafeString(s.buf)
		}
		ix.satisfy(f.strings[key], s)
	}
	f.collectSubstrings(ix, x, s)
}

// mayEqual reports whether some value of f.strings has n bytes.
func (f *fieldIndex) mayEqual(n int) bool {
	if n >= 256 {
		return f.eqLong
	}
	return f.eqLens[n>>6]&(1<<(n&63)) != 0
}

func (f *fieldIndex) collectSubstrings(ix *index, text string, s *scratch) {
	if f.subs != nil {
		s.lits = f.subs.scan(text, s.lits[:0])
		for _, lit := range s.lits {
			ix.satisfy(f.subGrps[lit], s)
		}
	}
}

// collectSigma looks a value up as the Sigma functions see it: its text lowered like theirs (ASCII letters, or
// strings.ToLower for other text), and numbers also by value.
func (f *fieldIndex) collectSigma(ix *index, v fields.Value, s *scratch) {
	var text string
	switch v.Kind() {
	case fields.String:
		f.collectSigmaString(ix, v.Str(), s)
		return
	case fields.Int:
		ix.satisfy(f.numbers[float64(v.Int())], s)
		s.num = strconv.AppendInt(s.num[:0], v.Int(), 10)
		text = unsafeString(s.num)
	case fields.Uint:
		ix.satisfy(f.numbers[float64(v.Uint())], s)
		s.num = strconv.AppendUint(s.num[:0], v.Uint(), 10)
		text = unsafeString(s.num)
	case fields.Float:
		ix.satisfy(f.numbers[v.Float()], s)
		s.num = strconv.AppendFloat(s.num[:0], v.Float(), 'f', -1, 64)
		text = unsafeString(s.num)
	case fields.Bool:
		text = strconv.FormatBool(v.Bool())
	default:
		return
	}
	f.collectSigmaString(ix, text, s) // a number's text: ASCII, "NaN" and "+Inf" with capitals
}

// collectSigmaString looks a text up lowered as the Sigma functions lower it: an ASCII text by its letters A-Z, which
// the automaton lowers as it scans (and only a text as long as some value is copied lowered for the lookup), other
// text with strings.ToLower.
//
// An automaton of ASCII literals scans any text as is, but for the two runes strings.ToLower turns into ASCII
// letters: other runes lower to runes of bytes the literals lack, which bring the scan back to the root as the bytes
// of the rune unlowered do. So a long non-ASCII script block is lowered only when the field also has values.
func (f *fieldIndex) collectSigmaString(ix *index, x string, s *scratch) {
	if len(f.strings) > 0 || f.subs != nil && (!f.subs.ascii || lowersToASCII(x)) {
		if !isASCII(x) {
			x = strings.ToLower(x)
			if f.mayEqual(len(x)) {
				ix.satisfy(f.strings[x], s)
			}
			f.collectSubstrings(ix, x, s)
			return
		}
		if f.mayEqual(len(x)) {
			s.buf = appendLowerASCII(s.buf[:0], x)
			ix.satisfy(f.strings[unsafeString(s.buf)], s)
		}
	}
	f.collectSubstrings(ix, x, s)
}

// lowersToASCII reports whether x holds one of the two runes that unicode.ToLower turns into ASCII: U+0130 (İ, to i)
// and U+212A (KELVIN SIGN, to k). TestLowersToASCII checks that there are no others.
func lowersToASCII(x string) bool {
	return strings.Contains(x, "\u0130") || strings.Contains(x, "\u212a")
}

func (f *fieldIndex) collectNumber(ix *index, v float64, s *scratch) {
	ix.satisfy(f.numbers[v], s)
	for _, t := range f.atLeast {
		if t.v > v {
			break
		}
		ix.satisfyOne(t.group, s)
	}
	i, _ := slices.BinarySearchFunc(f.atMost, v, func(t threshold, v float64) int { return cmp.Compare(t.v, v) })
	for _, t := range f.atMost[i:] {
		ix.satisfyOne(t.group, s)
	}
}

type threshold struct {
	v     float64
	group int32
}

func toFloat(v ref.Val) float64 {
	switch x := v.(type) {
	case types.Int:
		return float64(x)
	case types.Uint:
		return float64(x)
	case types.Double:
		return float64(x)
	}
	return 0
}

// satisfy marks groups as satisfied and makes a rule a candidate when its last group is.
func (ix *index) satisfy(groups []int32, s *scratch) {
	for _, g := range groups {
		ix.satisfyOne(g, s)
	}
}

func (ix *index) satisfyOne(g int32, s *scratch) {
	if s.groupMark[g] == s.gen {
		return
	}
	s.groupMark[g] = s.gen
	b := ix.owner[g]
	if s.branchMark[b] != s.gen {
		s.branchMark[b] = s.gen
		s.count[b] = 0
	}
	s.count[b]++
	if s.count[b] == ix.need[b] {
		if checks, ok := ix.checks[b]; ok {
			for _, g := range checks {
				if !holds(s.event, g) {
					return
				}
			}
		}
		if r := ix.branchRule[b]; s.ruleMark[r] != s.gen {
			s.ruleMark[r] = s.gen
			s.cands = append(s.cands, r)
		}
	}
}

// appendLowerASCII lowercases A-Z only, exactly as CEL's lowerAscii does.
func appendLowerASCII(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// unsafeString views b as a string without copying; the string must not outlive the next change to b.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

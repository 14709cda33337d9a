package rules

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/vigilsoc/vigil/fields"
)

// sigmaMatcher is a prepared pattern: lowered literals (unless cased), globs, regular expressions, ranges, a number.
type sigmaMatcher struct {
	sigmaFunc
	lits  []sigmaLiteral
	multi *multiContains // for opContains with many literals
	res   []*regexp.Regexp
	reLit []regexPrefilter // for res[i]: what every match holds, to skip the regular expression when a text lacks it
	nets  []netip.Prefix
	bound float64
}

type sigmaLiteral struct {
	s      string   // lowered unless cased
	glob   []string // for opLike: the text between wildcards; wild[i] precedes glob[i+1]
	wild   []byte   // '*' or '?'
	num    float64  // numeric value, when isNum
	isNum  bool
	anchor int  // for opContains: see anchorOf
	ascii  bool // an ASCII text cannot contain or equal a literal that is not ASCII
}

func newSigmaMatcher(f sigmaFunc, pattern ref.Val) (*sigmaMatcher, error) {
	m := &sigmaMatcher{sigmaFunc: f}
	var add func(v ref.Val) error
	add = func(v ref.Val) error {
		if l, ok := v.(traits.Lister); ok {
			for it := l.Iterator(); it.HasNext() == types.True; {
				if err := add(it.Next()); err != nil {
					return err
				}
			}
			return nil
		}
		return m.addPattern(v)
	}
	if err := add(pattern); err != nil {
		return nil, err
	}
	if m.op == opContains && len(m.lits) >= multiContainsMin {
		m.multi = newMultiContains(m.lits)
	}
	return m, nil
}

func (m *sigmaMatcher) addPattern(v ref.Val) error {
	s, ok := scalarText(v)
	if !ok {
		return fmt.Errorf("pattern of type %s: want a string, number or boolean", v.Type().TypeName())
	}
	switch m.op {
	case opRe:
		re, err := regexp.Compile(s)
		if err != nil {
			return err
		}
		m.res = append(m.res, re)
		m.reLit = append(m.reLit, newRegexPrefilter(s))
		return nil
	case opCidr:
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return err
		}
		m.nets = append(m.nets, p.Masked())
		return nil
	case opGt, opGte, opLt, opLte:
		n, ok := parseNumber(s)
		if !ok {
			return fmt.Errorf("%q is not a number", s)
		}
		m.bound = n
		return nil
	case opMinute, opHour, opDay, opWeek, opMonth, opYear:
		n, err := timePartPattern(m.op, s)
		if err != nil {
			return err
		}
		m.lits = append(m.lits, sigmaLiteral{s: s, num: float64(n), isNum: true})
		return nil
	}
	if !m.cased {
		s = strings.ToLower(s)
	}
	lit := sigmaLiteral{s: s}
	lit.num, lit.isNum = parseNumber(s)
	lit.anchor = anchorOf(s)
	lit.ascii = isASCII(s)
	if m.op == opLike {
		lit.glob, lit.wild = splitGlob(s)
	}
	m.lits = append(m.lits, lit)
	return nil
}

func splitGlob(s string) ([]string, []byte) {
	var parts []string
	var wild []byte
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '*' || s[i] == '?' {
			parts = append(parts, s[start:i])
			wild = append(wild, s[i])
			start = i + 1
		}
	}
	return append(parts, s[start:]), wild
}

// match reports whether any element of v matches.
func (m *sigmaMatcher) match(v ref.Val) bool {
	switch x := v.(type) {
	case types.String:
		return m.matchString(string(x))
	case types.Int:
		return m.matchNumber(float64(x), x)
	case types.Uint:
		return m.matchNumber(float64(x), x)
	case types.Double:
		return m.matchNumber(float64(x), x)
	case types.Bool:
		return m.matchString(strconv.FormatBool(bool(x)))
	case types.Timestamp:
		return timePartRange[m.op] != [2]int{} && m.matchTime(x.Time)
	case anyValue:
		if o, ok := x.m.(object); ok {
			return m.matchFields(o.v, true)
		}
		return m.matchTree(x.m.Value(), true)
	case list:
		return m.matchFields(x.v, false)
	case traits.Lister:
		if native, ok := x.Value().([]any); ok {
			return m.matchTree(native, false)
		}
		for it := x.Iterator(); it.HasNext() == types.True; {
			if m.match(it.Next()) {
				return true
			}
		}
	}
	return false
}

// matchFields matches a value of the event's tree: lists always, objects only when deep (a keyword search).
func (m *sigmaMatcher) matchFields(v fields.Value, deep bool) bool {
	switch v.Kind() {
	case fields.Array:
		for e := range v.Elements() {
			if m.matchFields(e, deep) {
				return true
			}
		}
		return false
	case fields.Object:
		if deep {
			for _, e := range v.Members() {
				if m.matchFields(e, deep) {
					return true
				}
			}
		}
		return false
	}
	return m.match(celValue(v))
}

// matchTree matches a decoded JSON value: lists always, maps only when deep (a keyword search).
func (m *sigmaMatcher) matchTree(v any, deep bool) bool {
	switch x := v.(type) {
	case string:
		return m.matchString(x)
	case int64:
		return m.matchNumber(float64(x), types.Int(x))
	case uint64:
		return m.matchNumber(float64(x), types.Uint(x))
	case float64:
		return m.matchNumber(x, types.Double(x))
	case bool:
		return m.matchString(strconv.FormatBool(x))
	case []any:
		for _, e := range x {
			if m.matchTree(e, deep) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if deep && m.matchTree(e, deep) {
				return true
			}
		}
	case ref.Val:
		return m.match(x)
	}
	return false
}

func (m *sigmaMatcher) matchNumber(n float64, v ref.Val) bool {
	switch m.op {
	case opGt:
		return n > m.bound
	case opGte:
		return n >= m.bound
	case opLt:
		return n < m.bound
	case opLte:
		return n <= m.bound
	case opEq:
		for _, l := range m.lits {
			if l.isNum && l.num == n {
				return true
			}
		}
		return false
	case opMinute, opHour, opDay, opWeek, opMonth, opYear:
		return false // a number is no written date
	}
	s, _ := scalarText(v)
	return m.matchString(s)
}

func (m *sigmaMatcher) matchString(s string) bool {
	switch m.op {
	case opRe:
		ascii := isASCII(s)
		for i, re := range m.res {
			if m.reLit[i].absent(s, ascii) {
				continue
			}
			if re.MatchString(s) {
				return true
			}
		}
		return false
	case opCidr:
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		ip = ip.Unmap().WithZone("")
		for _, p := range m.nets {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	case opGt, opGte, opLt, opLte:
		n, ok := parseNumber(s)
		return ok && m.matchNumber(n, nil)
	case opMinute, opHour, opDay, opWeek, opMonth, opYear:
		return m.matchTimePart(s)
	}
	fold := !m.cased
	if fold && !isASCII(s) {
		s, fold = strings.ToLower(s), false
	}
	if m.multi != nil {
		return m.multi.match(m.lits, s, fold)
	}
	for i := range m.lits {
		if l := &m.lits[i]; (l.ascii || !fold) && m.matchLiteral(l, s, fold) {
			return true
		}
	}
	return false
}

// multiContainsMin is the number of substrings from which one pass over the text (multiContains) beats a search per
// substring.
const multiContainsMin = 12

// multiContains finds any of many substrings in one pass: a bitmap of the (lowered) byte pairs the substrings start
// with selects the positions worth comparing, and the substrings starting with that pair are compared there.
// SigmaHQ rules search command lines for hundreds of tool names, emoji or hashes at once.
type multiContains struct {
	pairs  [1 << 16 / 64]uint64
	byPair map[uint16][]int32
	short  []int32 // substrings of fewer than two bytes
}

func newMultiContains(lits []sigmaLiteral) *multiContains {
	mc := &multiContains{byPair: map[uint16][]int32{}}
	for i, l := range lits {
		if len(l.s) < 2 {
			mc.short = append(mc.short, int32(i))
			continue
		}
		k := uint16(l.s[0])<<8 | uint16(l.s[1])
		mc.pairs[k>>6] |= 1 << (k & 63)
		mc.byPair[k] = append(mc.byPair[k], int32(i))
	}
	return mc
}

func (mc *multiContains) match(lits []sigmaLiteral, s string, fold bool) bool {
	for _, i := range mc.short {
		if indexText(s, lits[i].s, fold) >= 0 {
			return true
		}
	}
	for i := 0; i+1 < len(s); i++ {
		a, b := s[i], s[i+1]
		if fold {
			a, b = lowerASCII(a), lowerASCII(b)
		}
		k := uint16(a)<<8 | uint16(b)
		if mc.pairs[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		for _, j := range mc.byPair[k] {
			if lit := lits[j].s; len(s)-i >= len(lit) && equalText(s[i:i+len(lit)], lit, fold) {
				return true
			}
		}
	}
	return false
}

// matchLiteral compares s with a literal; fold means s is ASCII and compared case-insensitively with the lowered
// literal.
func (m *sigmaMatcher) matchLiteral(l *sigmaLiteral, s string, fold bool) bool {
	switch m.op {
	case opEq:
		return len(s) == len(l.s) && equalText(s, l.s, fold)
	case opPrefix:
		return len(s) >= len(l.s) && equalText(s[:len(l.s)], l.s, fold)
	case opSuffix:
		return len(s) >= len(l.s) && equalText(s[len(s)-len(l.s):], l.s, fold)
	case opContains:
		if fold {
			return indexFold(s, l.s, l.anchor) >= 0
		}
		return strings.Contains(s, l.s)
	case opLike:
		return matchGlob(s, l.glob, l.wild, fold)
	}
	return false
}

func equalText(s, lit string, fold bool) bool {
	if !fold {
		return s == lit
	}
	for i := 0; i < len(s); i++ {
		if lowerASCII(s[i]) != lit[i] {
			return false
		}
	}
	return true
}

// indexText finds lit in s, case-insensitively for ASCII s when fold is set, without allocating.
func indexText(s, lit string, fold bool) int {
	if !fold {
		return strings.Index(s, lit)
	}
	return indexFold(s, lit, anchorOf(lit))
}

// indexFold finds the lowered lit in ASCII s. Candidates are the places of lit's anchor byte (its rarest byte in
// typical text), found with strings.IndexByte, which is vectorized, once for each letter case; so long text such as
// a PowerShell script block is scanned quickly.
func indexFold(s, lit string, anchor int) int {
	if len(lit) == 0 {
		return 0
	}
	if len(s) < len(lit) {
		return -1
	}
	c, other := lit[anchor], lit[anchor]
	if 'a' <= c && c <= 'z' {
		other = c - 'a' + 'A'
	}
	window := s[anchor : len(s)-len(lit)+anchor+1] // where the anchor byte of a match can be
	next, nextOther := -1, -1
	for i := 0; i < len(window); i++ {
		if next < i {
			if next = indexByteFrom(window, c, i); next < 0 {
				next = len(window)
			}
		}
		if nextOther < i {
			if nextOther = indexByteFrom(window, other, i); nextOther < 0 {
				nextOther = len(window)
			}
		}
		if i = min(next, nextOther); i >= len(window) {
			return -1
		}
		if equalText(s[i:i+len(lit)], lit, true) {
			return i
		}
	}
	return -1
}

func indexByteFrom(s string, c byte, from int) int {
	if j := strings.IndexByte(s[from:], c); j >= 0 {
		return from + j
	}
	return -1
}

// commonBytes orders bytes from most to least frequent in command lines, paths and scripts, roughly; a byte not
// listed counts as rare.
const commonBytes = " etaoinsrhldcumfpgwybvk.\\-/:_x0123456789=\"'$(){};,jqz"

// anchorOf picks the byte of a lowered literal that is rarest in typical text.
func anchorOf(lit string) int {
	best, bestRank := 0, -1
	for i := 0; i < len(lit); i++ {
		rank := strings.IndexByte(commonBytes, lit[i])
		if rank < 0 {
			rank = len(commonBytes)
		}
		if rank > bestRank {
			best, bestRank = i, rank
		}
	}
	return best
}

// matchGlob matches s against the parts of a glob joined by wild ('*' any run, '?' one character), backtracking
// only to the last '*'.
func matchGlob(s string, parts []string, wild []byte, fold bool) bool {
	if len(s) < len(parts[0]) || !equalText(s[:len(parts[0])], parts[0], fold) {
		return false
	}
	s = s[len(parts[0]):]
	return matchGlobRest(s, parts[1:], wild, fold)
}

func matchGlobRest(s string, parts []string, wild []byte, fold bool) bool {
	for i, w := range wild {
		part := parts[i]
		last := i == len(wild)-1
		if w == '?' {
			if s == "" {
				return false
			}
			_, n := utf8.DecodeRuneInString(s)
			s = s[n:]
			if len(s) < len(part) || !equalText(s[:len(part)], part, fold) {
				return false
			}
			s = s[len(part):]
			continue
		}
		if last {
			return len(s) >= len(part) && equalText(s[len(s)-len(part):], part, fold)
		}
		// '*': try every position of part, leftmost first; the rest decides.
		for off := 0; off+len(part) <= len(s); off++ {
			if j := indexText(s[off:], part, fold); j < 0 {
				return false
			} else if matchGlobRest(s[off+j+len(part):], parts[i+1:], wild[i+1:], fold) {
				return true
			} else {
				off += j
			}
		}
		return false
	}
	return s == ""
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 { // eight bytes at a time: the high bits of all of them at once
		if (uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|uint64(s[i+4])<<32|
			uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56)&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// scalarText is the text Sigma compares a scalar by.
func scalarText(v ref.Val) (string, bool) {
	switch x := v.(type) {
	case types.String:
		return string(x), true
	case types.Int:
		return strconv.FormatInt(int64(x), 10), true
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10), true
	case types.Double:
		return strconv.FormatFloat(float64(x), 'f', -1, 64), true
	case types.Bool:
		return strconv.FormatBool(bool(x)), true
	}
	return "", false
}

func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || !strings.ContainsAny(s[:1], "0123456789+-.") {
		return 0, false
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return float64(i), true
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

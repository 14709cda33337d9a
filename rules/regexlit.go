package rules

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// lowering is how the index lowers a field's text before it looks for the literals of a pattern in it.
type lowering int

const (
	// lowerASCIIOnly lowers the letters A-Z only, as CEL's lowerAscii does (conditions written with matches()).
	lowerASCIIOnly lowering = iota
	// lowerSigma lowers as the Sigma functions do: ASCII text by its letters A-Z, other text rune by rune with
	// unicode.ToLower (strings.ToLower).
	lowerSigma
	// lowerNone keeps the text as written: a case-insensitive letter is not kept (the re matcher's prefilter).
	lowerNone
)

// minRegexLiteral is the shortest literal worth indexing: a single byte occurs in most texts.
const minRegexLiteral = 2

// maxRegexAlternatives bounds the literals of one pattern (an alternation of many words).
const maxRegexAlternatives = 32

// regexLiterals returns literals of which every match of the RE2 pattern contains at least one, once its text is
// lowered as low says, or nil when it finds none. A literal is required when it is a factor of the pattern's
// concatenation (or of a repetition of at least one); an alternation requires one of the literals of its branches
// when each branch requires some. Among the required factors the one with the longest shortest literal wins. A
// case-insensitive letter is kept only when every rune it matches lowers to the same rune (under lowerASCIIOnly,
// (?i)k also matches U+212A KELVIN SIGN, which lowerAscii leaves alone; under both, (?i)s matches U+017F, which
// lowers to itself); literals are cut where a rune is not kept.
func regexLiterals(pattern string, low lowering) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	lits, _ := requiredLiterals(re.Simplify(), low)
	return lits
}

// requiredLiterals returns the literals of which every match of re contains one, and false when there are none.
func requiredLiterals(re *syntax.Regexp, low lowering) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		pieces := literalPieces(re.Rune, re.Flags&syntax.FoldCase != 0, low)
		if len(pieces) == 0 {
			return nil, false
		}
		best := slices.MaxFunc(pieces, func(a, b string) int { return len(a) - len(b) })
		return []string{best}, len(best) >= minRegexLiteral
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiterals(re.Sub[0], low)
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiterals(re.Sub[0], low)
		}
	case syntax.OpConcat:
		var best []string
		for _, sub := range re.Sub {
			if lits, ok := requiredLiterals(sub, low); ok && (best == nil || betterLiterals(lits, best)) {
				best = lits
			}
		}
		return best, best != nil
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			lits, ok := requiredLiterals(sub, low)
			if !ok {
				return nil, false
			}
			all = append(all, lits...)
		}
		slices.Sort(all)
		all = slices.Compact(all)
		return all, len(all) <= maxRegexAlternatives
	}
	return nil, false
}

// betterLiterals reports whether the set a narrows more than b: a longer shortest literal, then fewer literals.
func betterLiterals(a, b []string) bool {
	shortest := func(s []string) int { return len(slices.MinFunc(s, func(x, y string) int { return len(x) - len(y) })) }
	if sa, sb := shortest(a), shortest(b); sa != sb {
		return sa > sb
	}
	return len(a) < len(b)
}

// literalPieces lowers the runes of a literal and splits them where a rune is not kept (see regexLiterals).
func literalPieces(runes []rune, fold bool, low lowering) []string {
	var pieces []string
	var b strings.Builder
	cut := func() {
		if b.Len() > 0 {
			pieces = append(pieces, b.String())
			b.Reset()
		}
	}
	for _, r := range runes {
		lowered, ok := lowerRune(r, fold, low)
		if !ok {
			cut()
			continue
		}
		b.WriteRune(lowered)
	}
	cut()
	return pieces
}

// lowerRune returns the rune every text matching r holds at its place once lowered, or false when there is none.
func lowerRune(r rune, fold bool, low lowering) (rune, bool) {
	lower := func(r rune) rune {
		switch low {
		case lowerSigma:
			return unicode.ToLower(r)
		case lowerNone:
			return r
		}
		return asciiLower(r)
	}
	if r == utf8.RuneError { // it also matches a byte that is not UTF-8
		return 0, false
	}
	want := lower(r)
	if fold {
		for o := unicode.SimpleFold(r); o != r; o = unicode.SimpleFold(o) {
			if lower(o) != want {
				return 0, false
			}
		}
	}
	return want, true
}

func asciiLower(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

// Most of the `re` patterns of SigmaHQ's rules are searches for a path or a command fragment around a few wildcards
// (`\\Windows\\System32\\[a-z0-9]{8}\.tmp$`), and most texts they are tried on lack the fixed part. Go's regexp
// scans the whole text from every position for an unanchored pattern; a search for the literals every match
// requires decides most texts at a fraction of that cost, and the regular expression runs only where it may match.

// regexPrefilter is what a text must hold for a pattern to match it: one of the literals every match holds as
// written, searched for in any text; or, when the pattern has none (its letters are case-insensitive), one of those
// it holds once lowered as the Sigma functions lower, searched for in ASCII text in any case.
type regexPrefilter struct {
	exact   []string
	folded  bool     // the literals below are lowered
	lits    []string // the ASCII ones: an ASCII text, the only kind a folded search decides, never holds the others
	anchors []int    // for indexFold
}

func newRegexPrefilter(pattern string) regexPrefilter {
	if exact := regexLiterals(pattern, lowerNone); exact != nil {
		return regexPrefilter{exact: exact}
	}
	lits := regexLiterals(pattern, lowerSigma)
	p := regexPrefilter{folded: lits != nil}
	for _, l := range lits {
		if isASCII(l) {
			p.lits = append(p.lits, l)
			p.anchors = append(p.anchors, anchorOf(l))
		}
	}
	return p
}

// absent reports whether the pattern certainly cannot match s (ascii says whether s is ASCII); the regular
// expression decides the rest.
func (p regexPrefilter) absent(s string, ascii bool) bool {
	switch {
	case p.exact != nil:
		for _, l := range p.exact {
			if strings.Contains(s, l) {
				return false
			}
		}
		return true
	case !p.folded || !ascii:
		return false
	}
	for i, l := range p.lits {
		if indexFold(s, l, p.anchors[i]) >= 0 {
			return false
		}
	}
	return true
}

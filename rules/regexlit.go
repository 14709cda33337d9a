package rules

import (
	"regexp/syntax"
	"strings"
	"unicode"
)

// regexLiteral returns a string that every match of the RE2 pattern must contain once ASCII-lowercased, or "" when it
// finds none. It takes the longest literal of the pattern's top-level concatenation. For case-insensitive literals,
// the letters k and s are cut out, because Unicode case folding also maps them to non-ASCII runes (K: U+212A,
// S: U+017F) that lowercasing the value with lowerAscii would not turn into k or s; non-ASCII letters are cut out for
// the same reason.
func regexLiteral(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	for re.Op == syntax.OpCapture && len(re.Sub) == 1 {
		re = re.Sub[0]
	}
	var parts []*syntax.Regexp
	switch re.Op {
	case syntax.OpLiteral:
		parts = []*syntax.Regexp{re}
	case syntax.OpConcat:
		parts = re.Sub
	}
	best := ""
	for _, p := range parts {
		for p.Op == syntax.OpCapture && len(p.Sub) == 1 {
			p = p.Sub[0]
		}
		if p.Op != syntax.OpLiteral {
			continue
		}
		for _, piece := range literalPieces(p.Rune, p.Flags&syntax.FoldCase != 0) {
			if len(piece) > len(best) {
				best = piece
			}
		}
	}
	return best
}

// literalPieces lowercases runes (ASCII only) and splits them where a rune cannot be compared safely after lowerAscii.
func literalPieces(runes []rune, fold bool) []string {
	var pieces []string
	var b strings.Builder
	cut := func() {
		if b.Len() > 0 {
			pieces = append(pieces, b.String())
			b.Reset()
		}
	}
	for _, r := range runes {
		lower := unicode.ToLower(r)
		switch {
		case r > unicode.MaxASCII && fold && unicode.IsLetter(r):
			cut()
		case fold && (lower == 'k' || lower == 's'):
			cut()
		case r <= unicode.MaxASCII:
			b.WriteRune(asciiLower(r))
		default:
			b.WriteRune(r)
		}
	}
	cut()
	return pieces
}

func asciiLower(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

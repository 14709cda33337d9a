package rules

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// Most of the `re` patterns of SigmaHQ's rules are searches for a path or a command fragment around a few wildcards
// (`\\Windows\\System32\\[a-z0-9]{8}\.tmp$`), and most texts they are tried on lack the fixed part. Go's regexp
// scans the whole text from every position for an unanchored pattern; a substring search for the fixed part first
// decides most texts at a fraction of that cost, and the regular expression runs only where it may match.

// requiredText is a literal that every match of a regular expression contains; empty when none is known.
type requiredText struct {
	s      string // lowered when fold
	fold   bool   // the literal is ASCII and matched case-insensitively ((?i))
	anchor int    // for indexFold
}

// requiredLiteral returns the longest literal among the elements of the pattern's top-level concatenation (every
// match contains each of them), ignoring one that holds U+FFFD (which also matches a byte that is not UTF-8) or a
// case-insensitive one that is not ASCII (folding reaches beyond ASCII: k matches the Kelvin sign).
func requiredLiteral(pattern string) requiredText {
	re, err := syntax.Parse(pattern, syntax.Perl) // regexp.Compile's flags
	if err != nil {
		return requiredText{}
	}
	re = unwrapCapture(re)
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	var best requiredText
	for _, sub := range subs {
		sub = unwrapCapture(sub)
		if sub.Op != syntax.OpLiteral {
			continue
		}
		text, fold := string(sub.Rune), sub.Flags&syntax.FoldCase != 0
		if strings.ContainsRune(text, utf8.RuneError) || fold && !isASCII(text) || len(text) <= len(best.s) {
			continue
		}
		if fold {
			text = strings.ToLower(text)
		}
		best = requiredText{s: text, fold: fold, anchor: anchorOf(text)}
	}
	if len(best.s) < 2 {
		return requiredText{}
	}
	return best
}

func unwrapCapture(re *syntax.Regexp) *syntax.Regexp {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	return re
}

// absent reports whether s certainly lacks the literal, so the regular expression cannot match; ascii says s is
// ASCII (a case-insensitive literal is only looked for in ASCII text).
func (r requiredText) absent(s string, ascii bool) bool {
	switch {
	case r.s == "":
		return false
	case !r.fold:
		return !strings.Contains(s, r.s)
	case ascii:
		return indexFold(s, r.s, r.anchor) < 0
	}
	return false
}

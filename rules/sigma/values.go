package sigma

import (
	"encoding/base64"
	"regexp"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// wildString is a Sigma string after escape processing: wild[i] says byte i is a wildcard (* or ?).
type wildString struct {
	s    string
	wild []bool
}

// parseWildcards applies Sigma's escapes: \* and \? are plain characters, \\ is one backslash, any other backslash
// is itself; unescaped * and ? are wildcards.
func parseWildcards(raw string) wildString {
	var w wildString
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\\' && i+1 < len(raw) && (raw[i+1] == '*' || raw[i+1] == '?' || raw[i+1] == '\\') {
			b.WriteByte(raw[i+1])
			w.wild = append(w.wild, false)
			i++
			continue
		}
		b.WriteByte(c)
		w.wild = append(w.wild, c == '*' || c == '?')
	}
	w.s = b.String()
	return w
}

// escapeWildcards writes s as a Sigma string that means s literally (for numbers turned into text).
func escapeWildcards(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(s)
}

func (w wildString) hasWildcards() bool {
	for _, x := range w.wild {
		if x {
			return true
		}
	}
	return false
}

// surround puts a * wildcard on both ends of w (contains, and keyword searches), without doubling one already there.
func (w wildString) surround() wildString {
	if len(w.s) == 0 || !(w.wild[0] && w.s[0] == '*') {
		w = wildString{"*" + w.s, append([]bool{true}, w.wild...)}
	}
	if n := len(w.s); !(w.wild[n-1] && w.s[n-1] == '*') || n == 1 {
		w = wildString{w.s + "*", append(w.wild[:n:n], true)}
	}
	return w
}

// applyTransform applies one value modifier to every value; windash and base64offset give several values for one.
func applyTransform(t string, vals []wildString) ([]wildString, error) {
	var out []wildString
	for _, w := range vals {
		switch t {
		case "contains":
			out = append(out, w.surround())
		case "startswith":
			if n := len(w.s); n == 0 || !(w.wild[n-1] && w.s[n-1] == '*') {
				w = wildString{w.s + "*", append(w.wild[:n:n], true)}
			}
			out = append(out, w)
		case "endswith":
			if len(w.s) == 0 || !(w.wild[0] && w.s[0] == '*') {
				w = wildString{"*" + w.s, append([]bool{true}, w.wild...)}
			}
			out = append(out, w)
		case "base64", "base64offset":
			if w.hasWildcards() {
				return nil, &UnsupportedError{Reason: "modifier combination", Detail: t + " of a value with wildcards (put contains after " + t + ")"}
			}
			for _, s := range base64Variants(w.s, t == "base64offset") {
				out = append(out, plain(s))
			}
		case "wide", "utf16le", "utf16be", "utf16":
			out = append(out, w.utf16(t))
		case "windash":
			out = append(out, w.windash()...)
		}
	}
	return out, nil
}

func plain(s string) wildString { return wildString{s, make([]bool, len(s))} }

// base64Variants encodes s; with offsets, the three encodings of s at every byte offset, trimmed to the characters
// that do not depend on the neighbouring bytes (as pySigma does).
func base64Variants(s string, offsets bool) []string {
	if !offsets {
		return []string{base64.StdEncoding.EncodeToString([]byte(s))}
	}
	start := []int{0, 2, 3}
	endTrim := []int{0, 3, 2}
	var out []string
	for i := 0; i < 3; i++ {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", i) + s))
		end := len(enc) - endTrim[(len(s)+i)%3]
		if start[i] < end {
			out = append(out, enc[start[i]:end])
		}
	}
	return out
}

// utf16 encodes the plain runs of w (wildcards stay wildcards); utf16 alone adds the little-endian byte order mark.
func (w wildString) utf16(mode string) wildString {
	var out wildString
	add := func(s string, wild bool) {
		out.s += s
		for range s {
			out.wild = append(out.wild, wild)
		}
	}
	if mode == "utf16" {
		add("\xff\xfe", false)
	}
	for i := 0; i < len(w.s); {
		if w.wild[i] {
			add(w.s[i:i+1], true)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(w.s[i:])
		for _, u := range utf16.Encode([]rune{r}) {
			lo, hi := byte(u), byte(u>>8)
			if mode == "utf16be" {
				lo, hi = hi, lo
			}
			out.s += string([]byte{lo, hi})
			out.wild = append(out.wild, false, false)
		}
		i += n
	}
	return out
}

var windashes = []string{"-", "/", "–", "—", "―"}

// windash expands every dash or slash that starts a word (pySigma's `\B[-/]\b`) into the five Windows dash forms.
func (w wildString) windash() []wildString {
	isWord := func(i int) bool {
		c := w.s[i]
		return !w.wild[i] && (c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z')
	}
	var at []int
	for i := 0; i < len(w.s); i++ {
		if !w.wild[i] && (w.s[i] == '-' || w.s[i] == '/') && (i == 0 || !isWord(i-1)) && i+1 < len(w.s) && isWord(i+1) {
			at = append(at, i)
		}
	}
	out := []wildString{w}
	for k := len(at) - 1; k >= 0; k-- { // from the right, so earlier positions stay valid
		i := at[k]
		var next []wildString
		for _, v := range out {
			for _, d := range windashes {
				wild := append(append(append([]bool{}, v.wild[:i]...), make([]bool, len(d))...), v.wild[i+1:]...)
				next = append(next, wildString{v.s[:i] + d + v.s[i+1:], wild})
			}
		}
		out = next
	}
	return out
}

// classify picks the cheapest function for the value: equality, prefix, suffix, substring, a glob, or (when a
// wildcard meets a literal * or ?) a regular expression.
func (w wildString) classify(cased bool) (string, string) {
	fn := func(name string) string {
		if cased {
			return name + "Cased"
		}
		return "i" + name
	}
	n := len(w.s)
	var inner, literalWild bool
	for i := 0; i < n; i++ {
		switch {
		case w.wild[i] && (w.s[i] == '?' || i > 0 && i < n-1):
			inner = true
		case !w.wild[i] && (w.s[i] == '*' || w.s[i] == '?'):
			literalWild = true
		}
	}
	lead, trail := n > 0 && w.wild[0], n > 1 && w.wild[n-1]
	switch {
	case n == 1 && lead:
		return fn("like"), "*"
	case inner && literalWild:
		return "re", w.regex(cased)
	case inner:
		return fn("like"), w.s
	case lead && trail:
		return fn("contains"), w.s[1 : n-1]
	case lead:
		return fn("endsWith"), w.s[1:]
	case trail:
		return fn("startsWith"), w.s[:n-1]
	}
	if cased {
		return "eqCased", w.s
	}
	return "ieq", w.s
}

func (w wildString) regex(cased bool) string {
	var b strings.Builder
	b.WriteString("(?s")
	if !cased {
		b.WriteString("i")
	}
	b.WriteString(")^")
	start := 0
	for i := 0; i <= len(w.s); i++ {
		if i == len(w.s) || w.wild[i] {
			b.WriteString(regexp.QuoteMeta(w.s[start:i]))
			if i < len(w.s) {
				b.WriteString(map[byte]string{'*': ".*", '?': "."}[w.s[i]])
			}
			start = i + 1
		}
	}
	b.WriteString("$")
	return b.String()
}

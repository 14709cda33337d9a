package sigma

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// modifiers is the parsed modifier chain of one field item.
type modifiers struct {
	all, cased, neq bool
	kind            string // "": string matching; or re, cidr, gt, gte, lt, lte, exists, fieldref
	reFlags         string
	transforms      []string // contains, startswith, endswith, base64, base64offset, wide, utf16*, windash, in order
	expand          bool
}

func parseModifiers(list []string) (modifiers, error) {
	var m modifiers
	setKind := func(k string) error {
		if m.kind != "" && m.kind != k {
			return fmt.Errorf("%s cannot be combined with %s", k, m.kind)
		}
		m.kind = k
		return nil
	}
	for _, mod := range list {
		var err error
		switch mod {
		case "all":
			m.all = true
		case "cased":
			m.cased = true
		case "neq":
			m.neq = true
		case "expand":
			m.expand = true
		case "contains", "startswith", "endswith", "base64", "base64offset", "wide", "utf16le", "utf16be", "utf16",
			"windash":
			m.transforms = append(m.transforms, mod)
		case "re", "cidr", "gt", "gte", "lt", "lte", "exists", "fieldref":
			err = setKind(mod)
		case "i", "m", "s":
			m.reFlags += mod
		default:
			return m, &UnsupportedError{Reason: "modifier " + mod, Detail: "the modifier " + mod + " is not supported"}
		}
		if err != nil {
			return m, &UnsupportedError{Reason: "modifier combination", Detail: err.Error()}
		}
	}
	if m.reFlags != "" && m.kind != "re" {
		return m, &UnsupportedError{Reason: "modifier combination", Detail: "i, m and s apply only to re"}
	}
	if m.kind != "" && m.kind != "fieldref" && len(m.transforms) > 0 {
		return m, &UnsupportedError{Reason: "modifier combination", Detail: fmt.Sprintf("%s cannot be combined with %s", m.kind, strings.Join(m.transforms, "|"))}
	}
	return m, nil
}

// itemCompiler turns field items into nodes.
type itemCompiler struct {
	field        func(name string) fieldPath
	placeholders map[string][]string
}

// compile builds the node of one `field|modifiers: values` item: its values are alternatives (AND with |all).
func (c *itemCompiler) compile(item *FieldItem) (node, error) {
	m, err := parseModifiers(item.Modifiers)
	if err != nil {
		return nil, err
	}
	var target fieldPath
	if item.Field != "" {
		target = c.field(item.Field)
	} else if m.kind == "exists" || m.kind == "fieldref" || m.neq {
		return nil, &UnsupportedError{Reason: "modifier combination", Detail: "keyword searches take no " + m.kind}
	}
	n, err := c.values(target, m, item)
	if err != nil {
		return nil, err
	}
	if m.neq {
		return notNode{n}, nil
	}
	return n, nil
}

func (c *itemCompiler) values(target fieldPath, m modifiers, item *FieldItem) (node, error) {
	for _, v := range item.Values {
		if v == nil {
			if len(item.Values) > 1 || len(item.Modifiers) > 0 || target == nil {
				return nil, &UnsupportedError{Reason: "null in a list", Detail: "null must be the only value of a field without modifiers"}
			}
			return nullNode{target}, nil
		}
	}
	switch m.kind {
	case "exists":
		b, ok := item.Values[0].(bool)
		if !ok || len(item.Values) != 1 {
			return nil, &UnsupportedError{Reason: "invalid value", Detail: "exists takes true or false"}
		}
		return presenceNode{target, b}, nil
	case "fieldref":
		var refs []node
		for _, v := range item.Values {
			name, _ := valueText(v)
			refs = append(refs, callNode{field: target, fn: stringFunc(m, m.transforms), ref: c.field(name)})
		}
		return combine(refs, m.all), nil
	}
	var tests [][2]any  // fn, pattern
	var perValue []node // with |all: one node per value, each the OR of the variants the value expands to
	for _, v := range item.Values {
		ts, err := c.tests(target, m, v)
		if err != nil {
			return nil, err
		}
		tests = append(tests, ts...)
		perValue = append(perValue, groupTests(target, ts))
	}
	if m.all {
		return combine(perValue, true), nil
	}
	return groupTests(target, tests), nil
}

func combine(nodes []node, all bool) node {
	switch {
	case len(nodes) == 1:
		return nodes[0]
	case all:
		return andNode(nodes)
	}
	return orNode(nodes)
}

// stringFunc names the CEL function for a string comparison after the given wildcard transforms.
func stringFunc(m modifiers, transforms []string) string {
	fn := "eq"
	for _, t := range transforms {
		switch t {
		case "contains":
			fn = "contains"
		case "startswith":
			fn = "startsWith"
		case "endswith":
			fn = "endsWith"
		}
	}
	if m.cased {
		return fn + "Cased"
	}
	if fn == "eq" {
		return "ieq"
	}
	return "i" + fn
}

// tests returns the (function, pattern) pairs one value expands to.
func (c *itemCompiler) tests(target fieldPath, m modifiers, v any) ([][2]any, error) {
	text, _ := valueText(v)
	switch m.kind {
	case "re":
		pattern := text
		if m.reFlags != "" {
			pattern = "(?" + m.reFlags + ")" + pattern
		}
		if _, err := regexp.Compile(pattern); err != nil {
			return nil, &UnsupportedError{Reason: regexReason(text, err), Detail: fmt.Sprintf("%q is not RE2 syntax: %v", text, err)}
		}
		return [][2]any{{"re", pattern}}, nil
	case "cidr":
		if !strings.Contains(text, "/") {
			text += map[bool]string{true: "/128", false: "/32"}[strings.Contains(text, ":")]
		}
		if _, err := netip.ParsePrefix(text); err != nil {
			return nil, &UnsupportedError{Reason: "invalid value", Detail: fmt.Sprintf("cidr %q: %v", text, err)}
		}
		return [][2]any{{"inCidr", text}}, nil
	case "gt", "gte", "lt", "lte":
		if n, ok := v.(int64); ok {
			return [][2]any{{m.kind, n}}, nil
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, &UnsupportedError{Reason: "invalid value", Detail: fmt.Sprintf("%s takes a number, not %q", m.kind, text)}
		}
		return [][2]any{{m.kind, f}}, nil
	}
	if _, isStr := v.(string); !isStr && len(m.transforms) == 0 && !m.expand && target != nil {
		return [][2]any{{"ieq", v}}, nil // numbers and booleans compare by value
	}
	raws := []string{text}
	if _, isStr := v.(string); !isStr {
		raws = []string{escapeWildcards(text)}
	}
	if m.expand {
		var err error
		if raws, err = expandPlaceholders(text, c.placeholders); err != nil {
			return nil, err
		}
	}
	var out [][2]any
	for _, raw := range raws {
		vals := []wildString{parseWildcards(raw)}
		if target == nil { // a keyword matches anywhere in a value
			vals[0] = vals[0].surround()
		}
		for _, t := range m.transforms {
			var err error
			if vals, err = applyTransform(t, vals); err != nil {
				return nil, err
			}
		}
		for _, w := range vals {
			fn, pattern := w.classify(m.cased)
			out = append(out, [2]any{fn, pattern})
		}
	}
	return out, nil
}

var (
	lookaround     = regexp.MustCompile(`\(\?<?[=!]`)
	backreference  = regexp.MustCompile(`\\[1-9]`)
	possessiveAtom = regexp.MustCompile(`\(\?>|[*+?}]\+`)
)

// regexReason names the PCRE feature RE2 lacks, so the summary counts lookarounds and backreferences apart.
func regexReason(pattern string, err error) string {
	switch {
	case lookaround.MatchString(pattern):
		return "regular expression: lookaround (not in RE2)"
	case backreference.MatchString(pattern):
		return "regular expression: backreference (not in RE2)"
	case possessiveAtom.MatchString(pattern):
		return "regular expression: atomic group or possessive quantifier (not in RE2)"
	}
	if e, ok := err.(*syntax.Error); ok {
		return "regular expression: " + string(e.Code)
	}
	return "regular expression"
}

// groupTests joins alternative tests: one call per function, with the list of its patterns.
func groupTests(target fieldPath, tests [][2]any) node {
	var out []node
	index := map[string]int{}
	for _, t := range tests {
		fn := t[0].(string)
		i, ok := index[fn]
		if !ok {
			i = len(out)
			index[fn] = i
			out = append(out, callNode{field: target, fn: fn})
		}
		cn := out[i].(callNode)
		cn.patterns = appendUnique(cn.patterns, t[1])
		out[i] = cn
	}
	return combine(out, false)
}

func appendUnique(list []any, v any) []any {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

func valueText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), false
	case bool:
		return strconv.FormatBool(x), false
	}
	return "", false
}

var placeholder = regexp.MustCompile(`(\\?)%([A-Za-z0-9_.-]+)%`)

// expandPlaceholders replaces each %name% with every supplied value (a cross product for several placeholders).
func expandPlaceholders(s string, values map[string][]string) ([]string, error) {
	loc := placeholder.FindStringSubmatchIndex(s)
	if loc == nil {
		return []string{strings.ReplaceAll(s, `\%`, "%")}, nil
	}
	if loc[3] > loc[2] { // escaped: \%name% is plain text
		rest, err := expandPlaceholders(s[loc[1]-1:], values)
		if err != nil {
			return nil, err
		}
		for i := range rest {
			rest[i] = s[:loc[0]] + s[loc[2]+1:loc[1]-1] + rest[i]
		}
		return rest, nil
	}
	name := s[loc[4]:loc[5]]
	vals, ok := values[name]
	if !ok || len(vals) == 0 {
		return nil, &UnsupportedError{Reason: "placeholder", Detail: fmt.Sprintf("placeholder %%%s%% has no values (supply them with --placeholders)", name)}
	}
	rest, err := expandPlaceholders(s[loc[1]:], values)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range vals {
		for _, r := range rest {
			out = append(out, s[:loc[0]]+v+r)
		}
	}
	return out, nil
}

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

func (w wildString) surround() wildString {
	if len(w.s) == 0 || !(w.wild[0] && w.s[0] == '*') {
		w = wildString{"*" + w.s, append([]bool{true}, w.wild...)}
	}
	if n := len(w.s); !(w.wild[n-1] && w.s[n-1] == '*') || n == 1 {
		w = wildString{w.s + "*", append(w.wild[:n:n], true)}
	}
	return w
}

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

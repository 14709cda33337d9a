package sigma

import (
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"github.com/vigilsoc/vigil/rules"
)

// modifiers is the parsed modifier chain of one field item.
type modifiers struct {
	all, cased, neq bool
	kind            string // "": string matching; or re, cidr, gt, gte, lt, lte, exists, fieldref, or a time part
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
		case "re", "cidr", "gt", "gte", "lt", "lte", "exists", "fieldref", "minute", "hour", "day", "week", "month", "year":
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
	for _, t := range m.transforms {
		wildcard := t == "contains" || t == "startswith" || t == "endswith"
		if m.kind != "" && (m.kind != "fieldref" || !wildcard) {
			return m, &UnsupportedError{Reason: "modifier combination", Detail: fmt.Sprintf("%s cannot be combined with %s", m.kind, t)}
		}
	}
	return m, nil
}

// itemCompiler turns field items into nodes.
type itemCompiler struct {
	fields       func(name string) []fieldPath
	placeholders map[string][]string
}

// compile builds the node of one `field|modifiers: values` item: its values are alternatives (AND with |all).
func (c *itemCompiler) compile(item *FieldItem) (node, error) {
	m, err := parseModifiers(item.Modifiers)
	if err != nil {
		return nil, err
	}
	targets := []fieldPath{nil}
	if item.Field != "" {
		targets = c.fields(item.Field)
	} else if m.kind == "exists" || m.kind == "fieldref" || m.neq {
		return nil, &UnsupportedError{Reason: "modifier combination", Detail: "a keyword search (no field) cannot be exists, fieldref or neq"}
	}
	// A field mapped to several event fields holds when its test holds on any of them; a test for absence, on all.
	var alts []node
	absence := false
	for _, target := range targets {
		n, err := c.values(target, m, item)
		if err != nil {
			return nil, err
		}
		alts = append(alts, n)
		switch x := n.(type) {
		case nullNode:
			absence = true
		case presenceNode:
			absence = !x.want
		}
	}
	n := combine(alts, absence)
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
			refs = append(refs, callNode{field: target, fn: stringFunc(m, m.transforms), ref: c.fields(name)[0]})
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
	case "minute", "hour", "day", "week", "month", "year":
		// A part of the field's date and time, as written (rules/timeparts.go), equal to the value.
		if err := rules.CheckTimePart(m.kind, text); err != nil {
			return nil, &UnsupportedError{Reason: "invalid value", Detail: err.Error()}
		}
		n, _ := strconv.Atoi(text)
		return [][2]any{{m.kind + "Is", int64(n)}}, nil
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

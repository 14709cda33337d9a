package sigma

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The detection is built as a small boolean tree before it is written as CEL, so negation can guard field accesses
// (Sigma: a negated selection on an absent field matches; CEL: reading an absent field is an error).
type (
	andNode []node
	orNode  []node
	notNode struct{ x node }
	// callNode is `field.fn(patterns)`; field nil means every value of the event (a keyword search); ref, when
	// set, is the pattern: another field (Sigma fieldref).
	callNode struct {
		field    fieldPath
		fn       string
		patterns []any
		ref      fieldPath
	}
	// presenceNode is `field exists` (or not).
	presenceNode struct {
		field fieldPath
		want  bool
	}
	// nullNode is `field is null or absent`.
	nullNode struct{ field fieldPath }
	// eqNode is plain CEL equality with literals, used by log source guards (`EventID == 1`,
	// `Channel.lowerAscii() in ["a", "b"]`); fold compares the ASCII-lowercased field with lowercase values.
	eqNode struct {
		field  fieldPath
		values []any
		fold   bool
	}
)

type node interface{ isNode() }

func (andNode) isNode()      {}
func (orNode) isNode()       {}
func (notNode) isNode()      {}
func (callNode) isNode()     {}
func (presenceNode) isNode() {}
func (nullNode) isNode()     {}
func (eqNode) isNode()       {}

// fieldPath is a field of the event; several elements are nested objects (`process.executable`).
type fieldPath []string

func splitField(name string) fieldPath { return strings.Split(name, ".") }

// celIdent matches names that can be written bare in CEL.
var celIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var celReserved = map[string]bool{
	"true": true, "false": true, "null": true, "in": true, "as": true, "break": true, "const": true,
	"continue": true, "else": true, "for": true, "function": true, "if": true, "import": true, "let": true,
	"loop": true, "package": true, "namespace": true, "return": true, "var": true, "void": true, "while": true,
	"_event": true,
}

func isIdent(s string) bool { return celIdent.MatchString(s) && !celReserved[s] }

// access is the CEL expression reading the field.
func (p fieldPath) access() string {
	var b strings.Builder
	for i, seg := range p {
		switch {
		case isIdent(seg) && i == 0:
			b.WriteString(seg)
		case isIdent(seg):
			b.WriteString("." + seg)
		case i == 0:
			b.WriteString("_event[" + quote(seg) + "]")
		default:
			b.WriteString("[" + quote(seg) + "]")
		}
	}
	return b.String()
}

// presence is the CEL expression testing that the field exists, without failing when a parent is absent.
func (p fieldPath) presence() string {
	if len(p) == 1 && isIdent(p[0]) {
		return "has(_event." + p[0] + ")"
	}
	var b strings.Builder
	b.WriteString("_event")
	for _, seg := range p {
		if isIdent(seg) {
			b.WriteString(".?" + seg)
		} else {
			b.WriteString("[?" + quote(seg) + "]")
		}
	}
	b.WriteString(".hasValue()")
	return b.String()
}

// quote writes a CEL string literal. Bytes that are not UTF-8 (from the utf16 modifiers) are written as the code
// points of the same value, so the text matches the event's decoded characters.
func quote(s string) string {
	if !utf8.ValidString(s) {
		runes := make([]rune, len(s))
		for i := 0; i < len(s); i++ {
			runes[i] = rune(s[i])
		}
		s = string(runes)
	}
	return strconv.Quote(s)
}

func literal(v any) string {
	switch x := v.(type) {
	case string:
		return quote(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	panic(fmt.Sprintf("sigma: unexpected literal %T", v))
}

// Operator precedence of emitted CEL, for parentheses.
const (
	precOr = iota
	precAnd
	precUnary
)

// emit writes n as CEL. negated says n sits under an odd number of negations: there, a field test must be false
// (not an error) when the field is absent, so it is guarded with a presence test.
func emit(n node, negated bool) string {
	s, _ := emitPrec(n, negated)
	return s
}

func emitPrec(n node, negated bool) (string, int) {
	switch x := n.(type) {
	case andNode:
		return join(x, " && ", precAnd, negated), precAnd
	case orNode:
		return join(x, " || ", precOr, negated), precOr
	case notNode:
		inner, prec := emitPrec(x.x, !negated)
		if prec < precUnary {
			inner = "(" + inner + ")"
		}
		return "!" + inner, precUnary
	case callNode:
		return x.emit(negated, nil)
	case presenceNode:
		if x.want {
			return x.field.presence(), precUnary
		}
		return "!" + x.field.presence(), precUnary
	case nullNode:
		return "!" + x.field.presence() + " || " + x.field.access() + " == null", precOr
	case eqNode:
		field := x.field.access()
		if x.fold {
			field += ".lowerAscii()"
		}
		if len(x.values) == 1 { // a comparison binds tighter than && and ||
			return field + " == " + literal(x.values[0]), precUnary
		}
		lits := make([]string, len(x.values))
		for i, v := range x.values {
			lits[i] = literal(v)
		}
		return field + " in [" + strings.Join(lits, ", ") + "]", precUnary
	}
	panic(fmt.Sprintf("sigma: unexpected node %T", n))
}

// join writes children with op, parenthesizing a child that binds less tightly than op, and an AND inside an OR
// (not needed by CEL, but easier to read). In a negated AND, a field's presence guard is written once: a false
// has() makes the whole conjunction false wherever it stands, since CEL's && absorbs errors on its other side.
func join(children []node, op string, prec int, negated bool) string {
	var guarded map[string]bool
	if negated && prec == precAnd {
		guarded = map[string]bool{}
	}
	parts := make([]string, len(children))
	for i, c := range children {
		var s string
		var p int
		if call, ok := c.(callNode); ok && guarded != nil {
			s, p = call.emit(negated, guarded)
		} else {
			s, p = emitPrec(c, negated)
		}
		if p < prec || p == precAnd && prec == precOr {
			s = "(" + s + ")"
		}
		parts[i] = s
	}
	return strings.Join(parts, op)
}

// emit writes the call; negated, with presence guards for its fields, except those in (and then added to) guarded.
func (c callNode) emit(negated bool, guarded map[string]bool) (string, int) {
	target := "_event.anyValue()"
	if c.field != nil {
		target = c.field.access()
	}
	var arg string
	switch {
	case c.ref != nil:
		arg = c.ref.access()
	case len(c.patterns) == 1:
		arg = literal(c.patterns[0])
	default:
		lits := make([]string, len(c.patterns))
		for i, p := range c.patterns {
			lits[i] = literal(p)
		}
		arg = "[" + strings.Join(lits, ", ") + "]"
	}
	call := target + "." + c.fn + "(" + arg + ")"
	if !negated || c.field == nil {
		return call, precUnary
	}
	var parts []string
	for _, f := range []fieldPath{c.field, c.ref} {
		if g := f.presence(); f != nil && !guarded[g] {
			parts = append(parts, g)
			if guarded != nil {
				guarded[g] = true
			}
		}
	}
	if len(parts) == 0 {
		return call, precUnary
	}
	return strings.Join(append(parts, call), " && "), precAnd
}

// layout writes the condition with one top-level operand per line (and, for alternatives of the log source, one
// operand of each alternative per line), so long conditions stay readable in the file.
func layout(n node) string {
	switch x := n.(type) {
	case andNode:
		return strings.ReplaceAll(join(x, "\x00", precAnd, false), "\x00", "\n&& ")
	case orNode:
		parts := make([]string, len(x))
		for i, c := range x {
			if a, ok := c.(andNode); ok {
				parts[i] = "(" + strings.ReplaceAll(join(a, "\x00", precAnd, false), "\x00", "\n  && ") + ")"
			} else {
				parts[i], _ = emitPrec(c, false)
			}
		}
		return strings.Join(parts, "\n|| ")
	}
	return emit(n, false)
}

// flatten merges nested ANDs into ANDs and ORs into ORs, and drops one-element groups.
func flatten(n node) node {
	switch x := n.(type) {
	case andNode:
		var out andNode
		for _, c := range x {
			c = flatten(c)
			if a, ok := c.(andNode); ok {
				out = append(out, a...)
			} else {
				out = append(out, c)
			}
		}
		if len(out) == 1 {
			return out[0]
		}
		return out
	case orNode:
		var out orNode
		for _, c := range x {
			c = flatten(c)
			if o, ok := c.(orNode); ok {
				out = append(out, o...)
			} else {
				out = append(out, c)
			}
		}
		if len(out) == 1 {
			return out[0]
		}
		return out
	case notNode:
		return notNode{flatten(x.x)}
	}
	return n
}

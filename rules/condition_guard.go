package rules

import (
	"strings"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
)

// guard is a condition of the shape message parsers use, evaluated without CEL: comparisons of a field with
// strings (==, in a list, startsWith, endsWith, contains) joined by && and ||. Without negation such a formula is
// monotone, so CEL's result (true, or false on an error such as a missing field) is the formula's with every leaf
// that cannot hold (a missing field) false.
type guard struct {
	op   guardOp
	l, r *guard   // the operands of && and ||
	path string   // a leaf's field
	lits []string // a leaf's strings
}

type guardOp uint8

const (
	guardOr guardOp = iota
	guardAnd
	guardEquals // the field is one of lits (== or in)
	guardPrefix
	guardSuffix
	guardContains
)

// FieldKind is what a lookup found at a field's path.
type FieldKind uint8

// The kinds of fields a lookup reports.
const (
	FieldMissing FieldKind = iota // no value at the path
	FieldString                   // a string
	FieldOther                    // anything else, or not known without the tree
)

// compileGuard returns the guard of a checked expression, or nil when it is not of a guard's shape.
func (e *Env) compileGuard(x ast.Expr) *guard {
	if x.Kind() != ast.CallKind {
		return nil
	}
	c := x.AsCall()
	args := c.Args()
	switch fn := c.FunctionName(); {
	case !c.IsMemberFunction() && len(args) == 2 && (fn == operators.LogicalOr || fn == operators.LogicalAnd):
		l, r := e.compileGuard(args[0]), e.compileGuard(args[1])
		if l == nil || r == nil {
			return nil
		}
		op := guardOr
		if fn == operators.LogicalAnd {
			op = guardAnd
		}
		return &guard{op: op, l: l, r: r}
	case !c.IsMemberFunction() && len(args) == 2 && fn == operators.Equals:
		if path, ok := e.guardField(args[0]); ok {
			if s, ok := constString(args[1]); ok {
				return &guard{op: guardEquals, path: path, lits: []string{s}}
			}
		}
		if path, ok := e.guardField(args[1]); ok {
			if s, ok := constString(args[0]); ok {
				return &guard{op: guardEquals, path: path, lits: []string{s}}
			}
		}
	case !c.IsMemberFunction() && len(args) == 2 && fn == operators.In:
		path, ok := e.guardField(args[0])
		if !ok || args[1].Kind() != ast.ListKind {
			return nil
		}
		g := &guard{op: guardEquals, path: path}
		for _, el := range args[1].AsList().Elements() {
			s, ok := constString(el)
			if !ok {
				return nil
			}
			g.lits = append(g.lits, s)
		}
		return g
	case c.IsMemberFunction() && len(args) == 1:
		ops := map[string]guardOp{"startsWith": guardPrefix, "endsWith": guardSuffix, "contains": guardContains}
		op, known := ops[fn]
		path, isField := e.guardField(c.Target())
		s, isString := constString(args[0])
		if known && isField && isString {
			return &guard{op: op, path: path, lits: []string{s}}
		}
	}
	return nil
}

// guardField returns the path of a field read as a plain chain of selections from a top-level field or _event.
func (e *Env) guardField(x ast.Expr) (string, bool) {
	w := fieldWalker{env: e}
	root, segs, rest, ok := w.chain(x)
	if !ok || len(rest) > 0 {
		return "", false
	}
	path := w.resolve(root, segs, nil)
	return path, path != ""
}

// eval evaluates the guard with lookup; decided is false when a field was neither missing nor a string (CEL must
// then evaluate the condition on the event's tree).
func (g *guard) eval(lookup func(path string) (string, FieldKind)) (result, decided bool) {
	switch g.op {
	case guardOr, guardAnd:
		l, ok := g.l.eval(lookup)
		if !ok {
			return false, false
		}
		if l == (g.op == guardOr) { // true || x, false && x
			return l, true
		}
		return g.r.eval(lookup)
	}
	v, kind := lookup(g.path)
	switch kind {
	case FieldMissing:
		return false, true
	case FieldOther:
		return false, false
	}
	for _, lit := range g.lits {
		switch g.op {
		case guardEquals:
			result = v == lit
		case guardPrefix:
			result = strings.HasPrefix(v, lit)
		case guardSuffix:
			result = strings.HasSuffix(v, lit)
		case guardContains:
			result = strings.Contains(v, lit)
		}
		if result {
			return true, true
		}
	}
	return false, true
}

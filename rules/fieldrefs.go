package rules

import (
	"strings"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// fieldRef is an event field an expression reads: its dotted path, and the identifier that starts it in the
// expression (`process` of `process.name`, `_event` of `_event.Image`), to point at when reporting it.
type fieldRef struct {
	path string
	id   int64
}

// fieldRefs returns the event fields an expression reads, each once, in the order they appear: the longest chains
// of member selections, constant-string indexes and optional selections that start at a free identifier or at
// `_event` (`process.parent.name`, `_event["user-agent"]`, `process.?name`, `has(_event.Image)`). A comprehension's
// variable stands for the elements of its range, so `dns.answers.exists(a, a.data == x)` reads `dns.answers.data`.
// What a function returns (`asset(x).criticality`) is not an event field, nor is the namespace of a function
// (`ioc` in `ioc.ip(x)`).
func (e *Env) fieldRefs(root ast.Expr) []fieldRef {
	w := fieldWalker{env: e, seen: map[string]bool{}}
	w.walk(root, nil)
	return w.out
}

type fieldWalker struct {
	env  *Env
	out  []fieldRef
	seen map[string]bool
}

// scope binds the variables of the comprehensions around an expression to the path of their range ("" when the
// range is not an event field); inner bindings come first.
type scope []struct{ name, path string }

func (s scope) lookup(name string) (path string, ok bool) {
	for _, b := range s {
		if b.name == name {
			return b.path, true
		}
	}
	return "", false
}

func (w *fieldWalker) walk(x ast.Expr, sc scope) {
	if root, segs, rest, ok := w.chain(x); ok {
		w.record(root, segs, sc)
		for _, r := range rest {
			w.walk(r, sc)
		}
		return
	}
	switch x.Kind() {
	case ast.SelectKind:
		w.walk(x.AsSelect().Operand(), sc)
	case ast.CallKind:
		c := x.AsCall()
		if c.IsMemberFunction() && !w.isNamespace(c) {
			w.walk(c.Target(), sc)
		}
		for _, a := range c.Args() {
			w.walk(a, sc)
		}
	case ast.ComprehensionKind:
		c := x.AsComprehension()
		w.walk(c.IterRange(), sc)
		w.walk(c.AccuInit(), sc)
		rangePath := ""
		if root, segs, _, ok := w.chain(c.IterRange()); ok {
			rangePath = w.resolve(root, segs, sc)
		}
		inner := append(scope{{c.AccuVar(), ""}, {c.IterVar(), rangePath}}, sc...)
		if c.HasIterVar2() {
			// Two variables: the first is an index or a key, the second the element.
			inner = append(scope{{c.AccuVar(), ""}, {c.IterVar(), ""}, {c.IterVar2(), rangePath}}, sc...)
		}
		w.walk(c.LoopCondition(), inner)
		w.walk(c.LoopStep(), inner)
		w.walk(c.Result(), inner)
	case ast.ListKind:
		for _, el := range x.AsList().Elements() {
			w.walk(el, sc)
		}
	case ast.MapKind:
		for _, en := range x.AsMap().Entries() {
			w.walk(en.AsMapEntry().Key(), sc)
			w.walk(en.AsMapEntry().Value(), sc)
		}
	case ast.StructKind:
		for _, f := range x.AsStruct().Fields() {
			w.walk(f.AsStructField().Value(), sc)
		}
	}
}

// isNamespace reports whether a member call is a namespaced function (`ioc.ip(x)`, `base64.decode(x)`).
func (w *fieldWalker) isNamespace(c ast.CallExpr) bool {
	t := c.Target()
	return t.Kind() == ast.IdentKind && w.env.base.HasFunction(t.AsIdent()+"."+c.FunctionName())
}

// chain reads x as a path from an identifier: the identifier node, the segments in order, and the expressions
// inside the chain that are not part of it (a dynamic index key). ok is false when x is not such a chain.
func (w *fieldWalker) chain(x ast.Expr) (root ast.Expr, segs []string, rest []ast.Expr, ok bool) {
	for {
		switch x.Kind() {
		case ast.IdentKind:
			for i, j := 0, len(segs)-1; i < j; i, j = i+1, j-1 {
				segs[i], segs[j] = segs[j], segs[i]
			}
			return x, segs, rest, true
		case ast.SelectKind:
			s := x.AsSelect()
			segs = append(segs, s.FieldName())
			x = s.Operand()
		case ast.CallKind:
			c := x.AsCall()
			fn := c.FunctionName()
			if c.IsMemberFunction() || len(c.Args()) != 2 || fn != operators.Index && fn != operators.OptIndex && fn != operators.OptSelect {
				return nil, nil, nil, false
			}
			key := c.Args()[1]
			if name, isString := constString(key); isString {
				segs = append(segs, name)
			} else {
				// `process.args[0]`, `m[k]`: the path ends before the index; the key is an expression of its own.
				segs = segs[:0]
				rest = append(rest, key)
			}
			x = c.Args()[0]
		default:
			return nil, nil, nil, false
		}
	}
}

func constString(x ast.Expr) (string, bool) {
	if x.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := x.AsLiteral().(types.String)
	return string(s), ok
}

// resolve turns a chain into the event path it reads, or "" when it reads none (a variable bound to something other
// than an event field, `_event` alone).
func (w *fieldWalker) resolve(root ast.Expr, segs []string, sc scope) string {
	ident := root.AsIdent()
	if p, bound := sc.lookup(ident); bound {
		if p == "" {
			return ""
		}
		return strings.Join(append([]string{p}, segs...), ".")
	}
	if ident == RootVariable {
		return strings.Join(segs, ".")
	}
	return strings.Join(append([]string{ident}, segs...), ".")
}

func (w *fieldWalker) record(root ast.Expr, segs []string, sc scope) {
	path := w.resolve(root, segs, sc)
	if path == "" || w.seen[path] {
		return
	}
	w.seen[path] = true
	w.out = append(w.out, fieldRef{path: path, id: root.ID()})
}

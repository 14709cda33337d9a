package rules

import (
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/vigilsoc/vigil/fields"
)

// Rules converted from Sigma, and most simple hand-written rules, use a small part of CEL: &&, ||, !, field reads,
// has(), optional presence chains, the Sigma functions with constant patterns, and comparisons with literals. Such
// a condition is compiled straight from the parsed tree into native nodes (native_eval.go) that evaluate on the
// event's tree, with CEL's three-valued semantics (true, false, error) and the Sigma functions' own prepared
// matchers. CEL's type check and planner, a large part of loading SigmaHQ's rules, are skipped, and evaluation does
// not go through CEL's interpreter. Any other expression, or one of this form whose literals CEL would refuse (a bad
// regular expression or CIDR range, a pattern of a type the functions do not take), is compiled by CEL as before, so
// it is accepted or rejected with CEL's messages. TestNativeAgreesWithCEL checks the two paths give the same
// outcome for every rule and event of the test data.

// compileNative returns the native form of a parsed condition, or false when it is outside the subset. Every node
// of the subset is of type bool, as a condition must be.
func (e *Env) compileNative(root ast.Expr) (boolNode, bool) {
	return e.nativeBool(root)
}

// nativeBool compiles an expression of type bool.
func (e *Env) nativeBool(x ast.Expr) (boolNode, bool) {
	switch x.Kind() {
	case ast.LiteralKind:
		if b, ok := x.AsLiteral().(types.Bool); ok {
			return constNode(boolOutcome(bool(b))), true
		}
	case ast.SelectKind:
		s := x.AsSelect()
		if p, ok := e.nativePath(s.Operand()); ok && s.IsTestOnly() {
			return &hasNode{path: p, key: s.FieldName()}, true
		}
	case ast.CallKind:
		return e.nativeCall(x.AsCall())
	}
	return nil, false
}

func (e *Env) nativeCall(c ast.CallExpr) (boolNode, bool) {
	args := c.Args()
	switch fn := c.FunctionName(); {
	case c.IsMemberFunction():
		return e.nativeMember(c)
	case (fn == operators.LogicalAnd || fn == operators.LogicalOr) && len(args) == 2:
		var ops []boolNode
		if !e.flatten(fn, c, &ops) {
			return nil, false
		}
		if fn == operators.LogicalAnd {
			return andNode(ops), true
		}
		return orNode(ops), true
	case fn == operators.LogicalNot && len(args) == 1:
		if x, ok := e.nativeBool(args[0]); ok {
			return notNode{x}, true
		}
	case (fn == operators.Equals || fn == operators.NotEquals) && len(args) == 2:
		return e.nativeEquals(args[0], args[1], fn == operators.NotEquals)
	case fn == operators.In && len(args) == 2:
		return e.nativeIn(args[0], args[1])
	}
	return nil, false
}

// flatten appends the operands of a chain of one logical operator.
func (e *Env) flatten(fn string, c ast.CallExpr, ops *[]boolNode) bool {
	for _, a := range c.Args() {
		if a.Kind() == ast.CallKind && a.AsCall().FunctionName() == fn && !a.AsCall().IsMemberFunction() &&
			len(a.AsCall().Args()) == 2 {
			if !e.flatten(fn, a.AsCall(), ops) {
				return false
			}
			continue
		}
		x, ok := e.nativeBool(a)
		if !ok {
			return false
		}
		*ops = append(*ops, x)
	}
	return true
}

// nativeMember compiles x.f(pattern) for a Sigma function f, and x.?a.?b.hasValue().
func (e *Env) nativeMember(c ast.CallExpr) (boolNode, bool) {
	fn, args, target := c.FunctionName(), c.Args(), c.Target()
	if fn == "hasValue" && len(args) == 0 {
		return e.nativeOptHas(target)
	}
	f, ok := sigmaFuncs[fn]
	if !ok || len(args) != 1 {
		return nil, false
	}
	pattern, ok := literalValue(args[0])
	if !ok {
		// A Sigma fieldref compares two fields: the pattern is prepared on every evaluation, as CEL does. A regular
		// expression must be a constant (checkPatterns), which CEL reports.
		x, okX := e.nativePath(target)
		p, okP := e.nativePath(args[0])
		if !okX || !okP || f.op == opRe {
			return nil, false
		}
		return &sigmaRefNode{x: x, pattern: p, f: f}, true
	}
	m, err := newSigmaMatcher(f, pattern)
	if err != nil {
		return nil, false // CEL reports it
	}
	n := &sigmaNode{m: m}
	if target.Kind() == ast.CallKind && target.AsCall().IsMemberFunction() &&
		target.AsCall().FunctionName() == "anyValue" && len(target.AsCall().Args()) == 0 &&
		target.AsCall().Target().Kind() == ast.IdentKind && target.AsCall().Target().AsIdent() == RootVariable {
		n.anyValue = true
		return n, true
	}
	if n.path, ok = e.nativePath(target); !ok {
		return nil, false
	}
	return n, true
}

// nativeOptHas compiles the target of hasValue(): a path followed by optional selections (`.?a`, `[?"a"]`).
func (e *Env) nativeOptHas(x ast.Expr) (boolNode, bool) {
	var keys []string
	for x.Kind() == ast.CallKind {
		c := x.AsCall()
		fn := c.FunctionName()
		if c.IsMemberFunction() || fn != operators.OptSelect && fn != operators.OptIndex || len(c.Args()) != 2 {
			return nil, false
		}
		k, ok := stringLiteral(c.Args()[1])
		if !ok {
			return nil, false
		}
		keys = append([]string{k}, keys...)
		x = c.Args()[0]
	}
	p, ok := e.nativePath(x)
	if !ok || len(keys) == 0 {
		return nil, false
	}
	return &optHasNode{path: p, keys: keys}, true
}

// nativePath compiles a field read: an identifier, `_event`, then member selections and constant string indexes.
func (e *Env) nativePath(x ast.Expr) (pathNode, bool) {
	var keys []string
	for {
		switch x.Kind() {
		case ast.IdentKind:
			name := x.AsIdent()
			if name == RootVariable {
				return pathNode{keys: keys}, true
			}
			if !e.plainField(name) {
				return pathNode{}, false
			}
			return pathNode{root: name, keys: keys}, true
		case ast.SelectKind:
			s := x.AsSelect()
			if s.IsTestOnly() {
				return pathNode{}, false
			}
			keys = append([]string{s.FieldName()}, keys...)
			x = s.Operand()
		case ast.CallKind:
			c := x.AsCall()
			if c.IsMemberFunction() || c.FunctionName() != operators.Index || len(c.Args()) != 2 {
				return pathNode{}, false
			}
			k, ok := stringLiteral(c.Args()[1])
			if !ok {
				return pathNode{}, false
			}
			keys = append([]string{k}, keys...)
			x = c.Args()[0]
		default:
			return pathNode{}, false
		}
	}
}

// plainField reports whether an identifier is an event field, as freeIdents declares it: not a variable of the
// environment nor a name CEL resolves itself (a type such as `int`).
func (e *Env) plainField(name string) bool {
	if e.declared[name] || name == "" || name[0] == '.' {
		return false
	}
	_, found := e.base.CELTypeProvider().FindIdent(name)
	return !found
}

// nativeEquals compiles x == lit, x != lit and x.lowerAscii() == "lit".
func (e *Env) nativeEquals(lhs, rhs ast.Expr, ne bool) (boolNode, bool) {
	if rhs.Kind() != ast.LiteralKind {
		return nil, false
	}
	lit := rhs.AsLiteral()
	if p, ok := e.nativeLower(lhs); ok {
		s, ok := lit.(types.String)
		if !ok {
			return nil, false
		}
		return &lowerNode{path: p, lits: map[string]struct{}{string(s): {}}, ne: ne}, true
	}
	switch lit.(type) {
	case types.String, types.Int, types.Uint, types.Double, types.Bool, types.Null:
	default:
		return nil, false
	}
	p, ok := e.nativePath(lhs)
	if !ok {
		return nil, false
	}
	return &eqNode{path: p, lit: lit, ne: ne}, true
}

// nativeLower compiles path.lowerAscii().
func (e *Env) nativeLower(x ast.Expr) (pathNode, bool) {
	if x.Kind() != ast.CallKind {
		return pathNode{}, false
	}
	c := x.AsCall()
	if !c.IsMemberFunction() || c.FunctionName() != "lowerAscii" || len(c.Args()) != 0 {
		return pathNode{}, false
	}
	return e.nativePath(c.Target())
}

// nativeIn compiles x in [literals] and x.lowerAscii() in ["literals"].
func (e *Env) nativeIn(lhs, rhs ast.Expr) (boolNode, bool) {
	if rhs.Kind() != ast.ListKind || len(rhs.AsList().OptionalIndices()) > 0 || rhs.AsList().Size() == 0 {
		return nil, false
	}
	var lits []ref.Val
	for _, el := range rhs.AsList().Elements() {
		if el.Kind() != ast.LiteralKind {
			return nil, false
		}
		lits = append(lits, el.AsLiteral())
	}
	if p, ok := e.nativeLower(lhs); ok {
		n := &lowerNode{path: p, lits: map[string]struct{}{}}
		for _, l := range lits {
			s, ok := l.(types.String)
			if !ok {
				return nil, false
			}
			n.lits[string(s)] = struct{}{}
		}
		return n, true
	}
	p, ok := e.nativePath(lhs)
	if !ok {
		return nil, false
	}
	set, ok := newMemberSet(lits)
	if !ok {
		return nil, false
	}
	return &inNode{path: p, set: set}, true
}

// memberSet is the set CEL's planner makes of a constant list of scalars for `in` (maybeOptimizeSetMembership in
// cel-go's interpreter): its elements, and each number also as the other numeric types it converts to, so that
// 1 in [1.0] holds.
type memberSet struct {
	strs map[string]struct{}
	vals map[ref.Val]struct{}
}

func newMemberSet(lits []ref.Val) (*memberSet, bool) {
	s := &memberSet{strs: map[string]struct{}{}, vals: map[ref.Val]struct{}{}}
	for _, l := range lits {
		switch v := l.(type) {
		case types.String:
			s.strs[string(v)] = struct{}{}
		case types.Bool:
			s.vals[v] = struct{}{}
		case types.Double:
			s.vals[v] = struct{}{}
			s.addLossless(v, types.IntType)
			s.addLossless(v, types.UintType)
		case types.Int:
			s.vals[v] = struct{}{}
			s.addConverted(v, types.DoubleType)
			s.addConverted(v, types.UintType)
		case types.Uint:
			s.vals[v] = struct{}{}
			s.addConverted(v, types.DoubleType)
			s.addConverted(v, types.IntType)
		default:
			return nil, false
		}
	}
	return s, true
}

func (s *memberSet) addLossless(v ref.Val, t ref.Type) {
	if c := v.ConvertToType(t); !types.IsError(c) && c.Equal(v) == types.True {
		s.vals[c] = struct{}{}
	}
}

func (s *memberSet) addConverted(v ref.Val, t ref.Type) {
	if c := v.ConvertToType(t); !types.IsError(c) {
		s.vals[c] = struct{}{}
	}
}

func (s *memberSet) has(v fields.Value) bool {
	switch v.Kind() {
	case fields.String:
		_, ok := s.strs[v.Str()]
		return ok
	case fields.Array, fields.Object, fields.Null:
		return false
	}
	_, ok := s.vals[celValue(v)]
	return ok
}

// literalValue is a Sigma function's constant pattern: a literal, or a list of them, as CEL's planner folds it.
func literalValue(x ast.Expr) (ref.Val, bool) {
	switch x.Kind() {
	case ast.LiteralKind:
		return x.AsLiteral(), true
	case ast.ListKind:
		l := x.AsList()
		if len(l.OptionalIndices()) > 0 {
			return nil, false
		}
		vals := make([]ref.Val, 0, l.Size())
		for _, el := range l.Elements() {
			v, ok := literalValue(el)
			if !ok {
				return nil, false
			}
			vals = append(vals, v)
		}
		return types.NewRefValList(types.DefaultTypeAdapter, vals), true
	}
	return nil, false
}

func stringLiteral(x ast.Expr) (string, bool) {
	if x.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := x.AsLiteral().(types.String)
	return string(s), ok
}

package rules

import (
	"slices"
	"strings"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Requirements for the prefilter index (index.go, docs/benchmarks.md). From each condition we extract literal facts
// the event must satisfy for the condition to be true: a field equal to a constant (`event.action == "logon"`,
// `x in ["a", "b"]`, `"a" in x`, also through lowerAscii() and Sigma's ieq), a field containing a string (contains,
// startsWith, endsWith, Sigma's icontains and friends, the longest literal a regular expression requires), a number
// above or below a threshold, a field present (has(), or any strict comparison, which is never true on a missing
// field), and the same inside exists() loops. Each conjunct (&&) with requirements gives one group, a set of
// alternatives of which one must hold; a nested disjunction (||) gives a group only when each of its branches has
// one; each disjunct of a top-level disjunction is a branch with groups of its own. A rule can match an event only
// when, for one of its branches, every group holds: the index relies on that and nothing else, so it narrows the
// rules evaluated without ever changing the result (bench/equivalence_test.go checks it against the unindexed engine
// on every benchmark workload, rules/sigma on the OTRF recordings).

// alt is one alternative of a group: the field at path, ASCII-lowercased when fold, equals value, or (substr)
// contains the string value, or (present) merely exists.
type alt struct {
	path   []string
	fold   bool
	substr bool
	// sigma marks the requirements of the Sigma functions (ieq, icontains ...): the field's text, lowered as those
	// functions lower it, is compared; numbers and booleans by their text too (numbers also by value for ieq).
	sigma   bool
	present bool
	// bound, when not 0, makes the alternative a range: the field is a number at least (+1) or at most (-1) value.
	bound int
	value ref.Val
}

// group is a set of alternatives of which at least one must hold.
type group []alt

// maxBranches bounds the branches of a top-level disjunction indexed separately.
const maxBranches = 16

// requirementBranches returns the requirements of a condition as alternative branches, each a conjunction of groups:
// the condition can be true only when, for some branch, every group holds. A top-level disjunction gives one branch
// per disjunct; anything else one branch. It returns nil when some branch has no requirement.
func requirementBranches(e ast.Expr) [][]group {
	var disjuncts []ast.Expr
	var flatten func(ast.Expr)
	flatten = func(x ast.Expr) {
		if x.Kind() == ast.CallKind && x.AsCall().FunctionName() == operators.LogicalOr {
			for _, a := range x.AsCall().Args() {
				flatten(a)
			}
			return
		}
		disjuncts = append(disjuncts, x)
	}
	flatten(e)
	if len(disjuncts) > maxBranches {
		disjuncts = []ast.Expr{e}
	}
	var branches [][]group
	for _, d := range disjuncts {
		gs := conjunctionGroups(d)
		if len(gs) == 0 {
			return nil
		}
		branches = append(branches, gs)
	}
	return branches
}

// conjunctionGroups returns the requirement groups of the conjuncts of e, the most selective first (by score). Which
// of them the index counts and which it only checks is the index's choice (splitBranch).
func conjunctionGroups(e ast.Expr) []group {
	var conjuncts []ast.Expr
	var flatten func(ast.Expr)
	flatten = func(x ast.Expr) {
		if x.Kind() == ast.CallKind && x.AsCall().FunctionName() == operators.LogicalAnd {
			for _, a := range x.AsCall().Args() {
				flatten(a)
			}
			return
		}
		conjuncts = append(conjuncts, x)
	}
	flatten(e)
	var groups []group
	for _, c := range conjuncts {
		if g := (extractor{}).alternatives(c); g != nil {
			groups = append(groups, g)
		}
	}
	slices.SortStableFunc(groups, func(a, b group) int { return score(a) - score(b) })
	return groups
}

// weakScore is the score from which a group counts as weak (see score).
const weakScore = 16

// extractor finds requirements; it maps the variable of an enclosing exists() loop to the field the loop ranges over.
type extractor map[string][]string

// alternatives returns a group of which one alternative must hold for e to be true, or nil.
func (x extractor) alternatives(e ast.Expr) group {
	if e.Kind() == ast.ComprehensionKind {
		c := e.AsComprehension()
		path, _, ok := x.fieldPath(c.IterRange())
		if !ok {
			return nil
		}
		// exists(v, P) loops with the step @result || P: it is true only when P holds for some element, so P's
		// requirements hold, with v standing for "some element of the field" (the index looks at every element).
		if step := c.LoopStep(); c.IterVar2() == "" && step.Kind() == ast.CallKind &&
			step.AsCall().FunctionName() == operators.LogicalOr && len(step.AsCall().Args()) == 2 &&
			step.AsCall().Args()[0].Kind() == ast.IdentKind && step.AsCall().Args()[0].AsIdent() == c.AccuVar() {
			inner := extractor{c.IterVar(): path}
			for k, v := range x {
				if k != c.IterVar() {
					inner[k] = v
				}
			}
			if g := inner.alternatives(step.AsCall().Args()[1]); g != nil {
				return g
			}
		}
		// Any loop over a missing field is an error, never true.
		return group{{path: path, present: true}}
	}
	if e.Kind() == ast.SelectKind && e.AsSelect().IsTestOnly() {
		// has(a.b.c) is true only when a.b.c exists.
		sel := e.AsSelect()
		if x.isBound(sel.Operand()) {
			return nil
		}
		if path, fold, ok := x.fieldPath(sel.Operand()); ok && !fold {
			return group{{path: append(path, sel.FieldName()), present: true}}
		}
		return nil
	}
	if e.Kind() != ast.CallKind {
		return nil
	}
	call := e.AsCall()
	args := call.Args()
	switch fn := call.FunctionName(); fn {
	case operators.LogicalAnd:
		var best group
		for _, a := range args {
			if g := x.alternatives(a); g != nil && (best == nil || score(g) < score(best)) {
				best = g
			}
		}
		return best
	case operators.LogicalOr:
		var all group
		for _, a := range args {
			g := x.alternatives(a)
			if g == nil {
				return nil
			}
			all = append(all, g...)
		}
		return all
	case operators.Equals:
		if len(args) != 2 {
			return nil
		}
		for _, pair := range [][2]ast.Expr{{args[0], args[1]}, {args[1], args[0]}} {
			if path, fold, ok := x.fieldPath(pair[0]); ok {
				if v, ok := literal(pair[1]); ok {
					return group{{path: path, fold: fold, value: v}}
				}
			}
		}
	case operators.In:
		if len(args) != 2 {
			return nil
		}
		if path, fold, ok := x.fieldPath(args[0]); ok && args[1].Kind() == ast.ListKind {
			var g group
			for _, el := range args[1].AsList().Elements() {
				v, ok := literal(el)
				if !ok {
					return nil
				}
				g = append(g, alt{path: path, fold: fold, value: v})
			}
			return g
		}
		// "x" in field: the field is a list holding x, or a map with the key x; the lookup takes both.
		if v, ok := literal(args[0]); ok && !x.isBound(args[1]) {
			if path, fold, ok := x.fieldPath(args[1]); ok && !fold {
				return group{{path: path, value: v}}
			}
		}
	case operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
		if g := x.rangeAlternative(fn, args); g != nil {
			return g
		}
		return x.presence(fn, call)
	case operators.NotEquals, operators.LogicalNot, "containsIP", "size":
		return x.presence(fn, call)
	case "ieq", "icontains", "istartsWith", "iendsWith", "ilike",
		"eqCased", "containsCased", "startsWithCased", "endsWithCased", "likeCased", "re", "inCidr":
		return x.sigmaAlternatives(fn, call)
	case "contains", "startsWith", "endsWith", "matches":
		target, arg := args, ast.Expr(nil)
		switch {
		case call.IsMemberFunction() && len(args) == 1:
			target, arg = []ast.Expr{call.Target()}, args[0]
		case fn == "matches" && len(args) == 2:
			target, arg = args[:1], args[1]
		default:
			return nil
		}
		path, fold, ok := x.fieldPath(target[0])
		v, lit := literal(arg)
		s, isStr := v.(types.String)
		if !ok || !lit || !isStr {
			return nil
		}
		if fn == "matches" {
			// Literals one of which the pattern requires, lowercased: the lowercased value must contain one.
			var g group
			for _, lit := range regexLiterals(string(s), lowerASCIIOnly) {
				g = append(g, alt{path: path, fold: true, substr: true, value: types.String(lit)})
			}
			return g
		}
		if s != "" {
			return group{{path: path, fold: fold, substr: true, value: s}}
		}
	}
	return nil
}

// strict reports whether e is an error whenever a field it reads directly is missing: a comparison, membership or
// string test, or a loop, but not && or || (which can decide without the missing side) nor ! of them.
func strict(e ast.Expr) bool {
	if e.Kind() == ast.ComprehensionKind {
		return true
	}
	if e.Kind() != ast.CallKind {
		return false
	}
	switch e.AsCall().FunctionName() {
	case operators.LogicalAnd, operators.LogicalOr, operators.LogicalNot, operators.Conditional:
		return false
	}
	return true
}

// sigmaAlternatives reads a Sigma function with constant patterns (rules/functions_sigma.go) on a field: equality for
// ieq, a substring for the others (for ilike, the longest text between its wildcards; for re, the literals a match
// requires; for inCidr, the text an address of the range starts with). The index lowers the field's text as the
// case-insensitive functions do, so the case-sensitive ones (eqCased ...) give the same requirements, lowered: a text
// that contains a literal contains it lowered once both are lowered, rune by rune.
func (x extractor) sigmaAlternatives(fn string, call ast.CallExpr) group {
	if !call.IsMemberFunction() || len(call.Args()) != 1 || x.isBound(call.Target()) {
		return nil
	}
	path, fold, ok := x.fieldPath(call.Target())
	if !ok || fold {
		return nil
	}
	var patterns []ast.Expr
	if arg := call.Args()[0]; arg.Kind() == ast.ListKind {
		patterns = arg.AsList().Elements()
	} else {
		patterns = []ast.Expr{arg}
	}
	var g group
	for _, p := range patterns {
		v, ok := literal(p)
		if !ok {
			return nil
		}
		text, _ := scalarText(v)
		switch fn {
		case "re":
			lits := regexLiterals(text, lowerSigma)
			if lits == nil {
				return nil
			}
			for _, lit := range lits {
				g = append(g, alt{path: path, sigma: true, substr: true, value: types.String(lit)})
			}
			continue
		case "inCidr":
			lits := cidrLiterals(text)
			if lits == nil {
				return nil
			}
			for _, lit := range lits {
				g = append(g, alt{path: path, sigma: true, substr: true, value: types.String(lit)})
			}
			continue
		}
		text = strings.ToLower(text)
		switch fn {
		case "ieq", "eqCased":
			g = append(g, alt{path: path, sigma: true, value: types.String(text)})
			if n, ok := parseNumber(text); ok {
				g = append(g, alt{path: path, sigma: true, value: types.Double(n)})
			}
			continue
		case "ilike", "likeCased":
			parts, _ := splitGlob(text)
			text = slices.MaxFunc(parts, func(a, b string) int { return len(a) - len(b) })
		}
		if text == "" {
			return nil // matches everything
		}
		g = append(g, alt{path: path, sigma: true, substr: true, value: types.String(text)})
	}
	return g
}

// presence is the requirement of a call that is an error, never true, when a field it reads directly is missing.
func (x extractor) presence(fn string, call ast.CallExpr) group {
	// These are errors, never true, when a field they read directly is missing.
	operands := slices.Clone(call.Args())
	if call.IsMemberFunction() {
		operands = append(operands, call.Target())
	}
	for _, a := range operands {
		if path, _, ok := x.fieldPath(a); ok {
			return group{{path: path, present: true}}
		}
		if fn == operators.LogicalNot && strict(a) {
			// !x is an error when x is, so x's fields must be present; their values are no requirement.
			if g := x.alternatives(a); len(g) > 0 {
				return group{{path: g[0].path, present: true}}
			}
		}
	}
	return nil
}

// rangeAlternative turns `field > 5` (or 5 < field, >=, <, <=) into a range requirement on a number.
func (x extractor) rangeAlternative(fn string, args []ast.Expr) group {
	if len(args) != 2 {
		return nil
	}
	bound := map[string]int{operators.Greater: 1, operators.GreaterEquals: 1, operators.Less: -1, operators.LessEquals: -1}[fn]
	field, lit := args[0], args[1]
	if _, ok := literal(field); ok {
		field, lit, bound = lit, field, -bound
	}
	path, fold, ok := x.fieldPath(field)
	v, isLit := literal(lit)
	if !ok || fold || !isLit || x.isBound(field) {
		return nil
	}
	switch v.(type) {
	case types.Int, types.Uint, types.Double:
		return group{{path: path, bound: bound, value: v}}
	}
	return nil
}

// lowCardinality names fields with few distinct values, whose requirements narrow little.
var lowCardinality = map[string]bool{"event.category": true, "event.kind": true, "event.type": true,
	"event.outcome": true, "network.transport": true, "network.direction": true, "EventID": true, "Channel": true}

// score estimates how many events satisfy a group: lower is more selective.
func score(g group) int {
	n := 0
	for _, a := range g {
		w := 2
		switch {
		case a.present:
			w = 24
		case a.bound != 0:
			w = 6
		case lowCardinality[strings.Join(a.path, ".")]:
			w = 16
		case a.substr && len(string(a.value.(types.String))) < 4:
			w = 8
		case a.substr:
			w = 3
		}
		n += w
	}
	return n
}

// isBound reports whether e is a loop variable itself.
func (x extractor) isBound(e ast.Expr) bool {
	if e.Kind() != ast.IdentKind {
		return false
	}
	_, ok := x[e.AsIdent()]
	return ok
}

// fieldPath recognizes a chain of field selections from a variable (event.category), optionally wrapped in a
// lowerAscii() call. A loop variable stands for the field its loop ranges over.
func (x extractor) fieldPath(e ast.Expr) (path []string, fold bool, ok bool) {
	if e.Kind() == ast.CallKind {
		c := e.AsCall()
		if c.FunctionName() != "lowerAscii" || !c.IsMemberFunction() || len(c.Args()) != 0 {
			return nil, false, false
		}
		e, fold = c.Target(), true
	}
	for {
		switch e.Kind() {
		case ast.SelectKind:
			s := e.AsSelect()
			if s.IsTestOnly() {
				return nil, false, false
			}
			path = append(path, s.FieldName())
			e = s.Operand()
		case ast.IdentKind:
			if bound, ok := x[e.AsIdent()]; ok {
				// A loop variable stands for an element, not an object with fields.
				return bound, fold, len(path) == 0
			}
			if e.AsIdent() == RootVariable {
				return nil, false, false
			}
			path = append(path, e.AsIdent())
			slices.Reverse(path)
			return path, fold, true
		default:
			return nil, false, false
		}
	}
}

func literal(e ast.Expr) (ref.Val, bool) {
	if e.Kind() != ast.LiteralKind {
		return nil, false
	}
	switch v := e.AsLiteral().(type) {
	case types.String, types.Int, types.Uint, types.Double, types.Bool:
		return v, true
	}
	return nil, false
}

package rules

import (
	"fmt"

	"cel.dev/cel-go/common/ast"
)

// patternArg says which argument of a regular-expression function is the pattern: the index among the call's
// arguments, counting the target of a member call as argument 0.
var patternArg = map[string]int{
	"matches":          1, // matches(s, p) and s.matches(p)
	"regex.replace":    1,
	"regex.extract":    1,
	"regex.extractAll": 1,
	"re":               1, // Sigma's x.re(p)
}

// checkPatterns rejects regular expressions whose pattern is not a constant. A pattern taken from the event would be
// compiled on every evaluation, and an attacker controls its size: one event with a 900 KB pattern ran for over
// eleven minutes. Constant patterns are compiled once, at load.
func checkPatterns(root ast.Expr) error {
	var err error
	ast.PostOrderVisit(root, ast.NewExprVisitor(func(x ast.Expr) {
		if err != nil || x.Kind() != ast.CallKind {
			return
		}
		call := x.AsCall()
		i, ok := patternArg[call.FunctionName()]
		if !ok || i < 0 {
			return
		}
		args := call.Args()
		if call.IsMemberFunction() {
			args = append([]ast.Expr{call.Target()}, args...)
		}
		if i < len(args) && !constant(args[i]) {
			err = fmt.Errorf("%s: the pattern must be a constant string, not a value of the event (it would be compiled "+
				"on every evaluation, and its size is the sender's choice)", call.FunctionName())
		}
	}))
	return err
}

// constant reports whether e is a literal, or a list of literals.
func constant(e ast.Expr) bool {
	switch e.Kind() {
	case ast.LiteralKind:
		return true
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			if !constant(el) {
				return false
			}
		}
		return true
	}
	return false
}

package rules

import "cel.dev/cel-go/cel"

// ParseBoth parses expr with the fast parser and with cel.Env's, and returns both trees as text (empty on an error).
func ParseBoth(e *Env, expr string) (fast, reference string) {
	if tree, errs := e.fast.Parse(celSource(expr)); len(errs.GetErrors()) == 0 {
		fast, _ = cel.ExprToString(tree.Expr(), tree.SourceInfo())
	}
	if parsed, iss := e.base.Parse(expr); iss.Err() == nil {
		reference, _ = cel.AstToString(parsed)
	}
	return fast, reference
}

// ReferenceCompile makes e compile as Vigil did before parse.go and compile_cache.go: the baseline of benchmarks.
func ReferenceCompile(e *Env) { e.reference = true }

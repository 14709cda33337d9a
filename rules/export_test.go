package rules

import (
	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/vigilsoc/vigil/fields"
)

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

// Outcomes compiles expr as Vigil does, and with CEL alone. native is nil when expr is outside the native subset
// (native.go), or when it does not compile; err is CEL's error. Both functions return 0 (false), 1 (true) or 2
// (error) for an event.
func Outcomes(e *Env, expr string) (native, viaCEL func(fields.Value) int, err error) {
	prg, _, _, err := e.celProgram(expr, nil)
	if err != nil {
		return nil, nil, err
	}
	viaCEL = func(v fields.Value) int { return int(evalProgram(prg, &activation{fields: v})) }
	if x, _, _, err := e.program(expr); err == nil && x.native != nil {
		native = func(v fields.Value) int { return int(x.eval(&activation{fields: v})) }
	}
	return native, viaCEL, nil
}

// FieldPaths returns the dotted paths of the event fields expr reads.
func FieldPaths(e *Env, expr string) []string {
	tree := e.fastParse(expr)
	if tree == nil {
		return nil
	}
	var out []string
	for _, r := range e.fieldRefs(tree.Expr()) {
		out = append(out, r.path)
	}
	return out
}

// RegexMatches matches s with the Sigma function re's prepared matcher, which skips the regular expression when
// its required literal is absent, and with the regular expression alone.
func RegexMatches(pattern, s string) (prepared, plain bool, err error) {
	m, err := newSigmaMatcher(sigmaFuncs["re"], types.String(pattern))
	if err != nil {
		return false, false, err
	}
	return m.matchString(s), m.res[0].MatchString(s), nil
}

// RegexPrefilter returns the literals the re matcher looks for before running pattern, whether they are lowered
// (searched for in any case), and whether it looks.
func RegexPrefilter(pattern string) (lits []string, folded, known bool) {
	p := newRegexPrefilter(pattern)
	if p.exact != nil {
		return p.exact, false, true
	}
	return p.lits, p.folded, p.folded
}

// ExceptionTexts returns the CEL text of every entry of the lists.
func ExceptionTexts(ls *ExceptionLists) []string {
	var out []string
	for _, l := range ls.Lists() {
		for i := range l.Entries {
			if text, err := l.Entries[i].celText(); err == nil {
				out = append(out, text)
			}
		}
	}
	return out
}

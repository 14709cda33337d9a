package rules

import (
	"strings"

	"github.com/vigilsoc/vigil/fields"
)

// Condition is a standalone CEL expression of type bool over an event's fields, compiled and cost-checked like a
// rule's condition, with the same functions. Message parsers (package formats) choose the events they apply to with
// one. It is safe for concurrent use.
type Condition struct {
	prg   *evaluator
	reads []string // the event fields it reads, when it names them all
	whole bool     // it may read any field (it uses _event itself)
	guard *guard   // its form without CEL, when it has one
}

// CompileCondition compiles expr. Its free identifiers are the event's top-level fields, as in a rule.
func (e *Env) CompileCondition(expr string) (*Condition, error) {
	prg, tree, _, err := e.program(expr)
	if err != nil {
		return nil, err
	}
	c := &Condition{prg: prg, whole: strings.Contains(expr, RootVariable)}
	for _, ref := range e.fieldRefs(tree) {
		c.reads = append(c.reads, ref.path)
	}
	c.guard = e.compileGuard(tree)
	return c, nil
}

// Eval reports whether the condition holds for the event tree v. An evaluation error (a missing field, a wrong type)
// is false, as for a rule.
func (c *Condition) Eval(v fields.Value) bool {
	return c.prg.eval(&activation{fields: v}) == truthy
}

// Reads returns the dotted paths of the event fields the condition reads (a path stands for the fields under it
// too), so that it can be evaluated on a tree of those fields alone; ok is false when it may read any field.
func (c *Condition) Reads() (paths []string, ok bool) {
	return c.reads, !c.whole
}

// EvalFields evaluates the condition from the values of the fields it reads, without an event tree, when it is
// made of string comparisons (==, in, startsWith, endsWith, contains) joined by && and ||, as parser conditions
// are; lookup gives a field's string, or says it is missing or of another kind. decided is false when the
// condition has another form or a field was not a string: Eval must then decide on the tree. When decided, the
// result is Eval's.
func (c *Condition) EvalFields(lookup func(path string) (string, FieldKind)) (result, decided bool) {
	if c.guard == nil {
		return false, false
	}
	return c.guard.eval(lookup)
}

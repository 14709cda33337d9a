package rules

import (
	"cel.dev/cel-go/cel"

	"github.com/vigilsoc/vigil/fields"
)

// Condition is a standalone CEL expression of type bool over an event's fields, compiled and cost-checked like a
// rule's condition, with the same functions. Message parsers (package formats) choose the events they apply to with
// one. It is safe for concurrent use.
type Condition struct {
	prg cel.Program
}

// CompileCondition compiles expr. Its free identifiers are the event's top-level fields, as in a rule.
func (e *Env) CompileCondition(expr string) (*Condition, error) {
	prg, _, _, err := e.program(expr)
	if err != nil {
		return nil, err
	}
	return &Condition{prg: prg}, nil
}

// Eval reports whether the condition holds for the event tree v. An evaluation error (a missing field, a wrong type)
// is false, as for a rule.
func (c *Condition) Eval(v fields.Value) bool {
	return eval(c.prg, &activation{fields: v}) == truthy
}

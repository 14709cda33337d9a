package rules

import (
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// evaluator is a compiled condition or exception: native nodes (native.go) when the expression is in their subset,
// else a CEL program. It is stateless after compilation and shared by all goroutines.
type evaluator struct {
	native boolNode
	// prg is the CEL program: set at compile time when there are no native nodes, else compiled on first use by
	// celEval (the baseline of `vigil bench`, and tests), so that loading never pays for it.
	once   sync.Once
	prg    cel.Program
	prgErr error
	env    *Env
	expr   string
}

// eval evaluates the expression on the event of act.
func (x *evaluator) eval(act *activation) outcome {
	if x.native != nil {
		return x.native.eval(act.fields)
	}
	return evalProgram(x.prg, act)
}

// celEval evaluates the expression with CEL on input (an activation or a map of fields), as cel.Program.Eval does.
func (x *evaluator) celEval(input any) (ref.Val, error) {
	x.once.Do(func() {
		if x.prg == nil {
			x.prg, _, _, x.prgErr = x.env.celProgram(x.expr, nil)
		}
	})
	if x.prgErr != nil {
		return nil, x.prgErr
	}
	out, _, err := x.prg.Eval(input)
	return out, err
}

func evalProgram(prg cel.Program, act *activation) outcome {
	out, _, err := prg.Eval(act)
	return celOutcome(out, err)
}

// celOutcome is the outcome of a CEL result.
func celOutcome(out ref.Val, err error) outcome {
	switch {
	case err != nil:
		return errored
	case out == types.True:
		return truthy
	}
	return falsy
}

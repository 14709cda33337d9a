package rules

import (
	"errors"
	"fmt"
	"reflect"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// SigmaFunctions is the CEL library that rules converted from Sigma (package rules/sigma) are written with. Every
// function is a member of any value, takes one pattern argument (a value or a list of values, any of which may
// match) and follows Sigma's value semantics:
//
//	x.ieq(p)  x.icontains(p)  x.istartsWith(p)  x.iendsWith(p)   case-insensitive comparison
//	x.ilike(p)                                               glob: * any run of characters, ? one character
//	x.eqCased(p) x.containsCased(p) x.startsWithCased(p) x.endsWithCased(p) x.likeCased(p)
//	x.re(p)                                                  RE2 search (flags in the pattern: (?i), (?m), (?s))
//	x.inCidr(p)                                              IP address inside a CIDR range
//	x.gt(n) x.gte(n) x.lt(n) x.lte(n)                        numeric comparison; numeric strings count
//	x.minuteIs(n) x.hourIs(n) x.dayIs(n) x.weekIs(n)          a part of the date and time x writes (time modifiers)
//	x.monthIs(n) x.yearIs(n)
//	_event.anyValue()                                        every value of the event, for keyword searches
//
// x may be a string, a number or a boolean (compared by its text, so 4688 and "4688" are equal), or a list (any
// element may match). A null, a map or a missing value never matches, and the functions never fail on a type, so a
// negated test stays false-safe. When the pattern is a constant (the usual case) it is prepared once, when the
// program is planned: literals are lowercased, globs split, regular expressions and CIDR ranges compiled; evaluation
// then does not allocate for ASCII text.
func SigmaFunctions() cel.EnvOption { return cel.Lib(sigmaLib{}) }

type sigmaOp int

const (
	opEq sigmaOp = iota
	opContains
	opPrefix
	opSuffix
	opLike
	opRe
	opCidr
	opGt
	opGte
	opLt
	opLte
	opMinute // the time modifiers: a part of a written date and time (timeparts.go)
	opHour
	opDay
	opWeek
	opMonth
	opYear
)

type sigmaFunc struct {
	op    sigmaOp
	cased bool
}

var sigmaFuncs = map[string]sigmaFunc{
	"ieq": {opEq, false}, "icontains": {opContains, false}, "istartsWith": {opPrefix, false},
	"iendsWith": {opSuffix, false}, "ilike": {opLike, false},
	"eqCased": {opEq, true}, "containsCased": {opContains, true}, "startsWithCased": {opPrefix, true},
	"endsWithCased": {opSuffix, true}, "likeCased": {opLike, true},
	"re": {opRe, true}, "inCidr": {opCidr, true},
	"gt": {opGt, true}, "gte": {opGte, true}, "lt": {opLt, true}, "lte": {opLte, true},
	"minuteIs": {opMinute, true}, "hourIs": {opHour, true}, "dayIs": {opDay, true}, "weekIs": {opWeek, true},
	"monthIs": {opMonth, true}, "yearIs": {opYear, true},
}

// sigmaExpressionSizeLimit is the largest condition, in code points, that the rule environment parses.
const sigmaExpressionSizeLimit = 1 << 20

func sigmaOverloadID(name string) string { return "sigma_" + name + "_dyn_dyn" }

type sigmaLib struct{}

func (sigmaLib) CompileOptions() []cel.EnvOption {
	// Converted rules can carry thousands of literals (SigmaHQ's vulnerable-driver hash list is about 240,000
	// characters); the cost limit, not the text size, is what bounds evaluation.
	opts := []cel.EnvOption{cel.ParserExpressionSizeLimit(sigmaExpressionSizeLimit)}
	for name, f := range sigmaFuncs {
		opts = append(opts, cel.Function(name, cel.MemberOverload(sigmaOverloadID(name),
			[]*cel.Type{cel.DynType, cel.DynType}, cel.BoolType, cel.BinaryBinding(f.eval))))
	}
	opts = append(opts, cel.Function("anyValue", cel.MemberOverload("sigma_anyvalue_map",
		[]*cel.Type{cel.MapType(cel.StringType, cel.DynType)}, cel.DynType,
		cel.UnaryBinding(func(v ref.Val) ref.Val { return anyValue{v} }))))
	return opts
}

func (sigmaLib) ProgramOptions() []cel.ProgramOption {
	return []cel.ProgramOption{cel.CustomDecoratorV2(precompileSigma)}
}

// eval is the slow path, for a pattern that is not a constant (a Sigma fieldref): prepare it on every call.
func (f sigmaFunc) eval(x, pattern ref.Val) ref.Val {
	m, err := newSigmaMatcher(f, pattern)
	if err != nil {
		return types.NewErr("%s", err)
	}
	return types.Bool(m.match(x))
}

// precompileSigma replaces a call whose pattern is a constant by one holding the prepared matcher.
func precompileSigma(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	call, ok := i.(interpreter.InterpretableCall)
	if !ok {
		return i, nil
	}
	f, ok := sigmaFuncs[call.Function()]
	args := call.Args()
	if !ok || call.OverloadID() != sigmaOverloadID(call.Function()) || len(args) != 2 {
		return i, nil
	}
	pattern, ok := constantValue(args[1])
	if !ok {
		return i, nil
	}
	m, err := newSigmaMatcher(f, pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", call.Function(), err)
	}
	return &sigmaCall{InterpretableCall: call, x: args[0], m: m}, nil
}

func constantValue(i interpreter.InterpretableV2) (ref.Val, bool) {
	switch c := i.(type) {
	case interpreter.InterpretableConst:
		return c.Value(), true
	case interpreter.InterpretableConstructor:
		if c.Type() != types.ListType {
			return nil, false
		}
		var vals []ref.Val
		for _, e := range c.InitVals() {
			v, ok := constantValue(e)
			if !ok {
				return nil, false
			}
			vals = append(vals, v)
		}
		return types.NewRefValList(types.DefaultTypeAdapter, vals), true
	}
	return nil, false
}

// sigmaCall evaluates a prepared matcher on its receiver.
type sigmaCall struct {
	interpreter.InterpretableCall
	x interpreter.InterpretableV2
	m *sigmaMatcher
}

func (c *sigmaCall) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	v := c.x.Exec(frame)
	if types.IsUnknownOrError(v) {
		return v
	}
	return types.Bool(c.m.match(v))
}

func (c *sigmaCall) Eval(a interpreter.Activation) ref.Val {
	return interpreter.EvalActivation(a, c.Exec)
}

// anyValue stands for every value of a map, searched recursively by the matchers (Sigma keyword searches).
type anyValue struct{ m ref.Val }

var anyValueType = types.NewOpaqueType("sigma.anyValue")

func (a anyValue) ConvertToNative(reflect.Type) (any, error) {
	return nil, errors.New("anyValue() can only be matched")
}
func (a anyValue) ConvertToType(ref.Type) ref.Val {
	return types.NewErr("anyValue() can only be matched")
}
func (a anyValue) Equal(ref.Val) ref.Val { return types.False }
func (a anyValue) Type() ref.Type        { return anyValueType }
func (a anyValue) Value() any            { return a.m.Value() }

package rules

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/parser"
)

// RootVariable names the whole event as one map, for fields whose names are not CEL identifiers
// (`_event["user-agent"]`) and for functions that look at every value.
const RootVariable = "_event"

// DefaultCostLimit bounds the statically estimated worst-case cost of a condition. A condition whose estimate exceeds
// it (nested comprehensions over event lists, for example) is rejected at load, so no rule can stall the pipeline.
// Typical rules estimate below 10,000; a loop over a list with string functions in it, about 300,000; two nested
// loops, a few million; three nested loops exceed it.
const DefaultCostLimit = 10_000_000

// assumedSize is the size assumed for any list, map or string of the event when estimating cost. Static estimation
// cannot know real sizes; this bound makes loops and string functions acceptable and deeply nested loops not.
const assumedSize = 1024

// Env is the CEL environment rules are compiled in: the standard library plus Vigil's extensions. Build it once and
// share it; it is safe for concurrent use.
type Env struct {
	base      *cel.Env
	costLimit uint64
	// fast is CEL's Pratt parser (parse.go), several times faster than the ANTLR parser cel.Env uses.
	fast *parser.Parser
	// cache holds the compiled expressions of the last CompileSet, by text (compile_cache.go).
	cacheMu sync.Mutex
	cache   map[string]*compiledExpr
	// reference compiles as Vigil did before the above: one rule at a time, with cel.Env's parser, without the
	// cache. Only tests set it, as the baseline of BenchmarkLoadSigmaHQ.
	reference bool
	// byFields caches the environments that declare a set of field variables, keyed by the sorted names: rules mostly
	// read the same few top-level fields, and extending an environment is a large part of compiling a rule.
	byFields sync.Map
	// declared names the environment's variables (_event, and any a library adds): they are not event fields.
	declared map[string]bool
}

// EnvOption configures an Env.
type EnvOption func(*envConfig)

type envConfig struct {
	celOpts   []cel.EnvOption
	costLimit uint64
}

// WithLibrary adds CEL declarations and functions, such as the enrichment lookups of package enrich.
func WithLibrary(opts ...cel.EnvOption) EnvOption {
	return func(c *envConfig) { c.celOpts = append(c.celOpts, opts...) }
}

// WithCostLimit sets the cost limit (DefaultCostLimit when zero).
func WithCostLimit(limit uint64) EnvOption {
	return func(c *envConfig) {
		if limit > 0 {
			c.costLimit = limit
		}
	}
}

// NewEnv builds the rule environment.
func NewEnv(opts ...EnvOption) (*Env, error) {
	cfg := envConfig{costLimit: DefaultCostLimit}
	for _, o := range opts {
		o(&cfg)
	}
	celOpts := []cel.EnvOption{
		cel.OptionalTypes(),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		ext.Strings(),
		ext.Network(),
		ext.Encoders(),
		ext.Lists(),
		ext.Sets(),
		ext.Regex(),
		SigmaFunctions(),
		EventFunctions(),
		cel.Variable(RootVariable, cel.MapType(cel.StringType, cel.DynType)),
	}
	celOpts = append(celOpts, cfg.celOpts...)
	base, err := cel.NewEnv(celOpts...)
	if err != nil {
		return nil, fmt.Errorf("rules: build CEL environment: %w", err)
	}
	fast, err := newFastParser(base)
	if err != nil {
		return nil, fmt.Errorf("rules: build CEL parser: %w", err)
	}
	declared := map[string]bool{}
	for _, v := range base.Variables() {
		declared[v.Name()] = true
	}
	return &Env{base: base, costLimit: cfg.costLimit, fast: fast, declared: declared}, nil
}

// program compiles one expression: into native nodes when it is in their subset (native.go), else with CEL. It also
// returns the expression's tree, which the index requirements, field references and guards read, and its estimated
// cost.
func (e *Env) program(expr string) (*evaluator, ast.Expr, uint64, error) {
	var tree *ast.AST
	if !e.reference {
		if tree = e.fastParse(expr); tree != nil {
			if n, ok := e.compileNative(tree.Expr()); ok {
				// The subset has no loops and only linear functions, whose cost CEL does not estimate either.
				return &evaluator{native: n, env: e, expr: expr}, tree.Expr(), 0, nil
			}
		}
	}
	prg, checked, est, err := e.celProgram(expr, tree)
	if err != nil {
		return nil, nil, est, err
	}
	return &evaluator{prg: prg, env: e, expr: expr}, checked.NativeRep().Expr(), est, nil
}

// celProgram compiles one expression with CEL, from its tree when the fast parser gave one (nil: parse expr). Its
// free identifiers are declared as dynamic event fields; the expression must be of type bool and its estimated cost
// within the limit.
func (e *Env) celProgram(expr string, tree *ast.AST) (cel.Program, *cel.Ast, uint64, error) {
	parsed, iss := e.parse(expr, tree)
	if iss.Err() != nil {
		return nil, nil, 0, newExprError("syntax", iss)
	}
	env, err := e.withFields(e.freeIdents(parsed.NativeRep().Expr()))
	if err != nil {
		return nil, nil, 0, err
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		return nil, nil, 0, newExprError("type check", iss)
	}
	if !checked.OutputType().IsExactType(types.BoolType) {
		return nil, nil, 0, fmt.Errorf("must be of type bool, got %s (compare the field, e.g. `x == true`)", checked.OutputType())
	}
	if err := checkPatterns(checked.NativeRep().Expr()); err != nil {
		return nil, nil, 0, err
	}
	var est cost.CostEstimate
	if needsCostEstimate(checked.NativeRep().Expr()) {
		if est, err = env.EstimateCost(checked, sizeEstimator{}); err != nil {
			return nil, nil, 0, fmt.Errorf("estimate cost: %w", err)
		}
	}
	if est.Max > e.costLimit {
		return nil, nil, est.Max, fmt.Errorf("estimated worst-case cost %d exceeds the limit %d: it could stall on large events (nested loops, large generated lists)", est.Max, e.costLimit)
	}
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if hasLoop(checked.NativeRep().Expr()) {
		// The estimate assumes lists of 1,024 elements; an event may hold far longer ones. A condition with a loop
		// is also held to the limit while it runs: past it the evaluation stops with an error (counted, no match).
		// Runtime cost tracking slows evaluation several times, so only conditions with loops pay for it.
		opts = append(opts, cel.CostLimit(e.costLimit), cel.InterruptCheckFrequency(100))
	}
	prg, err := env.Program(checked, opts...)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("plan: %w", err)
	}
	return prg, checked, est.Max, nil
}

// withFields returns the base environment extended with the given field variables, declared dynamic.
func (e *Env) withFields(vars []string) (*cel.Env, error) {
	if len(vars) == 0 {
		return e.base, nil
	}
	key := strings.Join(vars, ",")
	if env, ok := e.byFields.Load(key); ok {
		return env.(*cel.Env), nil
	}
	decls := make([]cel.EnvOption, len(vars))
	for i, v := range vars {
		decls[i] = cel.Variable(v, cel.DynType)
	}
	env, err := e.base.Extend(decls...)
	if err != nil {
		return nil, fmt.Errorf("declare fields: %w", err)
	}
	e.byFields.Store(key, env)
	return env, nil
}

// linearFunctions are functions whose cost is at most linear in the size of their arguments and result. An
// expression without loops that calls only these cannot stall the pipeline, so its cost is not estimated (the
// estimate is a large part of compiling a rule). Any other function, and every loop, is estimated. The Sigma
// functions (sigmaFuncs) count as linear too: the estimator has no cost model for them and would count each call as
// one step, so estimating them bounded nothing, while it was 45% of the bytes allocated loading SigmaHQ's Windows
// rules. (ilike with several `*` may backtrack, as any glob matcher does, over one field's text.)
var linearFunctions = map[string]bool{
	"size": true, "contains": true, "startsWith": true, "endsWith": true, "matches": true, "lowerAscii": true,
	"upperAscii": true, "trim": true, "indexOf": true, "lastIndexOf": true, "substring": true, "split": true,
	"charAt": true, "cidr": true, "ip": true, "containsIP": true, "containsCIDR": true, "isLoopback": true,
	"isGlobalUnicast": true, "isUnspecified": true, "isLinkLocalUnicast": true, "isLinkLocalMulticast": true,
	"family": true, "shadowedKeys": true, "prefixLength": true, "masked": true, "isIP": true, "isCIDR": true, "string": true, "int": true,
	"uint": true, "double": true, "bool": true, "bytes": true, "dyn": true, "type": true, "timestamp": true,
	"duration": true, "orValue": true, "hasValue": true, "value": true, "optional.of": true, "optional.none": true,
	"optional.ofNonZeroValue": true, "base64.decode": true, "base64.encode": true, "anyValue": true,
}

// hasLoop reports whether e has a comprehension (exists, all, map, filter...).
func hasLoop(root ast.Expr) bool {
	found := false
	ast.PostOrderVisit(root, ast.NewExprVisitor(func(x ast.Expr) {
		found = found || x.Kind() == ast.ComprehensionKind
	}))
	return found
}

// needsCostEstimate reports whether e has a loop or calls a function not known to be linear.
func needsCostEstimate(root ast.Expr) bool {
	needs := false
	ast.PostOrderVisit(root, ast.NewExprVisitor(func(x ast.Expr) {
		switch x.Kind() {
		case ast.ComprehensionKind:
			needs = true
		case ast.CallKind:
			fn := x.AsCall().FunctionName()
			if _, sigma := sigmaFuncs[fn]; !linearFunctions[fn] && !sigma && !isOperator(fn) {
				needs = true
			}
		}
	}))
	return needs
}

// isOperator reports whether fn is one of CEL's operators (_==_, !_, @in, _[_], _?._ ...), all linear.
func isOperator(fn string) bool {
	_, ok := operators.FindReverse(fn)
	return ok || fn == operators.Index || fn == operators.OptSelect || fn == operators.OptIndex ||
		fn == operators.LogicalAnd || fn == operators.LogicalOr || fn == operators.Conditional ||
		fn == operators.NotStrictlyFalse
}

// freeIdents returns the identifiers an expression reads that are neither comprehension variables nor the namespace
// of a declared function (such as `ioc` in `ioc.ip(x)`), sorted.
func (e *Env) freeIdents(root ast.Expr) []string {
	bound := map[string]bool{RootVariable: true}
	seen := map[string]bool{}
	ast.PostOrderVisit(root, ast.NewExprVisitor(func(x ast.Expr) {
		switch x.Kind() {
		case ast.ComprehensionKind:
			c := x.AsComprehension()
			bound[c.IterVar()] = true
			bound[c.IterVar2()] = true
			bound[c.AccuVar()] = true
		case ast.CallKind:
			c := x.AsCall()
			if c.IsMemberFunction() && c.Target().Kind() == ast.IdentKind &&
				e.base.HasFunction(c.Target().AsIdent()+"."+c.FunctionName()) {
				bound[c.Target().AsIdent()] = true
			}
		case ast.IdentKind:
			seen[x.AsIdent()] = true
		}
	}))
	var out []string
	for v := range seen {
		if !bound[v] {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// sizeEstimator bounds every dynamic value by the largest size an event can give it, so the estimate is finite.
type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(cost.AstNode) *cost.SizeEstimate {
	return &cost.SizeEstimate{Min: 0, Max: assumedSize}
}

func (sizeEstimator) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

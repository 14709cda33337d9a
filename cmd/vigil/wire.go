package main

import (
	"github.com/vigilsoc/vigil/enrich"
	"github.com/vigilsoc/vigil/rules"
)

// newRuleEnv builds the CEL environment every command compiles rules in. It always declares the lookup functions of
// package enrich: pass an enrichment's ruleLibrary() to give them tables; otherwise (`vigil rules validate`, and
// `vigil rules test` without --enrich) they compile and find nothing. The library is a singleton, so the first one
// passed wins over the empty one added here.
func newRuleEnv(opts ...rules.EnvOption) (*rules.Env, error) {
	return rules.NewEnv(append(opts, rules.WithLibrary(enrich.Library(nil, nil, nil)))...)
}

package main

import "github.com/vigilsoc/vigil/rules"

// newRuleEnv builds the CEL environment every command compiles rules in.
func newRuleEnv(opts ...rules.EnvOption) (*rules.Env, error) {
	return rules.NewEnv(opts...)
}

package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/pflag"

	"github.com/vigilsoc/vigil/correlate"
	"github.com/vigilsoc/vigil/rules"
)

func cmdRules(args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprintln(io.err, "usage: vigil rules validate|test PATH... | deploy -c FILE PATH... | status|history|rollback|shadow-report|promote|shadow-stop -c FILE")
		return 2
	}
	switch args[0] {
	case "validate":
		return cmdRulesValidate(args[1:], io)
	case "test":
		return cmdRulesTest(args[1:], io)
	case "deploy":
		return cmdRulesDeploy(args[1:], io)
	case "status":
		return cmdRulesStatus(args[1:], io)
	case "history":
		return cmdRulesHistory(args[1:], io)
	case "rollback":
		return cmdRulesRollback(args[1:], io)
	case "shadow-report":
		return cmdRulesShadowReport(args[1:], io)
	case "promote":
		return cmdRulesPromote(args[1:], io)
	case "shadow-stop":
		return cmdRulesShadowStop(args[1:], io)
	default:
		fmt.Fprintf(io.err, "vigil rules: unknown command %q (want validate, test, deploy, status, history, rollback, shadow-report, promote or shadow-stop)\n", args[0])
		return 2
	}
}

// newFlags returns a flag set that reports errors instead of exiting, with usage printed to io.err.
func newFlags(name, usage string, io stdio) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() {
		fmt.Fprintf(io.err, "usage: %s\n\nFlags:\n%s", usage, fs.FlagUsages())
	}
	return fs
}

// parseFlags parses args; the int is the exit code to return when ok is false. A parse error is printed with the
// usage (exit 2); --help prints the usage (exit 0).
func parseFlags(fs *pflag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0, false
		}
		// With ContinueOnError pflag returns the error without printing it: without this line a mistyped flag
		// would exit 2 with no word about why.
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		fs.Usage()
		return 2, false
	}
	return 0, true
}

// printErrors prints every error joined in err on its own line.
func printErrors(io stdio, err error) int {
	n := 0
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		fmt.Fprintln(io.err, e)
		n++
	}
	walk(err)
	return n
}

func cmdRulesValidate(args []string, io stdio) int {
	fs := newFlags("vigil rules validate", "vigil rules validate [--schema FILE] [--strict] [--exceptions PATH] PATH...", io)
	lint := addLintFlags(fs)
	exceptions := addExceptionsFlag(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	env, err := newRuleEnv()
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	schema, err := rules.LoadSchema(lint.schemas...)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	parsed, perr := loadRuleFiles(env, fs.Args(), exceptions.paths())
	set, cerr := env.CompileSet(parsed)
	failed := lint.print(io, env.Lint(parsed, schema))
	if err := errors.Join(perr, cerr); err != nil || failed > 0 {
		n := failed
		if err != nil {
			n += printErrors(io, err)
		}
		fmt.Fprintf(io.err, "%d error(s)\n", n)
		return 1
	}
	fmt.Fprintf(io.out, "ok: %d rules (%d enabled, of which %d correlations; %d disabled)\n", len(parsed),
		len(set.Rules())+len(set.Correlations()), len(set.Correlations()), set.Disabled())
	return 0
}

// lintFlags are the flags of the commands that warn about rules that load but probably do not work as meant.
type lintFlags struct {
	schemas []string
	strict  bool
}

func addLintFlags(fs *pflag.FlagSet) *lintFlags {
	l := &lintFlags{}
	fs.StringSliceVar(&l.schemas, "schema", nil, "a file of field names the events have beyond ECS and flat Windows "+
		"events (one per line or a YAML list; name.* for every field under name); repeatable")
	fs.BoolVar(&l.strict, "strict", false, "treat warnings (fields in no known schema, unknown ATT&CK ids) as errors")
	return l
}

// print prints the warnings, as errors with --strict, and returns how many count as errors.
func (l *lintFlags) print(io stdio, ws []*rules.Warning) int {
	for _, w := range ws {
		if l.strict {
			fmt.Fprintln(io.err, w.Err())
		} else {
			fmt.Fprintln(io.err, w)
		}
	}
	if !l.strict {
		if len(ws) > 0 {
			fmt.Fprintf(io.err, "%d warning(s)\n", len(ws))
		}
		return 0
	}
	return len(ws)
}

func cmdRulesTest(args []string, io stdio) int {
	fs := newFlags("vigil rules test", "vigil rules test [--enrich CONFIG] [--schema FILE] [--strict] [--exceptions PATH] PATH...", io)
	enrichPath := fs.String("enrich", "", enrichFlagHelp+"; without it lookups find nothing")
	lint := addLintFlags(fs)
	exceptions := addExceptionsFlag(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	env, enr, err := ruleEnvFromFlag(*enrichPath)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	schema, err := rules.LoadSchema(lint.schemas...)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	parsed, err := loadRuleFiles(env, fs.Args(), exceptions.paths())
	failed := 0
	if err != nil {
		failed += printErrors(io, err)
	}
	failed += lint.print(io, env.Lint(parsed, schema))
	var passed int
	var untested []*rules.Rule
	set, setErr := env.CompileSet(parsed) // correlation tests run the whole set
	raw := &rawTestDecoder{}
	for _, r := range parsed {
		c, err := env.Compile(r)
		if err != nil {
			failed += printErrors(io, err)
			continue
		}
		if len(r.Tests) == 0 {
			untested = append(untested, r)
		}
		results := rules.RunTestsWith(c, raw.decode)
		if (r.Correlation != nil || r.Suppress != nil) && slices.ContainsFunc(r.Tests, func(t rules.RuleTest) bool { return t.Events != nil }) {
			if setErr != nil {
				fmt.Fprintf(io.out, "FAIL %s %s: the rule set does not compile, so its correlation tests cannot run\n", r.Source, r.ID)
				failed++
				continue
			}
			if c = set.Rule(r.ID); c == nil {
				fmt.Fprintf(io.out, "note %s %s: disabled, its tests are not run\n", r.Source, r.ID)
				continue
			}
			results = append(results, correlate.RunTests(set, c, correlate.Config{}, enr.enrichers())...)
		}
		for _, res := range results {
			if res.Err != nil {
				failed++
				fmt.Fprintf(io.out, "FAIL %s %s: %s: %v%s\n", res.Pos(), r.ID, res.Test.Name, res.Err, lookupHint(enr, r))
				continue
			}
			passed++
			fmt.Fprintf(io.out, "ok   %s %s: %s\n", res.Pos(), r.ID, res.Test.Name)
		}
	}
	for _, r := range untested {
		fmt.Fprintf(io.out, "note %s %s: no tests\n", r.Source, r.ID)
	}
	if setErr != nil {
		failed += printErrors(io, setErr)
	}
	fmt.Fprintf(io.out, "%d passed, %d failed (%d rules, %d without tests)\n", passed, failed, len(parsed), len(untested))
	if failed > 0 {
		return 1
	}
	return 0
}

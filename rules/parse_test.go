package rules_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/rules/sigma"
)

// TestFastParserAgrees checks that the fast parser (parse.go) gives the tree of cel.Env's parser, as text, for
// every condition and exception of the rules Vigil ships and tests with, every converted SigmaHQ rule, and a few
// expressions both must reject.
func TestFastParserAgrees(t *testing.T) {
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	exprs := shippedExpressions(t)
	exprs = append(exprs, sigmaHQExpressions(t, env)...)
	exprs = append(exprs, `a.b ==`, `a.(b)`, `"unterminated`, `a.?b[?0].c in [1, 2,]`, `{"a": 1}.a == 1 ? x : y`,
		`[1, 2].exists(x, x > 1) && !has(a.b) && b'\x01' == c && 1u < 2.0e3 && -x == 1`, "`escaped`")
	if len(exprs) < 3000 {
		t.Fatalf("got %d expressions, want the shipped rules and SigmaHQ's (over 3,000)", len(exprs))
	}
	for _, x := range exprs {
		if fast, ref := rules.ParseBoth(env, x); fast != ref {
			t.Errorf("%q: fast parser gives %q, cel.Env's %q", x, fast, ref)
		}
	}
}

// shippedExpressions returns the conditions and exceptions of the rules under configs/rules and rules/testdata.
func shippedExpressions(t *testing.T) []string {
	var out []string
	for _, dir := range []string{"../configs/rules", "testdata"} {
		files, err := rules.Files(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rs, _ := rules.Parse(f, data) // the bad rules of testdata/bad parse only in part
			for _, r := range rs {
				out = append(append(out, r.Condition), r.Exceptions...)
			}
		}
	}
	return out
}

// sigmaHQExpressions converts SigmaHQ's rules (../shared/testdata/sigma) and returns their conditions.
func sigmaHQExpressions(t *testing.T, env *rules.Env) []string {
	var out []string
	for _, r := range sigmaHQRules(t, env, "", "windows-flat") {
		out = append(out, r.Condition)
	}
	return out
}

// sigmaHQRules converts SigmaHQ's rules (../shared/testdata/sigma, the folder sub of it, or all rule folders when
// sub is empty) with a built-in profile, and returns the rules that convert, enabled or not.
func sigmaHQRules(t testing.TB, env *rules.Env, sub, profile string) []*rules.Rule {
	root := filepath.Join("..", "..", "shared", "testdata", "sigma")
	dirs, err := sigma.RuleDirs(root)
	if err != nil {
		t.Skipf("SigmaHQ's rules are not at %s (%v): they sit beside the repository, see DESIGN.md", root, err)
	}
	if sub != "" {
		dirs = []string{filepath.Join(root, sub)}
	}
	files, err := rules.Files(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := sigma.LoadProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	conv := &sigma.Converter{Profile: p, Env: env}
	var out []*rules.Rule
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parsed, _ := sigma.Parse(f, data)
		for _, r := range parsed {
			if res, err := conv.Convert(r); err == nil {
				out = append(out, res.Rule)
			}
		}
	}
	return out
}

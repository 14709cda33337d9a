package rules

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadRules maps each broken rule file in testdata/bad to the error it must produce, with its file:line.
func TestBadRules(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ file, want string }{
		{"unknown_key.yml", `unknown_key.yml:4: rule bad.unknown_key: unknown key "condtion"`},
		{"bad_severity.yml", `bad_severity.yml:3: rule bad.severity: severity "urgent" must be one of low, medium, high, critical`},
		{"missing_condition.yml", `missing_condition.yml:1: rule bad.missing_condition: missing required key "condition"`},
		{"bad_id.yml", `bad_id.yml:1: rule Bad ID!: id "Bad ID!" must match [a-z0-9._-]+`},
		{"syntax.yml", `syntax.yml:5:27: rule bad.syntax: condition: syntax: Syntax error: mismatched input '<EOF>'`},
		{"not_bool.yml", `not_bool.yml:4: rule bad.not_bool: condition: must be of type bool, got dyn`},
		{"corr_duplicate.yml", `corr_duplicate.yml:4: rule bad.corr_duplicate: correlation names rule "fail" twice`},
		{"corr_ordered_condition.yml", `corr_ordered_condition.yml:4: rule bad.corr_ordered: temporal_ordered takes no condition`},
		{"bad_test_expect.yml", `bad_test_expect.yml:5: rule bad.test_expect: test 1 ("t"): expect must be match or no_match, got "yes"`},
		{"suppress_for.yml", `suppress_for.yml:5: rule bad.suppress_for: suppress.for: timespan "an hour" must be a positive number followed by s, m, h or d`},
		{"suppress_missing.yml", `suppress_missing.yml:5: rule bad.suppress_missing: suppress.missing "ignore" must be group or skip`},
		{"suppress_key.yml", `suppress_key.yml:6: rule bad.suppress_key: unknown key "fields" in suppress`},
		{"suppress_correlation.yml", `suppress_correlation.yml:10: rule bad.suppress_correlation: suppress.by of a correlation must be its group_by (user.name), or left out`},
		{"suppress_correlation.yml", `suppress_correlation.yml:10: rule bad.suppress_correlation: suppress.for (30m) must be longer than the correlation's timespan (1h)`},
		{"suppress_internal.yml", `suppress_internal.yml:6: rule bad.suppress_internal: suppress: the rule raises no alerts of its own`},
		{"suppress_test.yml", `suppress_test.yml:6: rule bad.suppress_test: test 1 ("t"): a suppression test gives events and alerts (and no event or expect)`},
		{"unknown_test_key.yml", `unknown_test_key.yml:7: rule bad.unknown_test_key: unknown key "evnt" in tests`},
		{"duplicate_id.yml", `duplicate_id.yml:6: rule bad.dup: duplicate rule id (first defined at`},
		{"cost.yml", `cost.yml:4: rule bad.cost: condition: estimated worst-case cost`},
		{"bad_yaml.yml", `bad_yaml.yml:4: found unexpected end of stream`},
		{"risk.yml", `risk.yml:4: rule bad.risk: risk_score 150 must be between 0 and 100`},
		{"bad_exception.yml", `bad_exception.yml:6:17: rule bad.exception: exception 1: syntax:`},
		{"two_errors.yml", `two_errors.yml:6:14: rule bad.two_errors: condition: type check: undeclared reference to 'nosuch'`},
		{"two_errors.yml", `two_errors.yml:6:36: rule bad.two_errors: condition: type check: found no matching overload for 'size'`},
		{"two_errors.yml", `two_errors.yml:8:22: rule bad.two_errors: exception 1: syntax: Syntax error`},
		{"wrong_type.yml", `wrong_type.yml:4: cannot unmarshal !!int`},
		{"regex_from_event.yml", `regex_from_event.yml:4: rule bad.regex: condition: matches: the pattern must be a constant string`},
		{"corr_unknown_rule.yml", `corr_unknown_rule.yml:4: rule bad.corr_unknown: correlation names unknown rule "fial" (did you mean "fail"?)`},
		{"corr_disabled_rule.yml", `corr_disabled_rule.yml:4: rule bad.corr_disabled: correlation names rule "fail", which is disabled`},
		{"corr_cycle.yml", `corr_cycle.yml:4: rule bad.a: correlations form a cycle: bad.a -> bad.b -> bad.a`},
		{"corr_timespan.yml", `corr_timespan.yml:4: rule bad.corr_timespan: timespan "5 minutes" must be a positive number followed by s, m, h or d`},
		{"corr_chain_field.yml", `corr_chain_field.yml:14: rule bad.chain: group_by "source.ip": correlation "bad.brute" has no field "source.ip" (its alerts carry only its group_by: user.name)`},
		{"corr_type.yml", `corr_type.yml:4: rule bad.corr_type: correlation type "event_sum" must be one of event_count,`},
		{"corr_no_field.yml", `corr_no_field.yml:4: rule bad.corr_no_field: value_count needs condition.field`},
		{"corr_unknown_key.yml", `corr_unknown_key.yml:7: rule bad.corr_key: unknown key "group-by" in correlation`},
		{"corr_unknown_key.yml", `corr_unknown_key.yml:9: rule bad.corr_key: unknown key "gtee" in correlation condition`},
		{"corr_test.yml", `corr_test.yml:9: rule bad.corr_test: test 1 ("t"): a correlation rule's test gives events and alerts, not event and expect`},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tc.file)
			rs, err := Load(path)
			if err == nil {
				_, err = env.CompileSet(rs)
			}
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			want := filepath.Join("testdata", "bad", tc.want)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("got %q, want it to contain %q", err, want)
			}
			var re *Error
			if !errors.As(err, &re) {
				t.Errorf("got %T, want a *rules.Error with a position", err)
			}
		})
	}
}

func TestParseGoodRule(t *testing.T) {
	data := []byte(`# leading comment
id: good.one
name: Good
severity: critical
mitre_attack:
  - {tactic: TA0006, technique: T1110, subtechnique: T1110.001}
condition: event.outcome == "failure"
---
---
id: good.two
name: Second, disabled
severity: low
enabled: false
risk_score: 5
condition: "true"
`)
	rs, err := Parse("good.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("got %d rules, want 2 (empty documents are skipped)", len(rs))
	}
	if got := rs[0].Risk(); got != 99 {
		t.Errorf("default risk for critical: got %d, want 99", got)
	}
	if got := rs[0].SeverityLevel(); got != 4 {
		t.Errorf("critical severity level: got %d, want 4", got)
	}
	if got := rs[1].Risk(); got != 5 || rs[1].IsEnabled() {
		t.Errorf("second rule: got risk %d enabled %v, want 5 false", got, rs[1].IsEnabled())
	}
	if rs[1].Source.Line != 10 {
		t.Errorf("second rule line: got %d, want 10", rs[1].Source.Line)
	}
	if strings.Contains(string(rs[1].Text), "good.one") || !strings.Contains(string(rs[1].Text), "good.two") {
		t.Errorf("rule text must hold only its own document, got %q", rs[1].Text)
	}
	env, _ := NewEnv()
	set, err := env.CompileSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules()) != 1 || set.Disabled() != 1 {
		t.Errorf("got %d enabled and %d disabled, want 1 and 1", len(set.Rules()), set.Disabled())
	}
}

package sigma

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil/rules"
)

// sigmaFile is one Sigma file given to convertFiles.
type sigmaFile struct{ name, text string }

// convertFiles parses the files and converts all their rules together, as `vigil sigma convert` does.
func convertFiles(t *testing.T, conv *Converter, files ...sigmaFile) ([]*Result, []error) {
	t.Helper()
	var all []*Rule
	var errs []error
	for _, f := range files {
		rs, perrs := Parse(f.name, []byte(f.text))
		all = append(all, rs...)
		errs = append(errs, perrs...)
	}
	results, cerrs := conv.ConvertAll(all)
	return results, append(errs, cerrs...)
}

// loadConverted writes the results as one multi-document rule file, reads it back with rules.Parse and compiles it
// as one set: what `vigil rules validate` does with the converted files.
func loadConverted(t *testing.T, conv *Converter, results []*Result) (map[string]*rules.Rule, *rules.RuleSet) {
	t.Helper()
	var docs []string
	for _, res := range results {
		docs = append(docs, string(res.YAML))
	}
	parsed, err := rules.Parse("converted.yml", []byte(strings.Join(docs, "---\n")))
	if err != nil {
		t.Fatalf("rules.Parse of the converted rules: %v\n%s", err, strings.Join(docs, "---\n"))
	}
	byID := map[string]*rules.Rule{}
	for _, r := range parsed {
		byID[r.ID] = r
	}
	set, err := conv.Env.CompileSet(parsed)
	if err != nil {
		t.Fatalf("CompileSet of the converted rules: %v", err)
	}
	return byID, set
}

// wantCorrelation is what a converted correlation must say; cond is CorrelationCondition.String().
type wantCorrelation struct {
	typ, timespan, cond string
	rules, groupBy      []string
	aliases             map[string]map[string]string
}

func checkCorrelation(t *testing.T, r *rules.Rule, want wantCorrelation) {
	t.Helper()
	if r == nil || r.Correlation == nil {
		t.Fatalf("got %+v, want a correlation rule", r)
	}
	c := r.Correlation
	got := wantCorrelation{c.Type, c.Timespan, c.Condition.String(), c.Rules, c.GroupBy, c.Aliases}
	if c.Condition.Field != "" {
		got.cond = "field " + c.Condition.Field + ": " + got.cond
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rule %s: got %+v, want %+v", r.ID, got, want)
	}
}

// detectionRule is a small Windows rule with an id and a name.
func detectionRule(id, name string) string {
	return "title: Rule " + name + "\nid: " + id + "\nname: " + name +
		"\nlogsource: {product: windows, service: security}\ndetection: {sel: {EventID: 4625}, condition: sel}\n"
}

// correlationOver is an event_count correlation over refs, its rules listed from line 5 on.
func correlationOver(refs ...string) string {
	return "title: Many\nid: 22222222-0000-4000-8000-000000000009\ncorrelation:\n  type: event_count\n  rules:\n    - " +
		strings.Join(refs, "\n    - ") + "\n  group-by: [TargetUserName]\n  timespan: 5m\n  condition: {gte: 5}\n"
}

// TestCorrelationNameResolution resolves references across files: by id in any case or by name, preferring the
// correlation's own file when several files define a name.
func TestCorrelationNameResolution(t *testing.T) {
	const (
		idA = "22222222-0000-4000-8000-00000000000a"
		idB = "22222222-0000-4000-8000-00000000000b"
	)
	cases := []struct {
		name      string
		files     []sigmaFile
		wantRules []string
		wantErr   string
	}{
		{"name in another file", []sigmaFile{{"a.yml", detectionRule(idA, "failed_login")}, {"c.yml", correlationOver("failed_login")}},
			[]string{"sigma." + idA}, ""},
		{"id in another file, in capitals", []sigmaFile{{"a.yml", detectionRule(idA, "failed_login")}, {"c.yml", correlationOver(strings.ToUpper(idA))}},
			[]string{"sigma." + idA}, ""},
		{"id and name from two files", []sigmaFile{{"a.yml", detectionRule(idA, "a")}, {"b.yml", detectionRule(idB, "b")}, {"c.yml", correlationOver(idA, "b")}},
			[]string{"sigma." + idA, "sigma." + idB}, ""},
		{"the correlation's own file first", []sigmaFile{{"a.yml", detectionRule(idA, "x")}, {"c.yml", detectionRule(idB, "x") + "---\n" + correlationOver("x")}},
			[]string{"sigma." + idB}, ""},
		{"a name two other files define", []sigmaFile{{"a.yml", detectionRule(idA, "x")}, {"b.yml", detectionRule(idB, "x")}, {"c.yml", correlationOver("x")}},
			nil, `c.yml:6: rule 22222222-0000-4000-8000-000000000009: ambiguous rule: correlation names "x", the id or name of 2 rules (a.yml:1, b.yml:1)`},
		{"an unknown name", []sigmaFile{{"a.yml", detectionRule(idA, "failed_login")}, {"c.yml", correlationOver("failed_login", "failed_logon")}},
			nil, `c.yml:7: rule 22222222-0000-4000-8000-000000000009: unknown rule: correlation names "failed_logon": no rule converted with it has that id or name`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conv := newTestConverter(t, "windows-flat")
			results, errs := convertFiles(t, conv, tc.files...)
			if tc.wantErr != "" {
				if len(errs) != 1 || errs[0].Error() != tc.wantErr {
					t.Fatalf("got errors %v, want exactly %q", errs, tc.wantErr)
				}
				if len(results) != len(tc.files)-1 {
					t.Errorf("got %d rules converted, want the %d detection rules", len(results), len(tc.files)-1)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			byID, _ := loadConverted(t, conv, results)
			corr := byID["sigma.22222222-0000-4000-8000-000000000009"]
			if corr == nil || !reflect.DeepEqual(corr.Correlation.Rules, tc.wantRules) {
				t.Errorf("got %+v, want rules %v", corr, tc.wantRules)
			}
		})
	}
}

// TestCorrelationMapping covers the metadata and correlation keys of a converted correlation.
func TestCorrelationMapping(t *testing.T) {
	const input = `title: Failed logon
id: 33333333-0000-4000-8000-000000000001
name: failed
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4625}, condition: sel}
---
`
	const id = "sigma.33333333-0000-4000-8000-000000000002"
	const head = "title: Correlation\nid: 33333333-0000-4000-8000-000000000002\n"
	cases := []struct {
		name, profile, text string
		check               func(t *testing.T, r *rules.Rule, set *rules.RuleSet, notes []string)
	}{
		{"metadata as for detection rules", "windows-flat", head + `status: test
level: informational
author: Jane Doe
description: Brute force.
references: [https://example.org/x]
falsepositives: [Scanners]
tags: [attack.credential-access, attack.t1110.001]
correlation: {type: event_count, rules: failed, group-by: TargetUserName, timespan: 1h, condition: {gt: 100, lte: 200}}
`, func(t *testing.T, r *rules.Rule, _ *rules.RuleSet, _ []string) {
			want := ruleMeta{ID: id, Name: "Correlation", Description: "Brute force.", Author: "Jane Doe", Severity: "low",
				Tags:       []string{"attack.credential-access", "attack.t1110.001", "sigma", "sigma.status.test", "sigma.level.informational"},
				References: []string{"https://example.org/x"}, FalsePositives: []string{"Scanners"},
				MitreAttack: []rules.MitreAttack{{Tactic: "TA0006"}, {Technique: "T1110", Subtechnique: "T1110.001"}}}
			if got := metaOf(r); !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
			checkCorrelation(t, r, wantCorrelation{typ: rules.EventCount, timespan: "1h", cond: "gt 100 and lte 200",
				rules: []string{"sigma.33333333-0000-4000-8000-000000000001"}, groupBy: []string{"TargetUserName"}})
		}},
		{"generate keeps the named rule's alerts", "windows-flat", head + "generate: true\ncorrelation: {type: event_count, rules: [failed], group-by: [TargetUserName], timespan: 1h, condition: {gte: 5}}\n",
			func(t *testing.T, r *rules.Rule, set *rules.RuleSet, _ []string) {
				in := set.Rule("sigma.33333333-0000-4000-8000-000000000001")
				if !r.Correlation.Generate || in.Internal || in.Alert != nil {
					t.Errorf("got generate %v, alert %v, internal %v, want true and the named rule alerting",
						r.Correlation.Generate, in.Alert, in.Internal)
				}
			}},
		{"generate inside correlation, as pySigma reads it", "windows-flat", head + "correlation: {type: event_count, generate: true, rules: [failed], group-by: [TargetUserName], timespan: 1h, condition: {gte: 5}}\n",
			func(t *testing.T, r *rules.Rule, _ *rules.RuleSet, _ []string) {
				if !r.Correlation.Generate {
					t.Errorf("got generate false, want true")
				}
			}},
		{"value_count field through the profile", "ecs", head + "correlation: {type: value_count, rules: [failed], group-by: [IpAddress], timespan: 1d, condition: {field: TargetUserName, gte: 20}}\n",
			func(t *testing.T, r *rules.Rule, _ *rules.RuleSet, _ []string) {
				checkCorrelation(t, r, wantCorrelation{typ: rules.ValueCount, timespan: "1d", cond: "field winlog.event_data.TargetUserName: gte 20",
					rules: []string{"sigma.33333333-0000-4000-8000-000000000001"}, groupBy: []string{"source.ip"}})
			}},
		{"value_avg with a fraction", "windows-flat", head + "correlation: {type: value_avg, rules: [failed], group-by: [IpAddress], timespan: 1d, condition: {field: LogonType, gt: 2.5}}\n",
			func(t *testing.T, r *rules.Rule, _ *rules.RuleSet, _ []string) {
				checkCorrelation(t, r, wantCorrelation{typ: rules.ValueAvg, timespan: "1d", cond: "field LogonType: gt 2.5",
					rules: []string{"sigma.33333333-0000-4000-8000-000000000001"}, groupBy: []string{"IpAddress"}})
			}},
		{"deprecated is disabled, and its rules stay silent", "windows-flat", head + "status: deprecated\ncorrelation: {type: temporal, rules: [failed], group-by: [IpAddress], timespan: 1m}\n",
			func(t *testing.T, r *rules.Rule, set *rules.RuleSet, _ []string) {
				if in := set.Rule("sigma.33333333-0000-4000-8000-000000000001"); r.IsEnabled() || !in.Internal {
					t.Errorf("got enabled %v and the named rule internal %v, want disabled and internal", r.IsEnabled(), in.Internal)
				}
			}},
		{"an alias group-by does not use is dropped", "windows-flat", head + "correlation: {type: temporal, rules: [failed], group-by: [IpAddress], timespan: 1m, aliases: {ip: {failed: SourceIp}}}\n",
			func(t *testing.T, r *rules.Rule, _ *rules.RuleSet, notes []string) {
				if r.Correlation.Aliases != nil || len(notes) != 1 || !strings.Contains(notes[0], "alias ip is not used in group-by") {
					t.Errorf("got aliases %v and notes %q, want none and a note", r.Correlation.Aliases, notes)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conv := newTestConverter(t, tc.profile)
			results, errs := convertFiles(t, conv, sigmaFile{"mapping.yml", input + tc.text})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			byID, set := loadConverted(t, conv, results)
			tc.check(t, byID[id], set, noteTexts(results[len(results)-1].Notes))
		})
	}
}

// ruleMeta is the metadata of a Vigil rule.
type ruleMeta struct {
	ID, Name, Description, Author, Severity string
	Tags, References, FalsePositives        []string
	MitreAttack                             []rules.MitreAttack
}

func metaOf(r *rules.Rule) ruleMeta {
	return ruleMeta{r.ID, r.Name, r.Description, r.Author, r.Severity, r.Tags, r.References, r.FalsePositives, r.MitreAttack}
}

// TestCorrelationErrors checks that a correlation that cannot be converted is reported with its reason at the line
// that causes it, and that the rules it names still convert.
func TestCorrelationErrors(t *testing.T) {
	const input = `title: Logon
id: 44444444-0000-4000-8000-000000000001
name: logon
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4624}, condition: sel}
---
title: Process
id: 44444444-0000-4000-8000-000000000002
name: process
logsource: {product: windows, category: process_creation}
detection: {sel: {Image|endswith: '\x.exe'}, condition: sel}
---
title: Placeholder
id: 44444444-0000-4000-8000-000000000003
name: placeholder
logsource: {product: windows, service: security}
detection: {sel: {TargetUserName|expand: '%admins%'}, condition: sel}
---
title: Correlation
id: 44444444-0000-4000-8000-000000000009
`
	const corrLine = 21 // the line of "correlation:"
	cases := []struct {
		name, text     string
		line           int
		reason, detail string
	}{
		{"unknown rule", "correlation:\n  type: temporal\n  rules:\n    - logon\n    - logn\n  timespan: 1m\n", corrLine + 4, "unknown rule", `"logn"`},
		{"alias of an unknown rule", "correlation:\n  type: temporal\n  rules: [logon]\n  group-by: [ip]\n  timespan: 1m\n  aliases:\n    ip:\n      logn: IpAddress\n", corrLine + 7, "unknown rule", `"logn"`},
		{"alias of a rule not named", "correlation:\n  type: temporal\n  rules: [logon]\n  group-by: [ip]\n  timespan: 1m\n  aliases:\n    ip:\n      process: IpAddress\n", corrLine + 7, "invalid correlation", `"process" is not one of the rules`},
		{"absence", "correlation: {type: absence, rules: [logon], timespan: 1m}\n", corrLine, "invalid correlation", "Vigil's own"},
		{"unknown type", "correlation: {type: event_sum, rules: [logon], timespan: 1m}\n", corrLine, "invalid correlation", `type "event_sum" must be one of`},
		{"no rules", "correlation: {type: temporal, timespan: 1m}\n", corrLine, "invalid correlation", "rules: missing"},
		{"no timespan", "correlation: {type: temporal, rules: [logon]}\n", corrLine, "invalid correlation", "timespan: missing"},
		{"timespan in weeks", "correlation: {type: temporal, rules: [logon], timespan: 1w}\n", corrLine, "invalid correlation", `timespan "1w"`},
		{"event_count without condition", "correlation: {type: event_count, rules: [logon], timespan: 1m}\n", corrLine, "invalid correlation", "needs a condition"},
		{"value_count without field", "correlation: {type: value_count, rules: [logon], timespan: 1m, condition: {gte: 3}}\n", corrLine, "invalid correlation", "needs condition.field"},
		{"temporal with a field", "correlation: {type: temporal, rules: [logon], timespan: 1m, condition: {field: User, gte: 2}}\n", corrLine, "invalid correlation", "condition.field is for"},
		{"several condition fields", "correlation: {type: value_count, rules: [logon], timespan: 1m, condition: {field: [A, B], gte: 3}}\n", corrLine, "condition field list", "Vigil reads one"},
		{"unknown key", "correlation:\n  type: temporal\n  rules: [logon]\n  timespan: 1m\n  group_by: [User]\n", corrLine + 4, "invalid correlation", "group_by: unknown key"},
		{"unknown condition key", "correlation: {type: event_count, rules: [logon], timespan: 1m, condition: {gte: 3, percentile: 5}}\n", corrLine, "invalid correlation", `unknown key "percentile"`},
		{"bound not a number", "correlation: {type: event_count, rules: [logon], timespan: 1m, condition: {gte: many}}\n", corrLine, "invalid correlation", "want a number"},
		{"extended condition", "correlation: {type: temporal, rules: [logon], timespan: 1m, condition: logon and not process}\n", corrLine, "invalid correlation", "want a mapping"},
		{"a rule that did not convert", "correlation:\n  type: temporal\n  rules:\n    - logon\n    - placeholder\n  timespan: 1m\n", corrLine + 4, "correlation input unsupported", "placeholder"},
		{"itself", "name: self\ncorrelation:\n  type: temporal\n  rules:\n    - logon\n    - self\n  timespan: 1m\n", corrLine + 5, "invalid correlation", "cycle"},
		{"a rule twice", "correlation:\n  type: temporal\n  rules:\n    - logon\n    - 44444444-0000-4000-8000-000000000001\n  timespan: 1m\n", corrLine + 4, "invalid correlation", "already names"},
		{"a field mapped two ways by one rule", "correlation: {type: temporal, rules: [process], group-by: [Image], timespan: 1m}\n", corrLine, "ambiguous field", "Image to Image or NewProcessName"},
		{"both detection and correlation", "detection: {sel: {A: b}, condition: sel}\ncorrelation: {type: temporal, rules: [logon], timespan: 1m}\n", corrLine - 2, "invalid rule", "not both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conv := newTestConverter(t, "windows-flat")
			results, errs := convertFiles(t, conv, sigmaFile{"test.yml", input + tc.text})
			var ue *UnsupportedError
			for _, err := range errs {
				if e := (*UnsupportedError)(nil); errors.As(err, &e) && e.RuleID == "44444444-0000-4000-8000-000000000009" {
					ue = e
				}
			}
			if len(errs) != 2 || ue == nil {
				t.Fatalf("got errors %v, want the placeholder rule's and one of the correlation", errs)
			}
			if ue.Reason != tc.reason || ue.Line != tc.line || !strings.Contains(ue.Detail, tc.detail) {
				t.Errorf("got %q (reason %q, line %d), want reason %q at line %d saying %q", ue, ue.Reason, ue.Line, tc.reason, tc.line, tc.detail)
			}
			if !strings.HasPrefix(ue.Error(), "test.yml:") || strings.Contains(ue.Error(), "\n") {
				t.Errorf("got message %q, want one line starting with the file", ue)
			}
			if len(results) != 2 {
				t.Errorf("got %d rules converted, want the 2 convertible detection rules", len(results))
			}
		})
	}
}

// TestCorrelationChain checks that a correlation over a correlation reads the group-by the inner one gives its
// alerts, and that asking for another field is an error.
func TestCorrelationChain(t *testing.T) {
	text := detectionRule("55555555-0000-4000-8000-000000000001", "failed") + `---
title: Inner
name: inner
correlation: {type: event_count, rules: [failed], group-by: [TargetUserName, IpAddress], timespan: 5m, condition: {gte: 5}}
---
title: Outer
name: outer
correlation: {type: event_count, rules: [inner], group-by: [%s], timespan: 1h, condition: {gte: 2}}
`
	cases := []struct{ groupBy, wantErr string }{
		{"IpAddress", ""},
		{"Computer", "sigma.inner is a correlation grouped by TargetUserName, IpAddress: its matches carry no field Computer"},
	}
	for _, tc := range cases {
		t.Run(tc.groupBy, func(t *testing.T) {
			conv := newTestConverter(t, "ecs")
			results, errs := convertFiles(t, conv, sigmaFile{"chain.yml", strings.Replace(text, "%s", tc.groupBy, 1)})
			if tc.wantErr != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error saying %q", errs, tc.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			byID, _ := loadConverted(t, conv, results)
			checkCorrelation(t, byID["sigma.outer"], wantCorrelation{typ: rules.EventCount, timespan: "1h", cond: "gte 2",
				rules: []string{"sigma.inner"}, groupBy: []string{"source.ip"}})
		})
	}
}

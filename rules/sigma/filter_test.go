package sigma

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil/rules"
)

// specFilter returns the example of the Sigma filters specification (2.1.0), as the specification writes it.
func specFilter(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(shared(t, "sigma-spec"), "specification", "sigma-filters-specification.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Examples.*?```yaml\n(.*?)```").FindSubmatch(data)
	if m == nil {
		t.Fatal("no yaml example under Examples in the filters specification")
	}
	return string(m[1])
}

// The two rules the example names: a process creation rule (rar.exe) and a logon rule, of another log source.
const filterTestRules = `title: Data Compressed - rar.exe
id: 6f3e2987-db24-4c78-a860-b4f4095a7095
logsource: {category: process_creation, product: windows}
detection:
  selection: {Image|endswith: '\rar.exe'}
  condition: selection
---
title: Login on jump host
id: df0841c0-9846-4e9f-ad8a-7df91571771b
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4624, Computer|startswith: jump}
  condition: selection
---
title: Other process creation
id: 11111111-2222-4333-8444-555555555555
logsource: {category: process_creation, product: windows}
detection:
  selection: {Image|endswith: '\7z.exe'}
  condition: selection
`

// filterSet converts filterTestRules with the filters of text, and loads the rules with the lists the conversion
// wrote, as `vigil run` loads the output of `vigil sigma convert --filters`.
func filterSet(t *testing.T, text string) (*rules.RuleSet, []*Result) {
	t.Helper()
	fs, errs := ParseFilters("mf_test.yml", []byte(text))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	conv := newTestConverter(t, "windows-flat")
	conv.Filters = fs
	parsed, errs := Parse("rules.yml", []byte(filterTestRules))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	results, errs := conv.ConvertAll(parsed)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	data, n, err := conv.FilterLists()
	if err != nil || n != len(fs) {
		t.Fatalf("got %d lists (%v), want %d", n, err, len(fs))
	}
	lists, err := rules.ParseExceptions("sigma_filters.yaml", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	ls, err := rules.NewExceptionLists(lists...)
	if err == nil {
		err = conv.Env.CompileExceptions(ls)
	}
	var rs []*rules.Rule
	for _, res := range results {
		reparsed, perr := rules.Parse(res.Source.File, res.YAML) // the written file, as it is loaded
		if perr != nil {
			t.Fatal(perr)
		}
		rs = append(rs, reparsed...)
	}
	if err == nil {
		err = ls.Apply(rs)
	}
	if err != nil {
		t.Fatal(err)
	}
	set, err := conv.Env.CompileSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	return set, results
}

// TestFilterSpecExample converts the specification's example. As pySigma applies a filter, the rule matches only
// when the filter's condition holds too (`condition: selection` keeps the adm_ accounts' matches; `not selection`
// removes them), and only the rules it names, of its log source, are tuned.
func TestFilterSpecExample(t *testing.T) {
	example := specFilter(t)
	if !strings.Contains(example, "condition: selection") {
		t.Fatalf("the specification's example changed:\n%s", example)
	}
	notSel := strings.Replace(example, "condition: selection", "condition: not selection", 1)
	rar, jump := "sigma.6f3e2987-db24-4c78-a860-b4f4095a7095", "sigma.df0841c0-9846-4e9f-ad8a-7df91571771b"
	sysmon := `{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\rar.exe"`
	security := `{"EventID":4688,"Channel":"Security","NewProcessName":"C:\\rar.exe"`
	cases := []struct {
		filter, event string
		want          bool
	}{
		{example, sysmon + `,"User":"CORP\\adm_jo"}`, false}, // the domain prefix: startswith does not hold
		{example, sysmon + `,"User":"adm_jo"}`, true},
		{example, sysmon + `,"User":"jo"}`, false},
		{example, sysmon + `}`, false}, // no User: the selection is false, so is the rule
		{example, security + `,"User":"adm_jo"}`, true},
		{example, security + `,"User":"jo"}`, false},
		{notSel, sysmon + `,"User":"adm_jo"}`, false},
		{notSel, sysmon + `,"User":"jo"}`, true},
		{notSel, sysmon + `}`, true},
		{notSel, security + `,"User":"adm_jo"}`, false},
	}
	for _, tc := range cases {
		set, results := filterSet(t, tc.filter)
		if got := set.Rule(rar).Match(testEvent(t, tc.event)); got != tc.want {
			t.Errorf("%s: rar rule matches %v, want %v", tc.event, got, tc.want)
		}
		for _, res := range results {
			want := res.Rule.ID == rar
			if got := len(res.Rule.ExceptionsFrom) > 0; got != want {
				t.Errorf("rule %s: filtered %v, want %v (exceptions_from %v)", res.Rule.ID, got, want, res.Rule.ExceptionsFrom)
			}
		}
		if !set.Rule(jump).Match(testEvent(t, `{"EventID":4624,"Channel":"Security","Computer":"jumphost1","User":"jo"}`)) {
			t.Errorf("the logon rule, of another log source, was tuned")
		}
	}
}

// TestFilterAnyAndTenants: `rules: any` tunes every rule of the filter's log source, and a filter with tenants
// (Vigil's extension) only their events.
func TestFilterAnyAndTenants(t *testing.T) {
	set, results := filterSet(t, `title: Filter builds
id: 0e95725d-7320-415d-80f7-004da920fc11
logsource: {category: process_creation, product: windows}
tenants: [acme]
filter:
  rules: any
  build: {ParentImage|endswith: '\msbuild.exe'}
  condition: not build
`)
	filtered := 0
	for _, res := range results {
		if len(res.Rule.ExceptionsFrom) > 0 {
			filtered++
		}
	}
	if filtered != 2 {
		t.Errorf("got %d filtered rules, want the 2 process creation rules", filtered)
	}
	ev := testEvent(t, `{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\7z.exe","ParentImage":"C:\\msbuild.exe"}`)
	other := set.Rule("sigma.11111111-2222-4333-8444-555555555555")
	if ev.Tenant = "acme"; other.Match(ev) {
		t.Errorf("acme's event matches, want it filtered")
	}
	if ev.Tenant = "globex"; !other.Match(ev) {
		t.Errorf("globex's event does not match, want the filter to be acme's only")
	}
}

// TestFilterErrors: documents that are not valid filters are reported with the reason "invalid filter".
func TestFilterErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"no rules", "title: f\nlogsource: {product: windows}\nfilter: {sel: {A: x}, condition: sel}\n", "no rules"},
		{"no logsource", "title: f\nfilter: {rules: any, sel: {A: x}, condition: sel}\n", "missing logsource"},
		{"two conditions", "title: f\nlogsource: {product: windows}\nfilter: {rules: [a], sel: {A: x}, condition: [sel, not sel]}\n", "exactly one condition"},
		{"a rule", "title: r\nlogsource: {product: windows}\ndetection: {sel: {A: x}, condition: sel}\n", "no filter mapping"},
		{"no title", "logsource: {product: windows}\nfilter: {rules: any, sel: {A: x}, condition: sel}\n", "missing title"},
	} {
		_, errs := ParseFilters("mf.yml", []byte(tc.text))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "invalid filter") || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%s: got %v, want one invalid filter error with %q", tc.name, errs, tc.want)
		}
	}
}

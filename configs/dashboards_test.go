// Package configs_test checks the shipped saved objects for Kibana (configs/kibana) and OpenSearch Dashboards
// (configs/opensearch-dashboards) against the alert index template (sinks/es_template.json), without a server:
// every field they use must be mapped explicitly with a type the visualisation can use, and every reference between
// them must resolve. docs/dashboards.md describes the objects.
package configs_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const templatePath = "../sinks/es_template.json"

// dashboardDirs are the directories of saved objects, one per tool; each file in one is imported on its own.
var dashboardDirs = []string{"kibana", "opensearch-dashboards"}

// ndjsonFiles returns the saved object files of dir and their content; a directory without any fails the test.
func ndjsonFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no saved object files in configs/%s (err %v)", dir, err)
	}
	files := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files[n] = b
	}
	return files
}

func templateMapping(t *testing.T) mapping {
	t.Helper()
	m, err := loadMapping(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	if m["@timestamp"] != "date" || m["vigil.alert.reason"] != "text" {
		t.Fatalf("mapping of %s read wrong: @timestamp %q, vigil.alert.reason %q", templatePath, m["@timestamp"], m["vigil.alert.reason"])
	}
	return m
}

// TestSavedObjectsMatchTheTemplate parses every shipped file and reports each field that the index template does
// not map with a usable type and each reference that does not resolve within the file.
func TestSavedObjectsMatchTheTemplate(t *testing.T) {
	m := templateMapping(t)
	for _, dir := range dashboardDirs {
		for name, b := range ndjsonFiles(t, dir) {
			t.Run(name, func(t *testing.T) {
				objs, err := readObjects(name, b)
				if err != nil {
					t.Fatal(err)
				}
				_, errs := check(objs, m)
				for _, e := range errs {
					t.Error(e)
				}
			})
		}
	}
}

// TestDashboardsShowWhatAnalystsAsk checks that each tool's dashboard answers the questions of issue 14: alerts
// over time by tenant, by rule, ATT&CK tactic, host, user and severity, and the open alerts, most severe first.
func TestDashboardsShowWhatAnalystsAsk(t *testing.T) {
	want := []string{
		"@timestamp (date histogram)",
		"organization.id (terms)",
		"rule.name (terms)",
		"threat.tactic.name (terms)",
		"host.name (terms)",
		"user.name (terms)",
		"vigil.alert.severity (terms)",
		"vigil.alert.status (query/filter)",
		"event.severity (sort)",
	}
	m := templateMapping(t)
	for _, dir := range dashboardDirs {
		t.Run(dir, func(t *testing.T) {
			var objs []savedObject
			for name, b := range ndjsonFiles(t, dir) {
				o, err := readObjects(name, b)
				if err != nil {
					t.Fatal(err)
				}
				objs = append(objs, o...)
			}
			uses, _ := check(objs, m)
			got := dashboardFields(objs, uses)["vigil-alerts-overview"]
			if got == nil {
				t.Fatalf("no dashboard vigil-alerts-overview with panels in configs/%s", dir)
			}
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("the dashboard's panels do not use %s; they use %s", w, strings.Join(got, ", "))
				}
			}
			for _, o := range objs {
				if o.Type == "index-pattern" && o.Attributes["title"] != "vigil-alerts*" {
					t.Errorf("%s: title %v, want vigil-alerts*", o, o.Attributes["title"])
				}
			}
		})
	}
}

// TestSavedObjectsCheckFails proves that the check above can fail: each case breaks a shipped file the way an edit
// could (a misspelt field, a text field where a visualisation needs a keyword, a broken id) and expects the check
// to name the problem.
func TestSavedObjectsCheckFails(t *testing.T) {
	m := templateMapping(t)
	cases := []struct {
		name, dir, old, new, want string
	}{
		{"misspelt Lens field", "kibana", `"sourceField":"rule.name"`, `"sourceField":"rule.nmae"`,
			`field "rule.nmae" (terms) is not mapped explicitly`},
		{"Lens terms on a text field", "kibana", `"sourceField":"host.name"`, `"sourceField":"vigil.alert.reason"`,
			`field "vigil.alert.reason" is mapped as text, which a terms cannot use`},
		{"Lens terms on a field only dynamic templates map", "kibana", `"sourceField":"user.name"`, `"sourceField":"process.hash.sha256"`,
			`field "process.hash.sha256" (terms) is not mapped explicitly`},
		{"Lens date histogram on a keyword", "kibana", `"sourceField":"@timestamp"`, `"sourceField":"rule.id"`,
			`field "rule.id" is mapped as keyword, which a date histogram cannot use`},
		{"sort on a text field", "kibana", `["event.severity","desc"]`, `["rule.description","desc"]`,
			`field "rule.description" is mapped as text, which a sort cannot use`},
		{"misspelt column", "kibana", `"columns":["vigil.alert.severity"`, `"columns":["vigil.alert.sevrity"`,
			`field "vigil.alert.sevrity" (column) is not mapped explicitly`},
		{"misspelt filter field", "kibana", `vigil.alert.status`, `vigil.alert.stats`,
			`field "vigil.alert.stats" (query/filter) is not mapped explicitly`},
		{"time field not a date", "kibana", `"timeFieldName":"@timestamp"`, `"timeFieldName":"vigil.alert.id"`,
			`field "vigil.alert.id" is mapped as keyword, which a time field cannot use`},
		{"dashboard panel to a missing object", "kibana", `"type":"lens","id":"vigil-top-users"}`, `"type":"lens","id":"vigil-top-user"}`,
			`lens/vigil-top-user not found`},
		{"data view id changed", "kibana", `{"id":"vigil-alerts","type":"index-pattern"`, `{"id":"vigil","type":"index-pattern"`,
			`index-pattern/vigil-alerts not found`},
		{"Lens layer without its data view reference", "kibana", `"name":"indexpattern-datasource-layer-alerts"`, `"name":"indexpattern-datasource-layer-other"`,
			`no reference named "indexpattern-datasource-layer-alerts"`},
		{"panel whose reference name is missing", "kibana", `\"panelRefName\":\"panel_7\"`, `\"panelRefName\":\"panel_9\"`,
			`panel 7: no reference named "panel_9"`},
		{"panel whose type is not its reference's", "kibana", `\"type\":\"search\"`, `\"type\":\"lens\"`,
			`reference "7:panel_7" is a search, want lens`},
		{"terms aggregation on a text field", "opensearch-dashboards", `\"field\":\"user.name\"`, `\"field\":\"rule.description\"`,
			`field "rule.description" is mapped as text, which a terms cannot use`},
		{"misspelt aggregation field", "opensearch-dashboards", `\"field\":\"threat.tactic.name\"`, `\"field\":\"threat.tactics.name\"`,
			`field "threat.tactics.name" (terms) is not mapped explicitly`},
		{"date histogram on a keyword", "opensearch-dashboards", `\"field\":\"@timestamp\"`, `\"field\":\"organization.id\"`,
			`field "organization.id" is mapped as keyword, which a date histogram cannot use`},
		{"terms on an object", "opensearch-dashboards", `\"field\":\"host.name\"`, `\"field\":\"vigil.asset\"`,
			`field "vigil.asset" (terms) is an object`},
		{"dashboard panel to a missing visualization", "opensearch-dashboards", `"type":"visualization","id":"vigil-severity"}`, `"type":"visualization","id":"vigil-sev"}`,
			`visualization/vigil-sev not found`},
		{"search without its data view reference", "opensearch-dashboards", `{"name":"kibanaSavedObjectMeta.searchSourceJSON.index","type":"index-pattern","id":"vigil-alerts"}]`, `]`,
			`no reference named "kibanaSavedObjectMeta.searchSourceJSON.index"`},
	}
	for _, c := range cases {
		t.Run(c.dir+"/"+c.name, func(t *testing.T) {
			for name, b := range ndjsonFiles(t, c.dir) {
				if !strings.Contains(string(b), c.old) {
					t.Fatalf("%s no longer contains %s: update this case", name, c.old)
				}
				objs, err := readObjects(name, []byte(strings.ReplaceAll(string(b), c.old, c.new)))
				if err != nil {
					t.Fatal(err)
				}
				_, errs := check(objs, m)
				var got []string
				for _, e := range errs {
					got = append(got, e.Error())
				}
				if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, c.want) }) {
					t.Errorf("got errors %q, want one containing %q", got, c.want)
				}
			}
		})
	}
}

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runVigil(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// quickstartConfig writes configs/quickstart.yaml with its paths made absolute and its outputs in a temporary folder,
// and returns the config's path and the alert file's.
func quickstartConfig(t *testing.T) (config, alerts string) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "configs", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	alerts = filepath.Join(dir, "alerts.jsonl")
	text := strings.ReplaceAll(string(data), "configs/", root+"/configs/")
	text = strings.Replace(text, "path: alerts.jsonl", "path: "+alerts, 1)
	text = strings.Replace(text, "path: deadletters.jsonl", "path: "+filepath.Join(dir, "deadletters.jsonl"), 1)
	config = filepath.Join(dir, "quickstart.yaml")
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return config, alerts
}

// TestQuickstartAlertsCarryContext is the definition of done: the quickstart's alerts show geo, ASN, asset
// and indicator context, and the shipped lookup rules fire.
func TestQuickstartAlertsCarryContext(t *testing.T) {
	config, alertsPath := quickstartConfig(t)
	if code, _, stderr := runVigil(t, "run", "-c", config, "--log-level", "warn"); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	f, err := os.Open(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]int{}
	rulesFired := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var a struct {
			Rule   struct{ ID string }            `json:"rule"`
			Source struct{ Geo, As any }          `json:"source"`
			Dest   struct{ Geo, As any }          `json:"destination"`
			Threat struct{ Enrichments []any }    `json:"threat"`
			Vigil  struct{ Asset map[string]any } `json:"vigil"`
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		rulesFired[a.Rule.ID] = true
		if a.Source.Geo != nil || a.Dest.Geo != nil {
			seen["geo"]++
		}
		if a.Source.As != nil || a.Dest.As != nil {
			seen["as"]++
		}
		if len(a.Vigil.Asset) > 0 {
			seen["asset"]++
		}
		if len(a.Threat.Enrichments) > 0 {
			seen["threat.enrichments"]++
		}
	}
	for _, k := range []string{"geo", "as", "asset", "threat.enrichments"} {
		if seen[k] == 0 {
			t.Errorf("no alert carries %s context", k)
		}
	}
	for _, id := range []string{"vigil.intel.connection_known_bad_address", "vigil.intel.dns_query_known_bad_domain",
		"vigil.intel.known_bad_file_hash", "vigil.intel.critical_asset_logon_from_abroad"} {
		if !rulesFired[id] {
			t.Errorf("rule %s did not fire on the samples", id)
		}
	}
}

// TestShippedRuleTestsWithTables runs every shipped rule's inline tests with the quickstart's tables, as
// `vigil rules test --enrich configs/quickstart.yaml configs/rules configs/rules-intel` does.
func TestShippedRuleTestsWithTables(t *testing.T) {
	config, _ := quickstartConfig(t)
	code, stdout, stderr := runVigil(t, "rules", "test", "--enrich", config, filepath.Join("..", "..", "configs", "rules"),
		filepath.Join("..", "..", "configs", "rules-intel"))
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "vigil.intel.") {
		t.Errorf("got\n%s\nwant the intel rules' tests", stdout)
	}
}

func TestRulesTestWithoutTablesExplainsLookups(t *testing.T) {
	code, stdout, _ := runVigil(t, "rules", "test", filepath.Join("..", "..", "configs", "rules-intel"))
	if code != 1 || !strings.Contains(stdout, "add --enrich CONFIG") {
		t.Errorf("got exit %d and\n%s\nwant failures that name --enrich", code, stdout)
	}
}

func TestLoadEnrichConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inv := write("assets.csv", "asset,owner\n10.0.0.0/8,it\n")
	tests := []struct {
		name, text, wantErr string
	}{
		{"only the enrich block is read", "rules: {paths: [x]}\nsinks: [{type: nowhere}]\nenrich:\n  assets: {files: [" + inv + "]}\n", ""},
		{"no enrich block", "rules: {paths: [x]}\n", ""},
		{"unknown key inside enrich", "enrich:\n  asets: {files: [" + inv + "]}\n", "field asets not found"},
		{"invalid value", "enrich:\n  geoip: {city: x.csv}\n", "enrich.geoip.city"},
		{"missing file", "enrich:\n  threat_intel: {files: [" + filepath.Join(dir, "nope.txt") + "]}\n", "nope.txt"},
		{"bad file", "enrich:\n  assets: {files: [" + write("bad.csv", "asset,criticality\nx,urgent\n") + "]}\n", "bad.csv:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadEnrichConfig(write("c.yaml", tt.text))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// linux2k returns loghub's Linux_2k.log in the shared test data (../shared/testdata beside the repository; origin and
// licence in its SOURCE.md), or skips the test when it is absent.
func linux2k(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs("../../../shared/testdata/loghub/Linux/Linux_2k.log")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared test data absent (%v): skipping the real-data test", err)
	}
	return path
}

func TestParseCommand(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "in.log")
	writeTestFile(t, input, "<38>Mar  1 10:00:00 bastion sshd[811]: Failed password for root from 45.155.205.12 port 52211 ssh2\n\nnot syslog\n")
	code, stdout, stderr := runVigil(t, "parse", "--format", "syslog", "--parsers", "../../configs/parsers/linux.yml", input)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d documents, want 2 (the blank line is no record): %s", len(lines), stdout)
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if got := first["source"].(map[string]any)["ip"]; got != "45.155.205.12" {
		t.Errorf("source.ip: got %v, want 45.155.205.12", got)
	}
	if got := second["vigil"]; !strings.Contains(jsonString(t, got), `"failed":"syslog"`) {
		t.Errorf("second line: got vigil %v, want parse.failed syslog", got)
	}
	if code, _, stderr := runVigil(t, "parse", "--format", "xml", input); code != 2 || !strings.Contains(stderr, `format "xml"`) {
		t.Errorf("unknown format: got exit %d, %q; want 2 and the reason", code, stderr)
	}
}

func jsonString(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Replaying the real Linux_2k.log as raw syslog with the shipped parsers raises the starter pack's brute-force alerts
// with the attackers' addresses and the accounts tried. The expectations come from the file itself: 150.183.249.110
// and 207.243.167.114 are the only public addresses with 20 sshd(pam_unix) failures within ten minutes (grep
// 'rhost=ADDR' Linux_2k.log), and root and guest are the accounts failing that often.
func TestReplayLinux2k(t *testing.T) {
	input := linux2k(t)
	output := filepath.Join(t.TempDir(), "alerts.jsonl")
	code, _, stderr := runVigil(t, "replay", "--rules", "../../configs/rules", "--input", input, "--output", output,
		"--format", "syslog", "--parsers", "../../configs/parsers/linux.yml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "300  vigil.linux.ssh_auth_failure_external") {
		t.Errorf("got summary %s, want 300 matches of vigil.linux.ssh_auth_failure_external", stderr)
	}
	data, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	byRule := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var doc struct {
			Rule   struct{ ID string }   `json:"rule"`
			Source struct{ IP string }   `json:"source"`
			User   struct{ Name string } `json:"user"`
		}
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatal(err)
		}
		byRule[doc.Rule.ID] = append(byRule[doc.Rule.ID], doc.Source.IP+doc.User.Name)
	}
	for id, want := range map[string][]string{
		"vigil.auth.bruteforce_source":  {"150.183.249.110", "207.243.167.114"},
		"vigil.auth.bruteforce_account": {"guest", "root"},
	} {
		got := slices.Compact(slices.Sorted(slices.Values(byRule[id])))
		if !slices.Equal(got, want) {
			t.Errorf("%s: got alerts for %v, want %v", id, got, want)
		}
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestSigmaConvert(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "win"), 0o755)
	os.WriteFile(filepath.Join(src, "win", "ok.yml"), []byte(`title: Whoami
id: 5a0e2c1b-7f4d-4e7a-9a51-0c8d2f6b1e01
author: Jane Doe
logsource: {category: process_creation, product: windows}
detection:
  selection: {Image|endswith: '\whoami.exe'}
  condition: selection
level: medium
`), 0o644)
	os.WriteFile(filepath.Join(src, "placeholder.yml"), []byte(`title: Placeholder
id: 5a0e2c1b-7f4d-4e7a-9a51-0c8d2f6b1e02
logsource: {product: windows, service: security}
detection:
  selection: {User|expand: '%admins%'}
  condition: selection
`), 0o644)
	os.WriteFile(filepath.Join(src, "linux.yml"), []byte(`title: Linux
id: 5a0e2c1b-7f4d-4e7a-9a51-0c8d2f6b1e03
logsource: {product: linux, service: auth}
detection:
  keywords: [sudo]
  condition: keywords
`), 0o644)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCmd(t, "sigma", "convert", "--out", out, src)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "converted 2 rules (1 of them disabled), 1 unsupported") || !strings.Contains(stdout, "1 placeholder") {
		t.Errorf("summary: got\n%s", stdout)
	}
	wantLine := filepath.Join(src, "placeholder.yml") + ":5: rule 5a0e2c1b-7f4d-4e7a-9a51-0c8d2f6b1e02: placeholder: "
	if !strings.Contains(stderr, "unsupported: "+wantLine) {
		t.Errorf("stderr: got\n%s\nwant a line starting %q", stderr, wantLine)
	}
	if strings.Contains(stderr, "note:") || !strings.Contains(stdout, "notes, by reason (--verbose lists them all):\n"+
		"      1 log source not mapped by profile windows-flat: converted without a guard, disabled\n"+
		"        e.g. sigma.5a0e2c1b-7f4d-4e7a-9a51-0c8d2f6b1e03 (product=linux service=auth)\n") {
		t.Errorf("got stdout\n%s\nstderr\n%s\nwant the notes counted by reason with an example, and no note per rule", stdout, stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "win", "ok.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "author: Jane Doe") || !strings.Contains(string(data), `Image.iendsWith("\\whoami.exe")`) {
		t.Errorf("converted file:\n%s", data)
	}
	if code, stdout, stderr := runCmd(t, "rules", "validate", out); code != 0 {
		t.Errorf("rules validate of the converted files: exit %d\n%s%s", code, stdout, stderr)
	}

	// --verbose: each note on its own line, with its file and rule.
	if code, _, stderr := runCmd(t, "sigma", "convert", "--verbose", "--out", filepath.Join(dir, "verbose"), src); code != 0 ||
		!strings.Contains(stderr, "note: "+filepath.Join(src, "linux.yml")+": rule 5a0e2c1b-7f4d-4e7a-9a51-0c8d2f6b1e03: "+
			"log source product=linux service=auth is not mapped by profile windows-flat: converted without a guard, disabled\n") {
		t.Errorf("--verbose: got exit %d, stderr\n%s\nwant the note of the Linux rule", code, stderr)
	}

	// With placeholder values and to stdout: every rule converts, stdout is one rule file.
	ph := filepath.Join(dir, "ph.yml")
	os.WriteFile(ph, []byte("admins: [root, admin]\n"), 0o644)
	code, stdout, stderr = runCmd(t, "sigma", "convert", "--placeholders", ph, src)
	if code != 0 || strings.Count(stdout, "\nid: sigma.") != 3 || !strings.Contains(stderr, "converted 3 rules") {
		t.Errorf("to stdout: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestSigmaTest(t *testing.T) {
	code, stdout, _ := runCmd(t, "sigma", "test", "--root", filepath.Join("..", "..", "rules", "sigma", "testdata", "repo"))
	if code != 0 || !strings.Contains(stdout, "ok   ") || !strings.Contains(stdout, "5a0e2c1b-7f4d-4e7a-9a51-0c8d2f6b1e01: 2 of 4 events matched") ||
		!strings.Contains(stdout, "1 passed, 0 failed (1 rules name regression data that is not under") ||
		!strings.Contains(stdout, "; 1 correlation rules skipped: they have no regression data)") {
		t.Errorf("passing root: exit %d, output:\n%s", code, stdout)
	}
	code, stdout, _ = runCmd(t, "sigma", "test", "--root", filepath.Join("..", "..", "rules", "sigma", "testdata", "failing"))
	if code != 1 || !strings.Contains(stdout, "FAIL ") || !strings.Contains(stdout, "0 of 1 events matched, want at least 1") ||
		!strings.Contains(stdout, "0 passed, 1 failed") {
		t.Errorf("failing root: exit %d, output:\n%s", code, stdout)
	}
	if code, _, _ := runCmd(t, "sigma", "test"); code != 2 {
		t.Errorf("no --root: got exit %d, want 2", code)
	}
}

// TestSigmaConvertCorrelations converts correlation rules whose rules are in other files: names resolve across every
// file of the run, each correlation is written with its Sigma file's rules, and the output validates as a whole.
func TestSigmaConvertCorrelations(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "logins"), 0o755)
	files := map[string]string{
		"logins/failed.yml": `title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource: {product: windows, service: security}
detection: {selection: {EventID: [529, 4625]}, condition: selection}
`,
		"logins/success.yml": `title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
name: successful_login
logsource: {product: windows, service: security}
detection: {selection: {EventID: [528, 4624]}, condition: selection}
`,
		"mr_brute_force.yml": `title: Multiple failed logins followed by a successful login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
level: high
correlation:
    type: temporal_ordered
    rules: [multiple_failed_login, successful_login]
    group-by: [User]
    timespan: 10m
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
name: multiple_failed_login
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [User]
    timespan: 10m
    condition: {gte: 10}
`,
		"mr_typo.yml": `title: Typo
id: 0e95725d-7320-415d-80f7-004da920fc11
correlation:
    type: event_count
    rules:
        - failed_logins
    group-by: [User]
    timespan: 1h
    condition: {gte: 100}
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCmd(t, "sigma", "convert", "--out", out, src)
	if code != 0 || !strings.Contains(stdout, "converted 4 rules (0 of them disabled, 2 correlations), 1 unsupported") ||
		!strings.Contains(stdout, "1 unknown rule") {
		t.Errorf("exit %d, summary:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	wantErr := "unsupported: " + filepath.Join(src, "mr_typo.yml") + `:6: rule 0e95725d-7320-415d-80f7-004da920fc11: unknown rule: correlation names "failed_logins"`
	if !strings.Contains(stderr, wantErr) {
		t.Errorf("stderr: got\n%s\nwant a line starting %q", stderr, wantErr)
	}
	data, err := os.ReadFile(filepath.Join(out, "mr_brute_force.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"id: sigma.b180ead8-d58f-40b2-ae54-c8940995b9b6", "- sigma.a8418a5a-5fc4-46b5-b23b-6c73beb19d41 # multiple_failed_login",
		"- sigma.4d0a2c83-c62c-4ed4-b475-c7e23a9269b8 # successful_login", "\n---\n", "- sigma.53ba33fd-3a50-4468-a5ef-c583635cfa92 # failed_login"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("converted mr_brute_force.yml:\n%s\nwant it to contain %q", data, want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "mr_typo.yml")); err == nil {
		t.Errorf("mr_typo.yml was written, want no file for a Sigma file without converted rules")
	}
	if code, stdout, stderr := runCmd(t, "rules", "validate", out); code != 0 {
		t.Errorf("rules validate of the converted files: exit %d\n%s%s", code, stdout, stderr)
	}

	// To stdout, one rule file: the correlations follow their names across the files as well.
	code, stdout, stderr = runCmd(t, "sigma", "convert", filepath.Join(src, "mr_brute_force.yml"), filepath.Join(src, "logins"))
	if code != 0 || strings.Count(stdout, "\ncorrelation:\n") != 2 || !strings.Contains(stderr, "converted 4 rules (0 of them disabled, 2 correlations), 0 unsupported") {
		t.Errorf("to stdout: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	all := filepath.Join(dir, "all.yml")
	os.WriteFile(all, []byte(stdout), 0o644)
	if code, stdout, stderr := runCmd(t, "rules", "validate", all); code != 0 {
		t.Errorf("rules validate of stdout: exit %d\n%s%s", code, stdout, stderr)
	}
}

// vigil sigma convert --filters: the filter becomes an exception list beside the output folder, the rule names it,
// and vigil replay --rules OUT loads both: the filtered event raises no alert, the other does.
func TestSigmaConvertFilters(t *testing.T) {
	dir := t.TempDir()
	src, filters := filepath.Join(dir, "src"), filepath.Join(dir, "filters")
	os.MkdirAll(src, 0o755)
	os.MkdirAll(filters, 0o755)
	os.WriteFile(filepath.Join(src, "rar.yml"), []byte(`title: Data Compressed - rar.exe
id: 6f3e2987-db24-4c78-a860-b4f4095a7095
logsource: {category: process_creation, product: windows}
detection:
  selection: {Image|endswith: '\rar.exe'}
  condition: selection
`), 0o644)
	os.WriteFile(filepath.Join(filters, "mf_admins.yml"), []byte(`title: Filter Administrator account
description: The valid administrator account start with adm_
logsource: {category: process_creation, product: windows}
filter:
  rules: [6f3e2987-db24-4c78-a860-b4f4095a7095]
  selection: {User|startswith: 'adm_'}
  condition: not selection
`), 0o644)
	os.WriteFile(filepath.Join(filters, "mf_bad.yml"), []byte("title: no rules\nlogsource: {product: windows}\nfilter: {sel: {A: x}, condition: sel}\n"), 0o644)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCmd(t, "sigma", "convert", "--out", out, "--filters", filters, src)
	lists := filepath.Join(dir, "exceptions", "sigma_filters.yaml")
	if code != 0 || !strings.Contains(stdout, "filters: 1 of 1 converted into exception lists in "+lists+" (1 rules name one), 1 unsupported") ||
		!strings.Contains(stderr, "invalid filter") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	events := filepath.Join(dir, "events.jsonl")
	os.WriteFile(filepath.Join(events), []byte(
		`{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\rar.exe","User":"adm_jo"}`+"\n"+
			`{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\rar.exe","User":"jo"}`+"\n"), 0o644)
	alerts := filepath.Join(dir, "alerts.jsonl")
	if code, _, stderr := runCmd(t, "replay", "--rules", out, "--input", events, "--output", alerts); code != 0 {
		t.Fatalf("replay: exit %d: %s", code, stderr)
	}
	data, _ := os.ReadFile(alerts)
	if n := strings.Count(string(data), "\n"); n != 1 || !strings.Contains(string(data), `"jo"`) {
		t.Errorf("got %d alerts, want 1, for user jo:\n%s", n, data)
	}
	if code, _, stderr := runCmd(t, "sigma", "convert", "--filters", filters, src); code != 2 || !strings.Contains(stderr, "--filters needs --out") {
		t.Errorf("without --out: exit %d, %s; want 2 and a usage error", code, stderr)
	}
}

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
	if !strings.Contains(stderr, "product=linux service=auth is not mapped") {
		t.Errorf("stderr: got\n%s\nwant a note about the unmapped log source", stderr)
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
		!strings.Contains(stdout, "1 passed, 0 failed (1 rules name regression data that is not under") {
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

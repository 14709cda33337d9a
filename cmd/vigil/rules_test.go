package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// typoRule reads proccess.name: it loads, and never fires.
const typoRule = `id: vigil.test.typo
name: Typo
severity: high
mitre_attack:
  - {tactic: TA0002, technique: T1059, subtechnique: T1059.001}
condition: |
  event.category == "process"
    && proccess.name == "powershell.exe"
tests:
  - name: never fires, the field is misspelt
    event: {event: {category: process}, process: {name: powershell.exe}}
    expect: no_match
`

// TestRulesValidateWarnsAboutUnknownFields: a field no known schema has is a warning with its place and the closest
// known name; it does not change the exit code unless --strict, and a schema file makes it known.
func TestRulesValidateWarnsAboutUnknownFields(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "typo.yml")
	os.WriteFile(file, []byte(typoRule), 0o644)
	warning := file + `:8:8: warning: rule vigil.test.typo: field "proccess.name" is in no known schema (did you mean "process.name"?)` + "\n"

	code, stdout, stderr := runCmd(t, "rules", "validate", file)
	if code != 0 || stderr != warning+"1 warning(s)\n" || !strings.HasPrefix(stdout, "ok: 1 rules") {
		t.Errorf("validate: got exit %d, stdout %q, stderr %q; want 0, ok and the warning", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, "rules", "validate", "--strict", file)
	if code != 1 || stderr != strings.Replace(warning, "warning: ", "", 1)+"1 error(s)\n" || stdout != "" {
		t.Errorf("validate --strict: got exit %d, stdout %q, stderr %q; want 1 and the warning as an error", code, stdout, stderr)
	}
	code, _, stderr = runCmd(t, "rules", "test", file)
	if code != 0 || !strings.Contains(stderr, warning) {
		t.Errorf("test: got exit %d, stderr %q; want 0 and the warning", code, stderr)
	}
	if code, _, _ = runCmd(t, "rules", "test", "--strict", file); code != 1 {
		t.Errorf("test --strict: got exit %d, want 1", code)
	}

	schema := filepath.Join(dir, "schema.txt")
	os.WriteFile(schema, []byte("proccess.*   # our shipper's spelling\n"), 0o644)
	if code, _, stderr = runCmd(t, "rules", "validate", "--strict", "--schema", schema, file); code != 0 || stderr != "" {
		t.Errorf("validate --schema: got exit %d, stderr %q; want 0 and no warning", code, stderr)
	}
	if code, _, stderr = runCmd(t, "rules", "validate", "--schema", filepath.Join(dir, "none.txt"), file); code != 1 ||
		!strings.Contains(stderr, "none.txt") {
		t.Errorf("validate --schema with a missing file: got exit %d, stderr %q; want 1 and the file", code, stderr)
	}
}

// TestStarterPackValidatesClean: the shipped rules read only fields a known schema or their own tests have, and
// name only known ATT&CK ids.
func TestStarterPackValidatesClean(t *testing.T) {
	code, stdout, stderr := runCmd(t, "rules", "validate", "--strict", filepath.Join("..", "..", "configs", "rules"),
		filepath.Join("..", "..", "configs", "rules-intel"))
	if code != 0 || stderr != "" {
		t.Errorf("got exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}

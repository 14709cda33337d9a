package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil/rules"
)

const testRule = "id: t.one\nname: one\nseverity: low\ncondition: event.action == \"x\"\n"

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBuildEncodeCompile: a folder of rules with its exception lists beside it becomes a bundle that survives the
// record encoding and compiles to the same rules; the same files give the same version.
func TestBuildEncodeCompile(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"rules/auth/one.yaml": testRule + "exceptions_from: [known]\n",
		"rules/two.yml":       strings.ReplaceAll(testRule, "t.one", "t.two"),
		"rules/.hidden.yaml":  "not: a rule",
		"rules/notes.txt":     "ignored",
		"exceptions/l.yaml":   "name: known\nentries:\n  - {field: user.name, values: [svc]}\n",
	})
	b, err := Build([]string{filepath.Join(dir, "rules")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range b.Files {
		paths = append(paths, f.Path)
	}
	want := "exceptions/exceptions/l.yaml rules/rules/auth/one.yaml rules/rules/two.yml"
	if got := strings.Join(paths, " "); got != want {
		t.Fatalf("files: got %s, want %s", got, want)
	}
	again, err := Build([]string{filepath.Join(dir, "rules")}, nil)
	if err != nil || again.Version != b.Version || len(b.Version) != 12 {
		t.Fatalf("version: got %s and %s (%v), want the same 12 digits", b.Version, again.Version, err)
	}
	value, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(value)
	if err != nil || got.Version != b.Version || len(got.Files) != 3 {
		t.Fatalf("decode: got %+v, %v", got, err)
	}
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	set, err := got.Compile(env)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules()) != 2 || set.Rule("t.one") == nil || len(set.Rule("t.one").Rule.Lists()) != 1 {
		t.Fatalf("compiled: got %d rules, want t.one (with its exception list) and t.two", len(set.Rules()))
	}
}

func TestDecodeRejectsTampering(t *testing.T) {
	b := &Bundle{Files: []File{{Path: "rules/a.yaml", Data: testRule}}}
	b.Seal()
	b.Files[0].Data = strings.ReplaceAll(testRule, "x", "y")
	value, _ := b.Encode()
	if _, err := Decode(value); err == nil || !strings.Contains(err.Error(), "does not match its hash") {
		t.Fatalf("got %v, want a hash mismatch", err)
	}
	if _, err := Decode([]byte("not gzip")); err == nil {
		t.Fatal("got no error for a record that is not a bundle")
	}
}

// TestCompileErrorsNameBundleFiles: a bundle that does not compile says which file of the bundle, not which
// temporary file.
func TestCompileErrorsNameBundleFiles(t *testing.T) {
	b := &Bundle{Files: []File{{Path: "rules/bad.yaml", Data: "id: t.bad\nname: b\nseverity: low\ncondition: event.x ==\n"}}}
	b.Seal()
	env, _ := rules.NewEnv()
	_, err := b.Compile(env)
	if err == nil || !strings.Contains(err.Error(), "bundle "+b.Version+":rules/bad.yaml") || strings.Contains(err.Error(), os.TempDir()) {
		t.Fatalf("got %v, want an error naming rules/bad.yaml of the bundle", err)
	}
}

func TestMaterializeStaysInside(t *testing.T) {
	b := &Bundle{Files: []File{{Path: "rules/../../escape.yaml", Data: testRule}}}
	if _, _, err := b.Materialize(t.TempDir()); err == nil {
		t.Fatal("got no error for a file outside rules/ and exceptions/")
	}
}

func TestBuildNeedsRules(t *testing.T) {
	dir := writeTree(t, map[string]string{"rules/readme.txt": "x"})
	if _, err := Build([]string{filepath.Join(dir, "rules")}, nil); err == nil {
		t.Fatal("got no error for a bundle without rule files")
	}
}

func TestLatestPerKey(t *testing.T) {
	ds := []Deployed{{Offset: 0, Key: "a"}, {Offset: 1, Key: "b"}, {Offset: 2, Key: "a"}, {Offset: 3, Key: "c"}}
	got := latestPerKey(ds)
	var keys []string
	for _, d := range got {
		keys = append(keys, d.Key)
	}
	if strings.Join(keys, "") != "bac" {
		t.Fatalf("got %v, want b a c", keys)
	}
}

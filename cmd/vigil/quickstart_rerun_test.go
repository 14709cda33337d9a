package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickstartRerun runs configs/quickstart.yaml twice, as a user trying it out does: the second run's alert file
// holds the same lines as the first (truncate: true), not a second copy of every alert.
func TestQuickstartRerun(t *testing.T) {
	root, _ := filepath.Abs("../..")
	cfg, err := os.ReadFile(filepath.Join(root, "configs/quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	alertsPath := filepath.Join(dir, "alerts.jsonl")
	cfg = bytes.Replace(cfg, []byte("path: alerts.jsonl"), []byte("path: "+alertsPath), 1)
	cfg = bytes.Replace(cfg, []byte("path: deadletters.jsonl"), []byte("path: "+filepath.Join(dir, "dl.jsonl")), 1)
	cfgPath := filepath.Join(dir, "quickstart.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	for i := range 2 {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"run", "-c", cfgPath}, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("run %d exited %d: %s", i+1, code, stderr.String())
		}
	}
	// A growing alert (a correlation's, or a suppressing rule's) is written once per version, and how many versions
	// depends on batching; every other alert is written once per run.
	data, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	seen, twice := map[string]int{}, 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var doc struct {
			Vigil struct {
				Alert       struct{ ID string }
				Correlation any
				Suppression any
			}
		}
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if doc.Vigil.Correlation == nil && doc.Vigil.Suppression == nil {
			if seen[doc.Vigil.Alert.ID]++; seen[doc.Vigil.Alert.ID] == 2 {
				twice++
			}
		}
	}
	if len(seen) == 0 || twice > 0 {
		t.Errorf("after two runs: %d alerts, %d of them twice in the file; want each once", len(seen), twice)
	}
}

// TestFileSinkTruncateConfig: truncate is refused where it would lose alerts (a Kafka source resumes after its
// commits) or means nothing (standard output).
func TestFileSinkTruncateConfig(t *testing.T) {
	kafka := `{name: partners, type: kafka, kafka: {brokers: ["k:9092"], topics: [{name: t, tenant: acme}]}}`
	file := `{type: file, file: {paths: [x.jsonl], tenant: acme}}`
	tests := []struct{ source, sink, want string }{
		{file, `{type: file, file: {path: a.jsonl, truncate: true}}`, ""},
		{file, `{type: file, file: {path: "-", truncate: true}}`, "standard output cannot be truncated"},
		{kafka, `{type: file, file: {path: a.jsonl, truncate: true}}`, "file.truncate with the Kafka source partners"},
		{kafka, `{type: file, file: {path: a.jsonl}}`, ""},
	}
	for _, tc := range tests {
		path := filepath.Join(t.TempDir(), "c.yaml")
		text := "rules: {paths: [r]}\nsources: [" + tc.source + "]\nsinks: [" + tc.sink + "]\n"
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s with %s: got %v, want no error", tc.sink, tc.source, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s with %s: got %v, want an error containing %q", tc.sink, tc.source, err, tc.want)
		}
	}
}

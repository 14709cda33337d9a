package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil/rules"
)

// TestQuickstart runs `vigil run -c configs/quickstart.yaml` as the README says, with its outputs moved to a
// temporary folder, and checks what a user would look for: every shipped rule fires on the attack samples, the benign
// samples raise nothing, nothing is dead-lettered, and the alerts carry enrichment context.
func TestQuickstart(t *testing.T) {
	root, _ := filepath.Abs("../..")
	cfg, err := os.ReadFile(filepath.Join(root, "configs/quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	alertsPath, deadPath := filepath.Join(dir, "alerts.jsonl"), filepath.Join(dir, "deadletters.jsonl")
	cfg = bytes.Replace(cfg, []byte("path: alerts.jsonl"), []byte("path: "+alertsPath), 1)
	cfg = bytes.Replace(cfg, []byte("path: deadletters.jsonl"), []byte("path: "+deadPath), 1)
	cfgPath := filepath.Join(dir, "quickstart.yaml")
	os.WriteFile(cfgPath, cfg, 0o600)
	t.Chdir(root)

	var stdout, stderr bytes.Buffer
	if code := run([]string{"run", "-c", cfgPath}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("vigil run exited %d: %s", code, stderr.String())
	}
	shipped, err := rules.Load("configs/rules", "configs/rules-intel")
	if err != nil {
		t.Fatal(err)
	}
	fired := map[string]int{}
	enriched := map[string]bool{}
	f, err := os.Open(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		id := doc["rule"].(map[string]any)["id"].(string)
		fired[id]++
		origin := doc["vigil"].(map[string]any)["alert"].(map[string]any)["origin"].(map[string]any)
		if file := origin["file"].(string); strings.Contains(file, "benign") {
			t.Errorf("rule %s fired on benign sample %s:%v", id, file, origin["line"])
		}
		for _, k := range []string{"source.geo", "source.as", "threat.enrichments", "vigil.asset"} {
			parts := strings.Split(k, ".")
			if v, ok := doc[parts[0]].(map[string]any); ok && v[parts[1]] != nil {
				enriched[k] = true
			}
		}
	}
	for _, r := range shipped {
		if r.IsEnabled() && fired[r.ID] == 0 {
			t.Errorf("shipped rule %s (%s) raised no alert on the samples", r.ID, r.Source)
		}
	}
	for _, k := range []string{"source.geo", "source.as", "threat.enrichments", "vigil.asset"} {
		if !enriched[k] {
			t.Errorf("no quickstart alert carries %s", k)
		}
	}
	if data, _ := os.ReadFile(deadPath); len(data) > 0 {
		t.Errorf("the samples produced dead letters:\n%s", data)
	}
	total := 0
	for _, n := range fired {
		total += n
	}
	if lines := strings.Count(stdout.String(), "\n"); lines != total {
		t.Errorf("got %d summary lines on stdout, want one per alert (%d)", lines, total)
	}
}

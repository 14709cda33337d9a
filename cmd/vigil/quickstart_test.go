package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil/rules"
)

// quickstartCorrelation is a correlation alert the quickstart must raise: the last version of the rule's alert for
// this group has this count and (for value_* types) value.
type quickstartCorrelation struct {
	count int64
	group map[string]any
	value float64
}

// quickstartCorrelations are the correlation alerts of the intrusion story in configs/samples/attacks.jsonl, and the
// only ones: the benign samples, read first, raise none. The key is the rule id, with "/" and a tag after it when the
// rule raises several.
var quickstartCorrelations = map[string]quickstartCorrelation{
	// 22 Nov: 12 SSH account names from one address in half a minute.
	"vigil.auth.password_spray/45.155.205.12": {12, map[string]any{"source.ip": "45.155.205.12"}, 12},
	// 23 Nov: 10 RDP account names, then 16 guesses for j.morales (26 failures, 10 accounts), then j.morales logs on.
	"vigil.auth.password_spray/185.220.101.34": {26, map[string]any{"source.ip": "185.220.101.34"}, 10},
	"vigil.auth.bruteforce_source":             {26, map[string]any{"source.ip": "185.220.101.34"}, 0},
	"vigil.auth.bruteforce_account":            {17, map[string]any{"user.name": "j.morales"}, 0},
	"vigil.auth.bruteforce_then_success":       {2, map[string]any{"user.name": "j.morales"}, 0},
	// 24 Nov: support_tmp sweeps 11 hosts over SMB from SRV-FILE02.
	"vigil.auth.logon_many_hosts": {11, map[string]any{"user.name": "support_tmp"}, 11},
	// 24 Nov: the updsvc service on SRV-SQL01 calls its C2 server.
	"vigil.windows.service_then_outbound_connection": {2, map[string]any{"host.name": "SRV-SQL01",
		"process.executable": `C:\ProgramData\upd\updsvc.exe`}, 0},
	// 25 Nov: rclone sends 1.6 GB from SRV-FILE02 to Borduria; then shadow copies, recovery and logs go.
	"vigil.network.large_upload":           {7, map[string]any{"destination.ip": "192.0.2.80"}, 1626004480},
	"vigil.windows.ransomware_preparation": {7, map[string]any{"host.name": "SRV-FILE02"}, 0},
	// 25 Nov: web-prod-02 scans db-prod-01 (34 refused ports), then its agent is stopped.
	"vigil.network.port_scan":       {34, map[string]any{"source.ip": "172.18.4.22"}, 34},
	"vigil.monitoring.agent_silent": {1, map[string]any{"host.name": "web-prod-02"}, 0},
	// 26 Nov: r.patel signs in to AWS from Freedonia, then from Ruritania 21 minutes later.
	"vigil.intel.impossible_travel": {2, map[string]any{"user.name": "r.patel"}, 2},
}

// quickstartInputs are shipped rules that used to raise an alert per event and are now correlation inputs only.
var quickstartInputs = []string{
	// One alert per failed logon from the internet: the brute-force and spray correlations replace them.
	"vigil.windows.logon_failure_external", "vigil.linux.ssh_auth_failure_external",
}

// TestQuickstart runs `vigil run -c configs/quickstart.yaml` as the README says, with its outputs moved to a
// temporary folder, and checks what a user would look for: every shipped rule that raises alerts fires on the attack
// samples, the correlation-input rules raise none of their own, the correlations raise exactly the story's alerts,
// the benign samples raise nothing, nothing is dead-lettered, and the alerts carry enrichment context.
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
	lines, latest := readAlertLines(t, alertsPath)
	fired := map[string]int{}
	enriched := map[string]bool{}
	correlations := map[string][]map[string]any{}
	for _, doc := range latest {
		id := doc["rule"].(map[string]any)["id"].(string)
		fired[id]++
		alert := doc["vigil"].(map[string]any)
		if c, ok := alert["correlation"].(map[string]any); ok {
			correlations[id] = append(correlations[id], c)
		} else if origin := alert["alert"].(map[string]any)["origin"].(map[string]any); strings.Contains(origin["file"].(string), "benign") {
			t.Errorf("rule %s fired on benign sample %s:%v", id, origin["file"], origin["line"])
		}
		for _, k := range []string{"source.geo", "source.as", "threat.enrichments", "vigil.asset"} {
			parts := strings.Split(k, ".")
			if v, ok := doc[parts[0]].(map[string]any); ok && v[parts[1]] != nil {
				enriched[k] = true
			}
		}
	}
	for _, c := range shippedRules(t) {
		switch {
		case c.Internal && fired[c.ID] > 0:
			t.Errorf("correlation input %s (%s) raised %d alerts of its own, want none", c.ID, c.Source, fired[c.ID])
		case !c.Internal && fired[c.ID] == 0:
			t.Errorf("shipped rule %s (%s) raised no alert on the samples", c.ID, c.Source)
		}
	}
	checkQuickstartCorrelations(t, correlations)
	for _, k := range []string{"source.geo", "source.as", "threat.enrichments", "vigil.asset"} {
		if !enriched[k] {
			t.Errorf("no quickstart alert carries %s", k)
		}
	}
	if data, _ := os.ReadFile(deadPath); len(data) > 0 {
		t.Errorf("the samples produced dead letters:\n%s", data)
	}
	if n := strings.Count(stdout.String(), "\n"); n != lines {
		t.Errorf("got %d summary lines on stdout, want one per alert line written (%d)", n, lines)
	}
}

// readAlertLines reads an alert file: the number of lines, and the last version of each alert id in the order the
// ids first appear.
func readAlertLines(t *testing.T, path string) (lines int, latest []map[string]any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	at := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines++
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		id := doc["vigil"].(map[string]any)["alert"].(map[string]any)["id"].(string)
		if i, ok := at[id]; ok {
			latest[i] = doc
			continue
		}
		at[id] = len(latest)
		latest = append(latest, doc)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines, latest
}

// shippedRules compiles the starter pack as `vigil run` does, so each rule says whether it is a correlation input
// only (alert: false, or named by correlations none of which says generate: true).
func shippedRules(t *testing.T) []*rules.Compiled {
	t.Helper()
	env, err := newRuleEnv()
	if err != nil {
		t.Fatal(err)
	}
	set, err := env.LoadSet("configs/rules", "configs/rules-intel")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range quickstartInputs {
		if c := set.Rule(id); c == nil || !c.Internal {
			t.Errorf("rule %s: got a rule that raises alerts, want a correlation input", id)
		}
	}
	return append(slices.Clone(set.Rules()), set.Correlations()...)
}

// checkQuickstartCorrelations compares the correlation alerts (the last version of each) with quickstartCorrelations.
func checkQuickstartCorrelations(t *testing.T, got map[string][]map[string]any) {
	t.Helper()
	want := map[string][]quickstartCorrelation{}
	for key, w := range quickstartCorrelations {
		id, _, _ := strings.Cut(key, "/")
		want[id] = append(want[id], w)
	}
	for _, id := range slices.Sorted(maps.Keys(got)) {
		if len(want[id]) == 0 {
			t.Errorf("unexpected correlation alerts of %s: %v", id, got[id])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if len(got[id]) != len(want[id]) {
			t.Errorf("%s: got %d correlation alerts, want %d: %v", id, len(got[id]), len(want[id]), got[id])
			continue
		}
		for _, w := range want[id] {
			i := slices.IndexFunc(got[id], func(c map[string]any) bool {
				return maps.Equal(c["group"].(map[string]any), w.group)
			})
			if i < 0 {
				t.Errorf("%s: no alert for group %v; got %v", id, w.group, got[id])
				continue
			}
			c := got[id][i]
			if n := int64(c["count"].(float64)); n != w.count {
				t.Errorf("%s %v: got count %d, want %d", id, w.group, n, w.count)
			}
			if v, _ := c["value"].(float64); v != w.value {
				t.Errorf("%s %v: got value %v, want %v", id, w.group, c["value"], w.value)
			}
		}
	}
}

//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/fleet"
	"github.com/vigilsoc/vigil/testenv"
)

// TestIntegrationRulesShadow: a live bundle (rule t.sh, and t.mode in mode: shadow) and a shadow bundle (a second
// version of t.sh, and a new rule t.new) run in one `vigil run` on the real broker, writing to a real search engine.
// Shadow alerts land only in the shadow indices and live alerts only in the live ones, each exactly what `vigil
// replay` gives for its rules; `vigil rules shadow-report` counts what replay gives for each side, and the matches
// only one side has; `vigil rules promote` puts the shadow version of t.sh live.
func TestIntegrationRulesShadow(t *testing.T) {
	for _, engine := range testenv.SearchEngines(t) {
		t.Run(engine.Flavor, func(t *testing.T) { testRulesShadow(t, engine) })
	}
}

func testRulesShadow(t *testing.T, engine testenv.SearchEngine) {
	f := newFleetSetup(t)
	run := strings.ReplaceAll(testenv.UniqueName(t, ""), "-", "")
	live, shadow := "vigil-live-"+run, "vigil-shadow-"+run
	t.Cleanup(func() { deleteIndices(t, engine.URL, live); deleteIndices(t, engine.URL, shadow) })
	cfg := f.config(t, "shadow-a")
	text := strings.Replace(readFile(t, cfg), "sinks:\n  - type: file\n", fmt.Sprintf(`sinks:
  - type: elasticsearch
    elasticsearch: {flavor: %s, urls: [%s], index_prefix: %s, shadow_index_prefix: %s, replicas: 0, flush_interval: 5ms}
  - type: file
`, engine.Flavor, engine.URL, live, shadow), 1)
	writeFile(t, cfg, text)

	rule := func(dir, id, condition string, extra string) string {
		d := filepath.Join(f.dir, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d, id+".yaml"), fmt.Sprintf("id: %s\nname: %s\nseverity: high\n%scondition: %s\n", id, id, extra, condition))
		return d
	}
	liveSh := rule("live-sh", "t.sh", `event.action == "a"`, "")
	liveMode := rule("live-mode", "t.mode", `event.action == "m"`, "mode: shadow\n")
	shadowSh := rule("shadow-sh", "t.sh", `event.action in ["a", "b"]`, "")
	shadowNew := rule("shadow-new", "t.new", `event.action == "c"`, "")
	out, err := f.vigil(t, "rules", "deploy", "-c", cfg, liveSh, liveMode)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	liveVersion := deployedVersion(t, out)
	out, err = f.vigil(t, "rules", "deploy", "-c", cfg, "--shadow", shadowSh, shadowNew)
	if err != nil || !strings.Contains(out, "deployed shadow bundle") {
		t.Fatalf("deploy --shadow: %v\n%s", err, out)
	}
	shadowVersion := deployedVersion(t, strings.Replace(out, "shadow bundle", "bundle", 1))
	p := startVigil(t, f.bin, cfg)
	f.waitStatus(t, "live and shadow bundles", []string{"shadow-a"}, func(s fleet.Status) bool {
		return s.Bundle == liveVersion && s.Shadow == shadowVersion
	}, p)

	var events [][]byte
	for action, n := range map[string]int{"a": 5, "b": 3, "c": 2, "m": 2, "d": 4} {
		for i := range n {
			ev, _ := json.Marshal(map[string]any{"@timestamp": time.Now().UTC().Format(time.RFC3339Nano),
				"event": map[string]any{"action": action, "id": fmt.Sprintf("%s-%s-%d", run, action, i)},
				"host":  map[string]any{"name": fmt.Sprintf("host-%d", i%2)}})
			events = append(events, ev)
		}
	}
	msgs := make([]kafka.Message, len(events))
	for i, ev := range events {
		msgs[i] = kafka.Message{Value: ev}
	}
	kafkaProduce(t, f.addr, f.events, msgs)

	byTenant := map[string][][]byte{"acme": events}
	want := func(dirs ...string) map[string]bool {
		ids := map[string]bool{}
		for _, d := range dirs {
			for id := range replayExpected(t, f.bin, d, byTenant) {
				ids[id] = true
			}
		}
		return ids
	}
	wantLive, wantShadow := want(liveSh), want(shadowSh, shadowNew, liveMode)
	if len(wantLive) != 5 || len(wantShadow) != 12 {
		t.Fatalf("replay gives %d live and %d shadow alerts, want 5 and 12", len(wantLive), len(wantShadow))
	}
	waitIndexed(t, engine.URL, live, wantLive, p)
	waitIndexed(t, engine.URL, shadow, wantShadow, p)

	out, err = f.vigil(t, "rules", "shadow-report", "-c", cfg, "--since", "1h", "--output", "json")
	if err != nil {
		t.Fatalf("shadow-report: %v\n%s", err, out)
	}
	var reports []shadowReport
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("shadow-report output: %v\n%s", err, out)
	}
	byRule := map[string]shadowReport{}
	for _, r := range reports {
		byRule[r.Rule] = r
	}
	sh, onlyShadow := want(shadowSh), 0
	for id := range sh {
		if !wantLive[id] {
			onlyShadow++
		}
	}
	checks := []struct {
		rule                           string
		shadow, live, only, onlyL, hst int
		isNew                          bool
	}{
		{"t.sh", len(sh), len(wantLive), onlyShadow, 0, 2, false},
		{"t.new", len(want(shadowNew)), 0, len(want(shadowNew)), 0, 2, true},
		{"t.mode", len(want(liveMode)), 0, len(want(liveMode)), 0, 2, true},
	}
	for _, c := range checks {
		r, ok := byRule[c.rule]
		if !ok || r.Shadow.Alerts != c.shadow || r.Live.Alerts != c.live || r.OnlyShadow != c.only || r.OnlyLive != c.onlyL ||
			r.New != c.isNew || len(r.Shadow.Hosts) != c.hst || r.Shadow.Tenants["acme"] != c.shadow {
			t.Errorf("report of %s: got %+v, want shadow %d, live %d, only shadow %d, only live %d, %d hosts, new %v (replay)",
				c.rule, r, c.shadow, c.live, c.only, c.onlyL, c.hst, c.isNew)
		}
	}
	if r := byRule["t.sh"]; len(r.OnlyShadowSample) != 3 {
		t.Errorf("t.sh: got %d examples of shadow-only matches, want 3", len(r.OnlyShadowSample))
	}
	table, err := f.vigil(t, "rules", "shadow-report", "-c", cfg, "--since", "1h", "--rule", "t.sh")
	if err != nil || !strings.Contains(table, "only by shadow: 3, only by live: 0") {
		t.Fatalf("shadow-report table: %v\n%s", err, table)
	}

	// Promotion: t.sh's shadow version goes live; a "b" event now raises a live alert.
	out, err = f.vigil(t, "rules", "promote", "-c", cfg, "--wait", "60s", "t.sh")
	if err != nil || !strings.Contains(out, "1 instance(s) run") {
		t.Fatalf("promote: %v\n%s", err, out)
	}
	ev, _ := json.Marshal(map[string]any{"event": map[string]any{"action": "b", "id": run + "-promoted"}})
	kafkaProduce(t, f.addr, f.events, []kafka.Message{{Value: ev}})
	for id := range replayExpected(t, f.bin, shadowSh, map[string][][]byte{"acme": {ev}}) {
		wantLive[id] = true
	}
	waitIndexed(t, engine.URL, live, wantLive, p)

	// shadow-stop: the shadow rules stop. A "c" event (t.new's) then an "a" event: once the "a" alert is live, the
	// "c" event, before it on the same partition, was evaluated, and raised no shadow alert.
	out, err = f.vigil(t, "rules", "shadow-stop", "-c", cfg, "--wait", "60s")
	if err != nil || !strings.Contains(out, "1 instance(s) run") {
		t.Fatalf("shadow-stop: %v\n%s", err, out)
	}
	var tail [][]byte
	for _, action := range []string{"c", "a"} {
		ev, _ := json.Marshal(map[string]any{"event": map[string]any{"action": action, "id": run + "-after-stop-" + action}})
		tail = append(tail, ev)
		kafkaProduce(t, f.addr, f.events, []kafka.Message{{Value: ev}})
	}
	for id := range replayExpected(t, f.bin, liveSh, map[string][][]byte{"acme": tail}) {
		wantLive[id] = true
	}
	waitIndexed(t, engine.URL, live, wantLive, p)
	for id := range replayExpected(t, f.bin, shadowSh, map[string][][]byte{"acme": {ev}}) {
		wantShadow[id] = true // the "b" event of the promotion, while the shadow bundle still ran
	}
	waitIndexed(t, engine.URL, shadow, wantShadow, p)
}

// waitIndexed waits until the indices of prefix hold exactly the alert ids of want (and fails on any other).
func waitIndexed(t *testing.T, url, prefix string, want map[string]bool, p *vigilProc) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		got := indexedCorrelations(t, url, prefix)
		extra := 0
		for id := range got {
			if !want[id] {
				extra++
			}
		}
		if extra > 0 {
			t.Fatalf("%s: %d alerts that replay does not give: %v", prefix, extra, got)
		}
		if len(got) == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d alerts after 120s; log:\n%s", prefix, len(got), len(want), p.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

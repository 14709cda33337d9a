//go:build integration

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/testenv"
)

// TestRetrohunt: an indicator added to the threat-intel file after its events were consumed raises alerts for exactly
// those events (one per event, tagged vigil.retrohunt with the indicator and its first-seen date); an indicator
// already loaded at start raises none; the metrics count the records searched and the alerts.
func TestRetrohunt(t *testing.T) {
	addr := testenv.Kafka(t)
	bin := buildVigil(t)
	dir := t.TempDir()
	const n, newIOC, oldIOC = 3000, "198.51.100.77", "192.0.2.1"
	run := strings.ReplaceAll(testenv.UniqueName(t, "r"), "-", "")
	var msgs []kafka.Message
	var want []string
	for i := range n {
		ev := map[string]any{"@timestamp": time.Now().UTC().Format(time.RFC3339), "event": map[string]any{"id": fmt.Sprintf("%s-%d", run, i), "category": "network"},
			"source": map[string]any{"ip": fmt.Sprintf("10.0.%d.%d", i/250, i%250)}, "destination": map[string]any{"ip": "203.0.113.5"}}
		if i%10 == 3 {
			ev["destination"] = map[string]any{"ip": newIOC, "port": 443}
			want = append(want, fmt.Sprintf("%s-%d", run, i))
		}
		if i%7 == 0 {
			ev["source"] = map[string]any{"ip": oldIOC}
		}
		raw, _ := json.Marshal(ev)
		msgs = append(msgs, kafka.Message{Value: raw})
	}
	topic := testenv.CreateTopic(t, addr, 3)
	kafkaProduce(t, addr, topic, msgs)

	ti := filepath.Join(dir, "ti.csv")
	writeFile(t, ti, "type,value,provider\nip,"+oldIOC+",feed-old\n")
	group := testenv.UniqueName(t, "vigil-retro-")
	config, alerts := retroConfig(t, dir, addr, topic, group, ti, "1h", 0.5)
	metricsAddr := freeAddr(t)
	p := startCommand(t, bin, []string{"run", "-c", config, "--metrics-addr", metricsAddr})
	waitConsumed(t, p.log, addr, group, []string{topic}, 3, 3*time.Minute)
	if got := retroAlerts(t, alerts); len(got) != 0 {
		t.Fatalf("retro-hunt alerts before any indicator was added: %d", len(got))
	}

	added := time.Now()
	writeFile(t, ti, "type,value,provider\nip,"+oldIOC+",feed-old\nip,"+newIOC+",feed-new\n")
	waitForLog(t, p, `"msg":"retro-hunt finished"`)
	got := retroAlerts(t, alerts)
	var ids []string
	for _, a := range got {
		ids = append(ids, a.Event.ID)
		ind := a.Vigil.Retrohunt.Indicator
		if ind.Value != newIOC || ind.Field != "destination.ip" || ind.Provider != "feed-new" {
			t.Errorf("alert %s: indicator %+v, want %s in destination.ip from feed-new", a.Vigil.Alert.ID, ind, newIOC)
		}
		if seen, err := time.Parse(time.RFC3339, a.Vigil.Retrohunt.FirstSeen); err != nil || seen.Before(added.Add(-time.Second)) {
			t.Errorf("alert %s: first_seen %q, want a time after the indicator was added (%s)", a.Vigil.Alert.ID, a.Vigil.Retrohunt.FirstSeen, added.Format(time.RFC3339))
		}
	}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("retro-hunt alerts for %d events, want exactly the %d events with %s (%d of the first: %.3q)", len(ids), len(want), newIOC, len(ids), ids)
	}
	metrics := scrape(t, metricsAddr)
	for name, want := range map[string]int{"vigil_retrohunt_records_scanned_total": n, "vigil_retrohunt_alerts_total": len(want),
		"vigil_retrohunt_runs_total": 1, "vigil_retrohunt_indicators_total": 1, "vigil_retrohunt_run_records_done": n,
		"vigil_retrohunt_run_records": n, "vigil_retrohunt_failures_total": 0} {
		if got, ok := metrics[name]; !ok || got != float64(want) {
			t.Errorf("metric %s: got %v (present: %v), want %d", name, got, ok, want)
		}
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("vigil run: %v\n%s", err, p.log())
	}
}

// retroConfig writes, in dir, a rule that never matches and a configuration of `vigil run` reading topic (tenant
// acme) with group, alerts to a file, the indicator file ti and a retro-hunt of window at share; it returns the
// configuration's path and the alert file's.
func retroConfig(t testing.TB, dir, addr, topic, group, ti, window string, share float64) (config, alerts string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, "rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "rules", "never.yml"), "id: test.never\nname: Never\nseverity: low\ncondition: event.category == \"never\"\n")
	config, alerts = filepath.Join(dir, "vigil.yaml"), filepath.Join(dir, "alerts.jsonl")
	writeFile(t, config, fmt.Sprintf(`rules: {paths: [%s]}
tenants: [acme]
sources:
  - {name: partners, type: kafka, kafka: {brokers: [%s], group_id: %s, topics: [{name: %s, tenant: acme}]}}
sinks: [{type: file, file: {path: %s}}]
dead_letter: {type: file, path: %s}
enrich:
  threat_intel: {files: [%s], retrohunt: {window: %s, cpu_share: %g}}
  reload: {watch: false, poll_interval: 1s}
log: {format: json}
`, filepath.Join(dir, "rules"), addr, group, topic, alerts, filepath.Join(dir, "dl.jsonl"), ti, window, share))
	return config, alerts
}

// retroAlert is what TestRetrohunt reads of a retro-hunt alert.
type retroAlert struct {
	Event struct{ ID string }
	Rule  struct{ ID string }
	Vigil struct {
		Alert     struct{ ID string }
		Retrohunt struct {
			ID        string
			FirstSeen string `json:"first_seen"`
			Indicator struct{ Value, Type, Field, Provider string }
		}
	}
}

// retroAlerts reads the retro-hunt alerts of an alert file.
func retroAlerts(t *testing.T, path string) []retroAlert {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []retroAlert
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var a retroAlert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alert line %q: %v", sc.Text(), err)
		}
		if a.Rule.ID == "vigil.threat_intel.retrohunt" {
			out = append(out, a)
		}
	}
	return out
}

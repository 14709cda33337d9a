//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/testenv"
)

// huntRecords are n records for tenant acme built from the shipped samples, each made unique by its event.id, and
// stamped one millisecond apart from base: the order of the file is the order of the record timestamps.
func huntRecords(t testing.TB, n int, base time.Time) (lines [][]byte, msgs []kafka.Message) {
	t.Helper()
	samples := shippedSamples(t)
	run := strings.ReplaceAll(testenv.UniqueName(t, "h"), "-", "")
	for i := range n {
		raw := withEventID(t, samples[i%len(samples)], fmt.Sprintf("%s-%d", run, i))
		lines = append(lines, raw)
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: raw, Time: base.Add(time.Duration(i) * time.Millisecond)})
	}
	return lines, msgs
}

// huntConfig is a `vigil run` configuration reading topic as tenant acme, with the live group group, alerts to the
// file alerts and to the search engine e under prefix.
func huntConfig(t *testing.T, dir, addr, topic, group, alerts string, e testenv.SearchEngine, prefix string) string {
	t.Helper()
	config := filepath.Join(dir, "vigil.yaml")
	writeFile(t, config, fmt.Sprintf(`rules: {paths: [configs/rules]}
tenants: [acme]
sources:
  - name: partners
    type: kafka
    kafka:
      brokers: [%s]
      group_id: %s
      topics: [{name: %s, tenant: acme}]
sinks:
  - {type: file, file: {path: %s}}
  - type: elasticsearch
    elasticsearch: {flavor: %s, urls: [%s], index_prefix: %s, replicas: 0, install_template: true, flush_interval: 5ms}
dead_letter: {type: file, path: %s}
`, addr, group, topic, alerts, e.Flavor, e.URL, prefix, filepath.Join(dir, "dl.jsonl")))
	return config
}

// runBinary runs `vigil ARGS...` from the repository root and returns its stderr; it fails the test on a non-zero exit.
func runBinary(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vigil %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// countDocs is the number of alert documents under prefix, after a refresh.
func countDocs(t *testing.T, url, prefix string) int {
	t.Helper()
	if res, err := http.Post(url+"/"+prefix+"-*/_refresh", "application/json", nil); err == nil {
		res.Body.Close()
	}
	res, err := http.Get(url + "/" + prefix + "-*/_count")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ Count int }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Count
}

// TestHuntEqualsReplay: `vigil hunt` over 100,000 records retained in a topic of three partitions gives exactly the
// alert ids `vigil replay` gives over the same records in a file (correlations included), writes each once to the
// index, adds nothing when run again, leaves the live consumer group's offsets alone, and --until and --dry-run do
// what they say.
func TestHuntEqualsReplay(t *testing.T) {
	addr := testenv.Kafka(t)
	engine := testenv.SearchEngines(t)[0]
	bin := buildVigil(t)
	dir := t.TempDir()
	const n = 100000
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	lines, msgs := huntRecords(t, n, base)
	// Event times half a second apart in record order, so that correlations see every cycle of the samples in time
	// (with the samples' own times, each cycle repeats the same two weeks and most correlation inputs come too late),
	// all within yesterday (UTC): one daily index. (Across midnight, an alert that grows, a correlation or suppressed
	// alert, is stored in the index of each version's event day: two documents for one id. That is how the search
	// sink places updates, live detection included, not something hunting does; duplicateDocs shows it.)
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	for i := range lines {
		lines[i] = withTimestamp(t, lines[i], day.Add(time.Hour).Add(time.Duration(i)*500*time.Millisecond))
		msgs[i].Value = lines[i]
	}
	topic := testenv.CreateTopic(t, addr, 3)
	kafkaProduce(t, addr, topic, msgs)

	input, replayOut := filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "replay.jsonl")
	writeFile(t, input, string(bytes.Join(lines, []byte("\n")))+"\n")
	runBinary(t, bin, "replay", "--rules", "configs/rules", "--input", input, "--tenant", "acme", "--output", replayOut)
	want, _, _ := alertFile(t, replayOut)
	if len(want) < 1000 {
		t.Fatalf("replay gives %d alerts; the test needs more", len(want))
	}

	prefix := testenv.UniqueName(t, "vigil-hunt-")
	t.Cleanup(func() { deleteIndices(t, engine.URL, prefix) })
	group := testenv.UniqueName(t, "vigil-live-")
	alerts := filepath.Join(dir, "hunt.jsonl")
	config := huntConfig(t, dir, addr, topic, group, alerts, engine, prefix)
	since := base.Add(-time.Second).Format(time.RFC3339)
	hunt := func(extra ...string) string {
		return runBinary(t, bin, append([]string{"hunt", "-c", config, "--rules", "configs/rules", "--since", since}, extra...)...)
	}

	// --dry-run over the first half: the range is cut by record time, nothing is written.
	half := base.Add(n / 2 * time.Millisecond).Format(time.RFC3339Nano)
	out := hunt("--until", half, "--dry-run")
	if !strings.Contains(out, fmt.Sprintf("hunt: %d records read", n/2)) || !strings.Contains(out, "dry run: nothing written") {
		t.Errorf("dry run until %s: got\n%s\nwant %d records read, nothing written", half, out, n/2)
	}
	if _, err := os.Stat(alerts); !os.IsNotExist(err) {
		t.Errorf("the dry run created %s (err %v)", alerts, err)
	}

	out = hunt()
	if !strings.Contains(out, fmt.Sprintf("hunt: %d records read, %d events evaluated", n, n)) {
		t.Errorf("hunt: got\n%s\nwant %d records read and evaluated", out, n)
	}
	got, _, _ := alertFile(t, alerts)
	compareIDs(t, got, want)
	if c := countDocs(t, engine.URL, prefix); c != len(want) {
		t.Errorf("index after the hunt: got %d documents, want %d; ids stored more than once: %s", c, len(want),
			duplicateDocs(t, engine.URL, prefix))
	}
	if !regexp.MustCompile(`"hunt":\{[^}]*"id":"hunt-`).Match(mustRead(t, alerts)) {
		t.Errorf("alerts written by the hunt carry no vigil.hunt.id")
	}

	hunt()
	if c := countDocs(t, engine.URL, prefix); c != len(want) {
		t.Errorf("index after a second hunt: got %d documents, want %d (nothing added)", c, len(want))
	}
	for p, off := range testenv.CommittedOffsets(t, addr, group, topic, 3) {
		if off != -1 {
			t.Errorf("partition %d: the live group %s has committed offset %d, want none", p, group, off)
		}
	}
	t.Logf("%d records, %d alert ids; last hunt:\n%s", n, len(want), out)
}

// withTimestamp replaces the @timestamp of a sample event with at, leaving every other byte as it is.
func withTimestamp(t testing.TB, raw []byte, at time.Time) []byte {
	t.Helper()
	const marker = `"@timestamp":"`
	i := bytes.Index(raw, []byte(marker))
	if i < 0 {
		t.Fatalf("sample without %s: %.80s", marker, raw)
	}
	i += len(marker)
	j := i + bytes.IndexByte(raw[i:], '"')
	return append(append(append([]byte{}, raw[:i]...), at.UTC().Format("2006-01-02T15:04:05.000Z")...), raw[j:]...)
}

// duplicateDocs lists the alerts that grow (correlation and suppressed alerts, written as updates) stored in more than
// one document under prefix, with their indices: a version of such an alert goes to the index of its own event time.
func duplicateDocs(t *testing.T, url, prefix string) string {
	t.Helper()
	query := `{"size":10000,"_source":["vigil.alert.id"],"query":{"bool":{"should":[` +
		`{"exists":{"field":"vigil.correlation"}},{"exists":{"field":"vigil.suppression"}}]}}}`
	res, err := http.Post(url+"/"+prefix+"-*/_search", "application/json", strings.NewReader(query))
	if err != nil {
		return err.Error()
	}
	defer res.Body.Close()
	var body struct {
		Hits struct {
			Hits []struct {
				Index  string `json:"_index"`
				Source struct {
					Vigil struct{ Alert struct{ ID string } }
				} `json:"_source"`
			}
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return err.Error()
	}
	indices := map[string][]string{}
	for _, h := range body.Hits.Hits {
		indices[h.Source.Vigil.Alert.ID] = append(indices[h.Source.Vigil.Alert.ID], h.Index)
	}
	var out []string
	for id, in := range indices {
		if len(in) > 1 {
			out = append(out, id+" in "+strings.Join(in, ", "))
		}
	}
	return fmt.Sprintf("%d alerts that grow searched; %s", len(body.Hits.Hits), strings.Join(out, "; "))
}

// compareIDs reports the alert ids that only one side has.
func compareIDs(t *testing.T, got, want map[string]int) {
	t.Helper()
	var missing, extra []string
	for id := range want {
		if _, ok := got[id]; !ok {
			missing = append(missing, id)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			extra = append(extra, id)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("got %d alert ids, want %d: %d missing (e.g. %.3q), %d extra (e.g. %.3q)", len(got), len(want),
			len(missing), missing, len(extra), extra)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHuntTenant: on a multi-tenant topic (tenant header), --tenant keeps that tenant's records only and gives the
// alert ids replay gives for them; records without a tenant are counted as skipped, not evaluated.
func TestHuntTenant(t *testing.T) {
	addr := testenv.Kafka(t)
	bin := buildVigil(t)
	dir := t.TempDir()
	const n, noTenant = 2000, 10
	byTenant := map[string][][]byte{}
	var msgs []kafka.Message
	base := time.Now().Add(-time.Hour)
	for i := range n + noTenant {
		tenant, raw := crashEvent(i)
		m := kafka.Message{Value: raw, Time: base.Add(time.Duration(i) * time.Millisecond)}
		if i < n {
			m.Headers = []kafka.Header{{Key: "tenant", Value: []byte(tenant)}}
			byTenant[tenant] = append(byTenant[tenant], raw)
		}
		msgs = append(msgs, m)
	}
	topic := testenv.CreateTopic(t, addr, 2)
	kafkaProduce(t, addr, topic, msgs)
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(rulesDir, "rules.yml"), crashRules)
	want := map[string]int{}
	for id, tenant := range replayExpected(t, bin, rulesDir, map[string][][]byte{"acme": byTenant["acme"]}) {
		if tenant == "acme" {
			want[id] = 1
		}
	}
	if len(want) < 100 {
		t.Fatalf("replay gives %d alerts for acme; the test needs more", len(want))
	}
	alerts := filepath.Join(dir, "alerts.jsonl")
	config := filepath.Join(dir, "vigil.yaml")
	writeFile(t, config, fmt.Sprintf(`rules: {paths: [%s]}
tenants: [acme, globex]
sources:
  - {name: partners, type: kafka, kafka: {brokers: [%s], group_id: %s, topics: [{name: %s, multi_tenant: true}]}}
sinks: [{type: file, file: {path: %s}}]
dead_letter: {type: file, path: %s}
`, rulesDir, addr, testenv.UniqueName(t, "vigil-live-"), topic, alerts, filepath.Join(dir, "dl.jsonl")))
	since := base.Add(-time.Second).Format(time.RFC3339)
	out := runBinary(t, bin, "hunt", "-c", config, "--rules", rulesDir, "--since", since, "--dry-run")
	if line := fmt.Sprintf("hunt: %d records read, %d events evaluated, 0 of other tenants left out, %d records that cannot be processed skipped",
		n+noTenant, n+noTenant, noTenant); !strings.Contains(out, line) {
		t.Errorf("every tenant: got\n%s\nwant %q", out, line)
	}
	out = runBinary(t, bin, "hunt", "-c", config, "--rules", rulesDir, "--since", since, "--tenant", "acme")
	acme := len(byTenant["acme"])
	if line := fmt.Sprintf("hunt: %d records read, %d events evaluated, %d of other tenants left out, 0 records", n+noTenant, acme,
		n+noTenant-acme); !strings.Contains(out, line) {
		t.Errorf("--tenant acme: got\n%s\nwant %q", out, line)
	}
	got, tenants, _ := alertFile(t, alerts)
	compareIDs(t, got, want)
	for id, tenant := range tenants {
		if tenant != "acme" {
			t.Errorf("alert %s of tenant %q from a hunt of tenant acme", id, tenant)
		}
	}
}

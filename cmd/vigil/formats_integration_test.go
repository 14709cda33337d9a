//go:build integration

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/testenv"
)

// TestKafkaSyslogToSearch produces the raw syslog lines of loghub's Linux_2k.log into a topic configured
// `format: syslog` with the shipped Linux parsers, runs configs/kafka-to-search.yaml so changed, and searches the
// alerts back from each real search engine: they are the alerts `vigil replay --format syslog --parsers ...` gives for
// the same lines (the same rules for the same groups: the brute-force alerts of the file's two attacking addresses and
// its two attacked accounts).
func TestKafkaSyslogToSearch(t *testing.T) {
	addr := testenv.Kafka(t)
	engines := testenv.SearchEngines(t)
	lines := linuxLines(t)
	bin := buildVigil(t)
	root := repoRoot(t)
	config := syslogConfig(t, root)
	topics := topicPrefix(t)
	want := replaySyslog(t, bin, root, config, lines, addr, engines[0].URL)
	msgs := make([]kafka.Message, len(lines))
	for i, l := range lines {
		// Keyed by host, as a syslog relay partitions: the host's lines stay in order, as in the file replay reads.
		msgs[i] = kafka.Message{Key: []byte("combo"), Value: l}
	}
	kafkaProduce(t, addr, topics+".acme.syslog", msgs)
	for _, e := range engines {
		t.Run(e.Flavor, func(t *testing.T) {
			prefix := testenv.UniqueName(t, "vigil-syslog-")
			env := append(correlateEnv(t), "VIGIL_KAFKA_BROKERS="+addr, "VIGIL_KAFKA_GROUP="+testenv.UniqueName(t, "vigil-group-"),
				"VIGIL_SEARCH_URLS="+e.URL, "VIGIL_SEARCH_FLAVOR="+e.Flavor, "VIGIL_SEARCH_INDEX_PREFIX="+prefix,
				"VIGIL_SEARCH_REPLICAS=0", "VIGIL_TOPIC_PREFIX="+topics)
			t.Cleanup(func() { deleteIndices(t, e.URL, prefix) })
			p := startVigil(t, bin, config, env...)
			var got []syslogAlert
			// The last correlation windows close when the partition has been idle for correlate.idle_timeout (1m).
			for deadline := time.Now().Add(180 * time.Second); ; time.Sleep(time.Second) {
				if got = searchAcme(t, bin, config, root, env); len(got) >= len(want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 180s: %d of %d alerts searchable; vigil log:\n%s", len(got), len(want), p.log())
				}
			}
			time.Sleep(2 * time.Second) // anything written late would show up now
			got = searchAcme(t, bin, config, root, env)
			if g, w := syslogSummary(got), syslogSummary(want); !slices.Equal(g, w) {
				t.Errorf("search finds alerts\n%s\nreplay gives\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
			// the same records give the same alert ids, whatever the path
			if g, w := matchIDs(got), matchIDs(want); !slices.Equal(g, w) {
				t.Errorf("the alerts are built from %d matches, replay's from %d, and not the same ones", len(g), len(w))
			}
			if err := p.stop(t, syscall.SIGTERM); err != nil {
				t.Errorf("vigil exited with %v after SIGTERM; log:\n%s", err, p.log())
			}
		})
	}
}

// syslogAlert is what the test compares of an alert.
type syslogAlert struct {
	Rule   struct{ ID string }
	Source struct{ IP string }
	User   struct{ Name string }
	Vigil  struct {
		Correlation struct{ Alerts []string }
	}
}

// syslogSummary lists the alerts as "rule source user", sorted.
func syslogSummary(alerts []syslogAlert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.Rule.ID+" "+a.Source.IP+" "+a.User.Name)
	}
	slices.Sort(out)
	return out
}

// matchIDs are the ids of the matches the correlation alerts are built from, sorted.
func matchIDs(alerts []syslogAlert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.Vigil.Correlation.Alerts...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// replaySyslog runs `vigil replay` over the lines as raw syslog and returns its alerts, the last version of each.
func replaySyslog(t *testing.T, bin, root, config string, lines [][]byte, addr, search string) []syslogAlert {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "alerts.jsonl")
	writeFile(t, in, string(bytes.Join(lines, []byte("\n")))+"\n")
	cmd := exec.Command(bin, "replay", "--rules", "configs/rules", "--rules", "configs/rules-intel", "--enrich", config,
		"--format", "syslog", "--parsers", "configs/parsers/linux.yml", "--tenant", "acme", "--input", in, "--output", out)
	cmd.Env, cmd.Dir = append(os.Environ(), "VIGIL_KAFKA_BROKERS="+addr, "VIGIL_SEARCH_URLS="+search), root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vigil replay: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	alerts := lastVersions(t, data)
	if len(alerts) < 2 {
		t.Fatalf("replay gives %d alerts; want at least the brute-force alerts of Linux_2k.log", len(alerts))
	}
	return alerts
}

// lastVersions decodes alert documents, one per line, keeping the last version of each alert id.
func lastVersions(t *testing.T, data []byte) []syslogAlert {
	t.Helper()
	byID := map[string]syslogAlert{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var doc struct {
			syslogAlert
			Vigil struct {
				Alert       struct{ ID string }
				Correlation struct{ Alerts []string }
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("alert %q: %v", sc.Text(), err)
		}
		doc.syslogAlert.Vigil.Correlation.Alerts = doc.Vigil.Correlation.Alerts
		if _, ok := byID[doc.Vigil.Alert.ID]; !ok {
			order = append(order, doc.Vigil.Alert.ID)
		}
		byID[doc.Vigil.Alert.ID] = doc.syslogAlert
	}
	out := make([]syslogAlert, 0, len(order))
	for _, id := range order {
		out = append(out, byID[id])
	}
	return out
}

// searchAcme returns the tenant acme's alerts, as `vigil alerts search` finds them.
func searchAcme(t *testing.T, bin, config, root string, env []string) []syslogAlert {
	t.Helper()
	cmd := exec.Command(bin, "alerts", "search", "-c", config, "--tenant", "acme", "--json", "--size", "10000")
	cmd.Env, cmd.Dir = append(os.Environ(), env...), root
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("vigil alerts search: %v\n%s", err, errOut.String())
	}
	return lastVersions(t, out.Bytes())
}

// syslogConfig is configs/kafka-to-search.yaml with one topic of raw syslog for tenant acme.
func syslogConfig(t *testing.T, root string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "configs", "kafka-to-search.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const topics = "        - {name: ${VIGIL_TOPIC_PREFIX:-partner}.acme.events, tenant: acme}\n" +
		"        - {name: ${VIGIL_TOPIC_PREFIX:-partner}.globex.events, tenant: globex}\n"
	if !bytes.Contains(data, []byte(topics)) {
		t.Fatalf("configs/kafka-to-search.yaml no longer lists its topics as this test expects")
	}
	data = bytes.Replace(data, []byte(topics), []byte("        - {name: ${VIGIL_TOPIC_PREFIX:-partner}.acme.syslog, "+
		"tenant: acme, format: syslog, parsers: [configs/parsers/linux.yml]}\n"), 1)
	path := filepath.Join(t.TempDir(), "syslog.yaml")
	writeFile(t, path, string(data))
	return path
}

// linuxLines are the lines of Linux_2k.log, one record each, their timestamps moved (in memory) so that the last line
// is a minute old and the others keep their distance to it. Correlation on Kafka decides windows by a watermark that
// idle partitions advance with the clock (correlate.idle_timeout): events months old would be late there and not in
// a replay. The messages, their order and their spacing are the file's.
func linuxLines(t *testing.T) [][]byte {
	t.Helper()
	data, err := os.ReadFile(linux2k(t))
	if err != nil {
		t.Fatal(err)
	}
	// the file's lines end in CRLF: a record is the line without its terminator, as a relay's framing takes it and
	// as replay's line reader does (the record's bytes are its identity: with the CR, every alert id would differ)
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n"), "\n")
	last, err := time.Parse(time.Stamp, lines[len(lines)-1][:len(time.Stamp)])
	if err != nil {
		t.Fatal(err)
	}
	shift := time.Now().UTC().Add(-time.Minute).Sub(last.AddDate(time.Now().Year(), 0, 0))
	out := make([][]byte, len(lines))
	for i, l := range lines {
		ts, err := time.Parse(time.Stamp, l[:len(time.Stamp)])
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		moved := ts.AddDate(time.Now().Year(), 0, 0).Add(shift).Format(time.Stamp)
		out[i] = []byte(moved + l[len(time.Stamp):])
	}
	return out
}

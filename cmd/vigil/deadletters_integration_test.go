//go:build integration

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/sinks"
	"github.com/vigilsoc/vigil/testenv"
)

// TestDeadLettersRoundTrip parks an undecodable record and an alert with a mapping conflict through the real pipeline
// (vigil run, real Kafka, each real search engine), finds them with `vigil deadletters list`, replays the record to
// its source topic and checks that vigil reads it again, replays the alert after the index is fixed and checks that
// it is in the index once, and checks that nothing is replayed twice.
func TestDeadLettersRoundTrip(t *testing.T) {
	addr := testenv.Kafka(t)
	engines := testenv.SearchEngines(t)
	bin := buildVigil(t)
	for _, e := range engines {
		t.Run(e.Flavor, func(t *testing.T) { deadLettersRoundTrip(t, bin, addr, e) })
	}
}

// parkedLetter is a line of `vigil deadletters list --json`.
type parkedLetter struct {
	ID, Kind, Reason, Tenant, Detail string
	Source                           struct {
		Topic     string
		Partition int
		Offset    int64
	}
	PayloadBytes int `json:"payload_bytes"`
	Replayed     *struct{ At, To string }
}

func deadLettersRoundTrip(t *testing.T, bin, addr string, e testenv.SearchEngine) {
	source := testenv.CreateTopic(t, addr, 3)
	dlq := testenv.CreateTopic(t, addr, 2)
	t.Cleanup(func() { deleteTopic(t, addr, sinks.ReplayLogTopic(dlq)) })
	prefix := testenv.UniqueName(t, "vigil-dl-")
	t.Cleanup(func() { deleteIndices(t, e.URL, prefix) })
	run := testenv.UniqueName(t, "")
	evTime := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	index := sinks.IndexName(prefix, "acme", evTime)

	// The cause of the mapping conflict: the day's index exists, with test.value a number.
	searchRequest(t, http.MethodPut, e.URL+"/"+index,
		`{"settings":{"number_of_replicas":0},"mappings":{"properties":{"test":{"properties":{"value":{"type":"long"}}}}}}`)

	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(rulesDir, "dl.yml"), `id: test.deadletters
name: Dead-letter test
severity: low
condition: event.category == "deadletter-test"
`)
	config := filepath.Join(dir, "vigil.yaml")
	writeFile(t, config, fmt.Sprintf(`rules: {paths: [%s]}
tenants: [acme]
sources:
  - name: partners
    type: kafka
    kafka:
      brokers: [%s]
      group_id: %s
      topics: [{name: %s, tenant: acme}]
      session_timeout: 6s
      heartbeat_interval: 500ms
      rebalance_timeout: 10s
      revoke_timeout: 2s
sinks:
  - type: elasticsearch
    elasticsearch: {flavor: %s, urls: [%s], index_prefix: %s, replicas: 0}
dead_letter: {type: kafka, kafka: {topic: %s}}
log: {format: json}
`, rulesDir, addr, testenv.UniqueName(t, "vigil-group-"), source, e.Flavor, e.URL, prefix, dlq))

	bad := []byte("not json " + run)
	event, _ := json.Marshal(map[string]any{"@timestamp": evTime.Format(time.RFC3339),
		"event": map[string]any{"id": run, "category": "deadletter-test"}, "test": map[string]any{"value": "abc"}})
	kafkaProduce(t, addr, source, []kafka.Message{{Key: []byte("k1"), Value: bad}, {Key: []byte("k2"), Value: event}})

	dl := func(args ...string) (code int, stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"deadletters"}, args...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("vigil deadletters %v: %v", args, err)
		}
		return code, out.String(), errOut.String()
	}
	list := func(args ...string) []parkedLetter {
		t.Helper()
		code, out, errOut := dl(append([]string{"list", "-c", config, "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("deadletters list %v: exit %d: %s", args, code, errOut)
		}
		var letters []parkedLetter
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var l parkedLetter
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("deadletters list: line %q: %v", sc.Text(), err)
			}
			letters = append(letters, l)
		}
		return letters
	}
	waitLetters := func(p *vigilProc, want int, args ...string) []parkedLetter {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			letters := list(args...)
			if len(letters) >= want {
				return letters
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d letters %v after 90s; vigil log:\n%s", len(letters), want, args, p.log())
			}
			time.Sleep(500 * time.Millisecond)
		}
	}

	// The pipeline parks both.
	p := startVigil(t, bin, config)
	waitLetters(p, 2)
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("vigil exited with %v; log:\n%s", err, p.log())
	}

	// list, with filters.
	events := list("--reason", "decode")
	if len(events) != 1 || events[0].Kind != "event" || events[0].Tenant != "acme" || events[0].Source.Topic != source ||
		events[0].PayloadBytes != len(bad) || !strings.HasPrefix(events[0].ID, dlq+"/") {
		t.Fatalf("list --reason decode: got %+v", events)
	}
	alerts := list("--kind", "alert", "--since", "10m")
	if len(alerts) != 1 || alerts[0].Reason != "mapping" || !strings.Contains(alerts[0].Detail, index) {
		t.Fatalf("list --kind alert --since 10m: got %+v", alerts)
	}
	if got := list("--until", "10m"); len(got) != 0 {
		t.Errorf("list --until 10m: got %d letters, want none", len(got))
	}
	if got := list("--tenant", "globex"); len(got) != 0 {
		t.Errorf("list --tenant globex: got %d letters, want none", len(got))
	}
	if got := list("--limit", "1"); len(got) != 1 {
		t.Errorf("list --limit 1: got %d letters", len(got))
	}
	code, out, _ := dl("list", "-c", config)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
		t.Errorf("list as a table: exit %d\n%s", code, out)
	}
	t.Logf("vigil deadletters list:\n%s", out)
	eventID, alertLetter := events[0].ID, alerts[0].ID
	if code, out, _ := dl("show", "-c", config, eventID); code != 0 || !strings.Contains(out, fmt.Sprintf("%q", bad)) ||
		!strings.Contains(out, "vigil.source.topic: "+source) {
		t.Errorf("show %s: exit %d\n%s", eventID, code, out)
	}
	code, out, _ = dl("show", "-c", config, "--json", alertLetter)
	var shown struct{ Payload string }
	var doc struct {
		Vigil struct{ Alert struct{ ID string } }
	}
	if err := json.Unmarshal([]byte(out), &shown); code != 0 || err != nil || json.Unmarshal([]byte(shown.Payload), &doc) != nil || doc.Vigil.Alert.ID == "" {
		t.Fatalf("show --json %s: exit %d, %v\n%s", alertLetter, code, err, out)
	}
	alertID := doc.Vigil.Alert.ID

	// The event goes back to its source topic, byte for byte, with the replay header.
	if code, out, errOut := dl("replay", "-c", config, "--kind", "event"); code != 0 || !strings.Contains(out, "1 replayed (1 event sent back") {
		t.Fatalf("replay --kind event: exit %d\n%s%s", code, out, errOut)
	}
	replayed := findReplayed(t, addr, source, events[0].Source.Partition, events[0].Source.Offset+1, eventID)
	if !bytes.Equal(replayed.Value, bad) {
		t.Fatalf("source topic after the replay: got %q, want the original %q", replayed.Value, bad)
	}

	// The alert: rejected again while the index is as it was, stored once it is fixed.
	if code, out, _ := dl("replay", "-c", config, "--kind", "alert"); code != 1 || !strings.Contains(out, "the index rejected the alert again: mapping") {
		t.Errorf("replay of the alert before the fix: exit %d\n%s", code, out)
	}
	searchRequest(t, http.MethodDelete, e.URL+"/"+index, "")
	if code, out, errOut := dl("replay", "-c", config, "--kind", "alert"); code != 0 ||
		!strings.Contains(out, "1 replayed (0 events sent back to the source topics, 1 alert re-indexed: 1 new in the index, 0 there already)") {
		t.Fatalf("replay of the alert after the fix: exit %d\n%s%s", code, out, errOut)
	}
	if n := countAlert(t, e.URL, prefix, alertID); n != 1 {
		t.Errorf("alert %s is %d times in the index, want once", alertID, n)
	}

	// Nothing is replayed twice: not without --again, and not into the index even with it.
	code, out, _ = dl("replay", "-c", config, "--all")
	if code != 0 || !strings.Contains(out, "0 replayed") || !strings.Contains(out, "2 skipped as replayed already") {
		t.Errorf("replay --all after the replays: exit %d\n%s", code, out)
	}
	t.Logf("vigil deadletters replay --all, after the replays:\n%s", out)
	code, out, _ = dl("replay", "-c", config, "--again", alertLetter)
	if code != 0 || !strings.Contains(out, "0 new in the index, 1 there already") {
		t.Errorf("replay --again %s: exit %d\n%s", alertLetter, code, out)
	}
	if n := countAlert(t, e.URL, prefix, alertID); n != 1 {
		t.Errorf("after replay --again, alert %s is %d times in the index, want once", alertID, n)
	}
	for _, l := range list() {
		if l.Replayed == nil {
			t.Errorf("letter %s is not marked replayed in the list", l.ID)
		}
	}

	// vigil reads the replayed record again: still undecodable, it is parked once more, from its new offset.
	p = startVigil(t, bin, config)
	again := waitLetters(p, 2, "--reason", "decode")
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("second run exited with %v; log:\n%s", err, p.log())
	}
	if len(again) != 2 || again[1].Source.Offset != replayed.Offset || again[1].Source.Partition != replayed.Partition ||
		again[1].PayloadBytes != len(bad) || again[1].Replayed != nil {
		t.Errorf("after the second run: decode letters %+v, want a new one from %s/%d@%d", again, source, replayed.Partition, replayed.Offset)
	}
}

// findReplayed returns the record of a partition, after offset, that says it was replayed from the letter id.
func findReplayed(t *testing.T, addr, topic string, partition int, offset int64, id string) kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: partition, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("no record replayed from %s in %s/%d after offset %d: %v", id, topic, partition, offset, err)
		}
		if header(m, sinks.HeaderReplayedFrom) == id {
			return m
		}
	}
}

// searchRequest sends a request to the search engine and fails the test unless it succeeds.
func searchRequest(t *testing.T, method, url, body string) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: status %d: %s", method, url, res.StatusCode, b)
	}
	return b
}

// countAlert counts the documents with the alert's id in the indices of prefix.
func countAlert(t *testing.T, url, prefix, id string) int {
	t.Helper()
	searchRequest(t, http.MethodPost, url+"/"+prefix+"-*/_refresh", "")
	b := searchRequest(t, http.MethodPost, url+"/"+prefix+"-*/_count", fmt.Sprintf(`{"query":{"ids":{"values":[%q]}}}`, id))
	var res struct{ Count int }
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("count: %s: %v", b, err)
	}
	return res.Count
}

func deleteTopic(t *testing.T, addr, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(addr)}
	if _, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}}); err != nil {
		t.Logf("delete topic %s: %v", topic, err)
	}
}

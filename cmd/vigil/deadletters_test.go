package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/kafkaconn"
	"github.com/vigilsoc/vigil/sinks"
)

// bulkServer is a search engine that answers bulk creates: 201 for a new id, 409 for one it has, and 400 (a mapping
// error) for the ids in reject.
type bulkServer struct {
	*httptest.Server
	mu     sync.Mutex
	docs   map[string]string // index/id → document
	reject map[string]bool
}

func newBulkServer(t *testing.T) *bulkServer {
	b := &bulkServer{docs: map[string]string{}, reject: map[string]bool{}}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/_bulk") {
			w.Write([]byte(`{}`))
			return
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(nil, 16<<20)
		var items []string
		for sc.Scan() {
			var action struct {
				Create struct {
					Index string `json:"_index"`
					ID    string `json:"_id"`
				} `json:"create"`
			}
			if err := json.Unmarshal(sc.Bytes(), &action); err != nil || !sc.Scan() {
				http.Error(w, "bad bulk body", 400)
				return
			}
			key := action.Create.Index + "/" + action.Create.ID
			switch {
			case b.reject[action.Create.ID]:
				items = append(items, `{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [test.value] of type [long]"}}}`)
			case b.docs[key] != "":
				items = append(items, `{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}}`)
			default:
				b.docs[key] = sc.Text()
				items = append(items, `{"create":{"status":201}}`)
			}
		}
		fmt.Fprintf(w, `{"errors":true,"items":[%s]}`, strings.Join(items, ","))
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *bulkServer) stored() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]string{}
	for k, v := range b.docs {
		out[k] = v
	}
	return out
}

// fakeKafka starts an in-process Kafka cluster with the partner topics of the dead-letter tests.
func fakeKafka(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "partner.acme.events"), kfake.SeedTopics(1, "partner.shared"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// partitionRecords reads every record of a partition.
func partitionRecords(t *testing.T, addr, topic string, partition int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: partition, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	var out []kafka.Message
	for int64(len(out)) < last {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, partition, err)
		}
		out = append(out, m)
	}
	return out
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// alertDoc is a parked alert document.
func alertDoc(id, tenant string, day time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"@timestamp": day.Add(time.Minute).Format(time.RFC3339Nano),
		"rule": map[string]any{"id": "test.rule"}, "test": map[string]any{"value": "abc"},
		"vigil": map[string]any{"alert": map[string]any{"id": id, "tenant": tenant, "original_time": day.Format(time.RFC3339Nano)}}})
	return b
}

// fileQueueSetup parks the letters of the file-queue tests with the real file queue and writes a configuration
// whose sources are the fake cluster's topics and whose sink is the bulk server.
func fileQueueSetup(t *testing.T, addr, searchURL string) (config, dlPath string) {
	t.Helper()
	dir := t.TempDir()
	dlPath = filepath.Join(dir, "dl.jsonl")
	day := time.Now().UTC().Add(-time.Hour)
	acme := vigil.Origin{Source: "partners", Topic: "partner.acme.events", Partition: 2, Offset: 41, Time: day}
	letters := []vigil.DeadLetter{
		{Kind: "event", Reason: "decode", Detail: "decode: not a JSON object", Payload: []byte("not json"), Origin: acme, Tenant: "acme"},
		{Kind: "event", Reason: "tenant", Detail: `tenant: unknown tenant "initech" in header "tenant"`, Payload: []byte(`{"a":1}`),
			Origin: vigil.Origin{Source: "partners", Topic: "partner.shared", Offset: 5}},
		{Kind: "event", Reason: "decode", Detail: "decode: not a JSON object", Payload: []byte("globex bytes"),
			Origin: vigil.Origin{Source: "partners", Topic: "partner.shared", Offset: 6}, Tenant: "globex"},
		{Kind: "event", Reason: "decode", Detail: "decode", Payload: []byte("from a file"),
			Origin: vigil.Origin{Source: "files", File: "/var/log/x.jsonl", Line: 3}, Tenant: "acme"},
		{Kind: "event", Reason: "decode", Detail: "decode", Payload: []byte("elsewhere"),
			Origin: vigil.Origin{Source: "old", Topic: "retired.topic", Offset: 1}, Tenant: "acme"},
		{Kind: "alert", Reason: "mapping", Detail: "index vigil-alerts-acme: status 400: mapper_parsing_exception",
			Payload: alertDoc("a1", "acme", day), Origin: acme, Tenant: "acme"},
		{Kind: "alert", Reason: "mapping", Detail: "index vigil-alerts-acme: status 400: mapper_parsing_exception",
			Payload: alertDoc("a2", "acme", day), Origin: acme, Tenant: "acme"},
		{Kind: "event", Reason: "oversize", Detail: "decode: record too large", Payload: bytes.Repeat([]byte("x"), 100),
			Origin: acme, Tenant: "acme"},
	}
	q, err := sinks.NewDeadLetterFile(dlPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Park(context.Background(), letters); err != nil {
		t.Fatal(err)
	}
	q.Close()
	config = filepath.Join(dir, "vigil.yaml")
	writeTestFile(t, config, fmt.Sprintf(`rules: {paths: [rules]}
tenants: [acme, globex]
sources:
  - name: partners
    type: kafka
    kafka:
      brokers: [%s]
      max_record_bytes: 64
      topics: [{name: partner.acme.events, tenant: acme}, {name: partner.shared, multi_tenant: true}]
sinks:
  - type: elasticsearch
    elasticsearch: {flavor: opensearch, urls: [%s], install_template: false}
dead_letter: {type: file, path: %s}
`, addr, searchURL, dlPath))
	return config, dlPath
}

func TestDeadLettersFileList(t *testing.T) {
	config, dl := fileQueueSetup(t, "127.0.0.1:1", "http://127.0.0.1:1")
	code, out, errOut := runVigil(t, "deadletters", "list", "-c", config)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 9 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(errOut, "8 letters in the dead-letter file") {
		t.Fatalf("list: exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
	}
	for _, want := range []string{dl + ":1  event  decode    acme    partner.acme.events/2@41", "/var/log/x.jsonl:3", "partner.shared/0@5"} {
		if !strings.Contains(out, want) {
			t.Errorf("list: %q missing from\n%s", want, out)
		}
	}
	for _, c := range []struct {
		args []string
		want []string // ids, by line number
	}{
		{[]string{"--kind", "alert"}, []string{"6", "7"}},
		{[]string{"--reason", "tenant,oversize"}, []string{"2", "8"}},
		{[]string{"--reason", "tenant", "--reason", "mapping"}, []string{"2", "6", "7"}},
		{[]string{"--tenant", "globex"}, []string{"3"}},
		{[]string{"--kind", "event", "--tenant", "acme", "--limit", "2"}, []string{"1", "4"}},
		{[]string{"--since", "1h"}, []string{"1", "2", "3", "4", "5", "6", "7", "8"}},
		{[]string{"--until", "1h"}, nil},
		{[]string{"--since", time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}, nil},
	} {
		code, out, errOut := runVigil(t, append([]string{"deadletters", "list", "-c", config, "--json"}, c.args...)...)
		if code != 0 {
			t.Errorf("list %v: exit %d, %s", c.args, code, errOut)
			continue
		}
		var got []string
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var d struct {
				ID, Kind, Reason, Tenant string
				Source                   map[string]any
				PayloadBytes             int `json:"payload_bytes"`
			}
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil || d.Kind == "" || d.Source == nil || d.PayloadBytes == 0 {
				t.Errorf("list %v: line %s: %v", c.args, sc.Text(), err)
			}
			got = append(got, strings.TrimPrefix(d.ID, dl+":"))
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("list %v: got letters %v, want %v", c.args, got, c.want)
		}
	}
}

func TestDeadLettersFileShow(t *testing.T) {
	config, dl := fileQueueSetup(t, "127.0.0.1:1", "http://127.0.0.1:1")
	code, out, errOut := runVigil(t, "deadletters", "show", "-c", config, dl+":1")
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"id " + dl + ":1 kind event reason decode tenant acme source partner.acme.events/2@41 (source partners) record time ",
		"replayed no detail decode: not a JSON object fields: @timestamp: ", "origin.offset: 41", "payload (8 bytes, not JSON): \"not json\""} {
		if code != 0 || !strings.Contains(flat, want) {
			t.Errorf("show: exit %d (%s), %q missing from\n%s", code, errOut, want, out)
		}
	}
	code, out, _ = runVigil(t, "deadletters", "show", "-c", config, dl+":6")
	if code != 0 || !strings.Contains(out, "JSON):\n{\n  \"@timestamp\"") || !strings.Contains(out, `      "id": "a1",`) {
		t.Errorf("show an alert: exit %d, want the document indented:\n%s", code, out)
	}
	if code, out, _ = runVigil(t, "deadletters", "show", "-c", config, "--raw", dl+":3"); code != 0 || out != "globex bytes" {
		t.Errorf("show --raw: exit %d, %q", code, out)
	}
	code, out, _ = runVigil(t, "deadletters", "show", "-c", config, "--json", dl+":3")
	var d map[string]any
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil || d["payload"] != "globex bytes" || d["tenant"] != "globex" ||
		d["fields"].(map[string]any)["origin.topic"] != "partner.shared" {
		t.Errorf("show --json: exit %d, %v:\n%s", code, err, out)
	}
	for _, c := range []struct {
		id, want string
	}{
		{dl + ":99", "no letter " + dl + ":99: the file has 8 lines"},
		{"other.jsonl:1", "no letter other.jsonl:1: the dead-letter queue is the file " + dl},
		{"vigil.deadletter/0/1", "want FILE:LINE"},
	} {
		if code, _, errOut := runVigil(t, "deadletters", "show", "-c", config, c.id); code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("show %s: exit %d, %q; want 1 and %q", c.id, code, errOut, c.want)
		}
	}
}

func TestDeadLettersFileReplay(t *testing.T) {
	addr := fakeKafka(t)
	search := newBulkServer(t)
	search.reject["a2"] = true // its mapping problem is not fixed yet
	config, dl := fileQueueSetup(t, addr, search.URL)
	replayLog := dl + ".replayed"
	id := func(n int) string { return fmt.Sprintf("%s:%d", dl, n) }

	// A dry run says what would happen and changes nothing.
	code, out, errOut := runVigil(t, "deadletters", "replay", "-c", config, "--all", "--dry-run")
	for _, want := range []string{
		"would replay " + id(1) + "  event  to topic partner.acme.events partition 2",
		"refused      " + id(2) + "  event  topic partner.shared is multi-tenant and the letter names no tenant",
		"would replay " + id(3) + "  event  to topic partner.shared partition 0",
		"refused      " + id(4) + "  event  the event came from the file /var/log/x.jsonl (line 3), not from a Kafka topic",
		"refused      " + id(5) + "  event  the event came from topic retired.topic, which is not a topic of any Kafka source",
		"would replay " + id(6) + "  alert  to the search sinks as alert a1",
		"would replay " + id(7) + "  alert  to the search sinks as alert a2",
		"refused      " + id(8) + "  event  the record (100 bytes) is over max_record_bytes (64) of source partners",
		"dry run: 4 would be replayed, 0 skipped as replayed already, 4 refused (1 came from a file, 1 not a source topic, 1 still oversize, 1 tenant unknown)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run: %q missing from\n%s%s", want, out, errOut)
		}
	}
	if code != 1 {
		t.Errorf("dry run with refusals: exit %d, want 1", code)
	}
	if _, err := os.Stat(replayLog); err == nil || len(partitionRecords(t, addr, "partner.acme.events", 2)) != 0 || len(search.stored()) != 0 {
		t.Fatal("the dry run wrote something")
	}

	// The replay.
	code, out, errOut = runVigil(t, "deadletters", "replay", "-c", config, "--all")
	for _, want := range []string{
		"replayed     " + id(1) + "  event  to topic partner.acme.events partition 2",
		"replayed     " + id(3) + "  event  to topic partner.shared partition 0",
		"replayed     " + id(6) + "  alert  to the search sinks as alert a1",
		"refused      " + id(7) + "  alert  the index rejected the alert again: mapping: index vigil-alerts-acme-",
		"3 replayed (2 events sent back to the source topics, 1 alert re-indexed: 1 new in the index, 0 there already), 0 skipped as replayed already, 5 refused (1 came from a file, 1 not a source topic, 1 rejected again, 1 still oversize, 1 tenant unknown)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("replay: %q missing from\n%s%s", want, out, errOut)
		}
	}
	if code != 1 {
		t.Errorf("replay with refusals: exit %d, want 1", code)
	}
	acme := partitionRecords(t, addr, "partner.acme.events", 2)
	if len(acme) != 1 || string(acme[0].Value) != "not json" || header(acme[0], sinks.HeaderReplayedFrom) != id(1) {
		t.Errorf("partner.acme.events/2: got %v, want the original bytes with the replay header", acme)
	}
	shared := partitionRecords(t, addr, "partner.shared", 0)
	if len(shared) != 1 || string(shared[0].Value) != "globex bytes" || header(shared[0], "tenant") != "globex" ||
		header(shared[0], sinks.HeaderReplayedFrom) != id(3) {
		t.Errorf("partner.shared/0: got %v, want the bytes with the tenant and replay headers", shared)
	}
	index := sinks.IndexName(sinks.DefaultIndexPrefix, "acme", time.Now().UTC().Add(-time.Hour))
	if docs := search.stored(); len(docs) != 1 || !strings.Contains(docs[index+"/a1"], `"test":{"value":"abc"}`) {
		t.Errorf("index: got %v, want a1 in %s", docs, index)
	}
	logged, err := sinks.ReadReplayLogFile(replayLog)
	if err != nil || len(logged) != 3 || logged[id(1)].To != "topic partner.acme.events partition 2" || logged[id(6)].To == "" {
		t.Errorf("replay log: got %v, %v", logged, err)
	}
	_, out, _ = runVigil(t, "deadletters", "list", "-c", config, "--kind", "event", "--reason", "decode", "--limit", "1")
	if !strings.Contains(out, " "+time.Now().UTC().Format("2006-01-02")) || strings.Contains(strings.Split(out, "\n")[1], "  -  ") {
		t.Errorf("list after the replay: the REPLAYED column should show the time:\n%s", out)
	}

	// Again: nothing is replayed twice.
	code, out, _ = runVigil(t, "deadletters", "replay", "-c", config, "--since", "1h")
	if !strings.Contains(out, "skipped      "+id(1)+"  event  already replayed ") ||
		!strings.Contains(out, "0 replayed (0 events sent back to the source topics, 0 alerts re-indexed), 3 skipped as replayed already, 5 refused") {
		t.Errorf("second replay: exit %d\n%s", code, out)
	}
	if n := len(partitionRecords(t, addr, "partner.acme.events", 2)); n != 1 {
		t.Errorf("after the second replay partner.acme.events/2 has %d records, want 1", n)
	}

	// The cause of a2 is fixed: a replay of the alerts brings it back and leaves a1 alone.
	search.mu.Lock()
	search.reject["a2"] = false
	search.mu.Unlock()
	code, out, _ = runVigil(t, "deadletters", "replay", "-c", config, "--kind", "alert")
	if code != 0 || !strings.Contains(out, "1 replayed (0 events sent back to the source topics, 1 alert re-indexed: 1 new in the index, 0 there already), 1 skipped") {
		t.Errorf("replay of the fixed alert: exit %d\n%s", code, out)
	}
	// --again replays a letter once more: the alert is in the index already and stays there once.
	code, out, _ = runVigil(t, "deadletters", "replay", "-c", config, "--again", id(6), id(1))
	if code != 0 || !strings.Contains(out, "2 replayed (1 event sent back to the source topics, 1 alert re-indexed: 0 new in the index, 1 there already)") {
		t.Errorf("replay --again: exit %d\n%s", code, out)
	}
	if docs := search.stored(); len(docs) != 2 {
		t.Errorf("index after --again: %d documents, want 2", len(docs))
	}
	if acme := partitionRecords(t, addr, "partner.acme.events", 2); len(acme) != 2 {
		t.Errorf("partner.acme.events/2 after --again: %d records, want 2", len(acme))
	}
	// Ids with --limit: the first ones only.
	code, out, errOut = runVigil(t, "deadletters", "replay", "-c", config, "--again", "--dry-run", "--limit", "1", id(1), id(3))
	if code != 0 || !strings.Contains(out, "dry run: 1 would be replayed") || strings.Contains(out, id(3)) {
		t.Errorf("replay --limit 1 with two ids: exit %d\n%s%s", code, out, errOut)
	}
	// An id given twice is one letter.
	if code, out, _ = runVigil(t, "deadletters", "replay", "-c", config, "--again", "--dry-run", id(1), id(3), id(1)); code != 0 ||
		!strings.Contains(out, "dry run: 2 would be replayed") {
		t.Errorf("replay with an id given twice: exit %d\n%s", code, out)
	}
	// Ids and filters together: the filter still applies.
	code, out, _ = runVigil(t, "deadletters", "replay", "-c", config, "--kind", "alert", id(1))
	if code != 0 || !strings.Contains(out, "0 replayed") || !strings.Contains(out, "1 not matching the filters") {
		t.Errorf("an id that does not match the filter: exit %d\n%s", code, out)
	}
}

func TestDeadLettersKafkaQueue(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "partner.acme.events"), kfake.SeedTopics(2, "dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	dlq, err := sinks.NewKafkaDeadLetter(context.Background(), sinks.KafkaDeadLetterConfig{Config: kafkaconn.Config{Brokers: []string{addr}}, Topic: "dlq"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	origin := vigil.Origin{Source: "partners", Topic: "partner.acme.events", Partition: 1, Offset: 9}
	if err := dlq.Park(context.Background(), []vigil.DeadLetter{
		{Kind: "event", Reason: "decode", Detail: "decode: not a JSON object", Payload: []byte("bad 1"), Origin: origin, Tenant: "acme"},
		{Kind: "event", Reason: "oversize", Detail: "too large", Payload: []byte("bad 2"), Origin: origin, Tenant: "acme"},
	}); err != nil {
		t.Fatal(err)
	}
	dlq.Close()
	config := filepath.Join(t.TempDir(), "vigil.yaml")
	writeTestFile(t, config, fmt.Sprintf(`rules: {paths: [rules]}
sources: [{name: partners, type: kafka, kafka: {brokers: [%s], topics: [{name: partner.acme.events, tenant: acme}]}}]
sinks: [{type: stdout}]
dead_letter: {type: kafka, kafka: {topic: dlq}}
`, addr))

	code, out, errOut := runVigil(t, "deadletters", "list", "-c", config, "--json")
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var d struct{ ID string }
		json.Unmarshal([]byte(line), &d)
		ids = append(ids, d.ID)
	}
	if code != 0 || len(ids) != 2 || !strings.HasPrefix(ids[0], "dlq/") || !strings.Contains(errOut, "2 letters in the dead-letter topic dlq") {
		t.Fatalf("list: exit %d, %s\n%s", code, out, errOut)
	}
	if code, out, _ := runVigil(t, "deadletters", "show", "-c", config, ids[1]); code != 0 || !strings.Contains(out, "vigil.reason: oversize") ||
		!strings.Contains(out, `"bad 2"`) {
		t.Errorf("show %s: exit %d\n%s", ids[1], code, out)
	}
	if code, _, errOut := runVigil(t, "deadletters", "show", "-c", config, "dlq/0/999"); code != 1 || !strings.Contains(errOut, "no letter dlq/0/999") {
		t.Errorf("show a missing letter: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runVigil(t, "deadletters", "replay", "-c", config, ids[0], "dlq/1/999"); code != 1 || !strings.Contains(errOut, "no letter dlq/1/999") {
		t.Errorf("replay with a missing letter: exit %d, %s", code, errOut)
	}
	if got := partitionRecords(t, addr, "partner.acme.events", 1); len(got) != 0 {
		t.Fatalf("a replay with a missing id replayed %d records", len(got))
	}

	code, out, errOut = runVigil(t, "deadletters", "replay", "-c", config, "--reason", "decode")
	if code != 0 || !strings.Contains(out, "replayed     "+ids[0]+"  event  to topic partner.acme.events partition 1") {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	got := partitionRecords(t, addr, "partner.acme.events", 1)
	if len(got) != 1 || string(got[0].Value) != "bad 1" || header(got[0], sinks.HeaderReplayedFrom) != ids[0] {
		t.Errorf("source topic: got %v", got)
	}
	logged := partitionRecords(t, addr, sinks.ReplayLogTopic("dlq"), 0)
	if len(logged) != 1 || string(logged[0].Key) != ids[0] {
		t.Errorf("replay log topic: got %v, want one record keyed %s", logged, ids[0])
	}
	code, out, _ = runVigil(t, "deadletters", "replay", "-c", config, "--all")
	if code != 0 || !strings.Contains(out, "1 replayed") || !strings.Contains(out, "1 skipped as replayed already") {
		t.Errorf("replay --all: exit %d\n%s", code, out)
	}
	code, out, _ = runVigil(t, "deadletters", "list", "-c", config, "--json", "--reason", "decode")
	if !strings.Contains(out, `"replayed":{"at":"`) {
		t.Errorf("list after the replay: want the replay in the JSON:\n%s", out)
	}
}

func TestDeadLettersErrors(t *testing.T) {
	dir := t.TempDir()
	conf := func(name, text string) string {
		p := filepath.Join(dir, name)
		writeTestFile(t, p, text)
		return p
	}
	base := "rules: {paths: [rules]}\nsources: [{type: file, file: {paths: [x.jsonl], tenant: acme}}]\nsinks: [{type: stdout}]\n"
	implicit := conf("implicit.yaml", base)
	explicit := conf("explicit.yaml", base+"dead_letter: {type: file, path: "+filepath.Join(dir, "none.jsonl")+"}\n")
	unreachable := conf("unreachable.yaml", base+"dead_letter: {type: kafka, kafka: {brokers: [\"127.0.0.1:1\"], connect_timeout: 1s}}\n")
	existing := filepath.Join(dir, "dl.jsonl")
	writeTestFile(t, existing, "")
	empty := conf("empty.yaml", base+"dead_letter: {type: file, path: "+existing+"}\n")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"deadletters"}, 2, "usage: vigil deadletters list|show|replay"},
		{[]string{"deadletters", "purge"}, 2, "usage:"},
		{[]string{"deadletters", "list"}, 2, "-c CONFIG is required"},
		{[]string{"deadletters", "list", "-c", filepath.Join(dir, "nope.yaml")}, 2, "config: open"},
		{[]string{"deadletters", "list", "-c", conf("bad.yaml", "rules: {paths: [r]}\nsinks: [{type: stdout}]\n")}, 2, "sources: at least one source is required"},
		{[]string{"deadletters", "list", "-c", implicit}, 1, "no dead-letter queue: " + implicit + " does not set dead_letter, so letters go to the file deadletters.jsonl, which does not exist"},
		{[]string{"deadletters", "list", "-c", explicit}, 1, "none.jsonl (dead_letter.path) does not exist: nothing has been parked there yet"},
		{[]string{"deadletters", "list", "-c", unreachable}, 1, "dead-letter queue: kafka topic vigil.deadletter: connect to 127.0.0.1:1"},
		{[]string{"deadletters", "list", "-c", empty, "--kind", "records"}, 2, `--kind: "records" is neither event nor alert`},
		{[]string{"deadletters", "list", "-c", empty, "--since", "last week"}, 2, "--since:"},
		{[]string{"deadletters", "list", "-c", empty, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"deadletters", "list", "-c", empty}, 0, "0 letters in the dead-letter file"},
		{[]string{"deadletters", "show", "-c", empty}, 2, "usage:"},
		{[]string{"deadletters", "show", "-c", empty, existing + ":1"}, 1, "no letter " + existing + ":1: the file has 0 lines"},
		{[]string{"deadletters", "replay", "-c", empty}, 2, "say which letters: IDs, a filter"},
		{[]string{"deadletters", "replay", "-c", empty, "--all"}, 0, "0 replayed"},
	} {
		start := time.Now()
		code, out, errOut := runVigil(t, c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", c.args[1:], code, out, errOut, c.code, c.want)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("%v: took %s", c.args[1:], d)
		}
	}
	// A Kafka queue whose topic does not exist.
	fc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	missing := conf("missing.yaml", base+"dead_letter: {type: kafka, kafka: {brokers: ["+fc.ListenAddrs()[0]+"], topic: parked}}\n")
	if code, _, errOut := runVigil(t, "deadletters", "list", "-c", missing); code != 1 ||
		!strings.Contains(errOut, "dead-letter topic parked (dead_letter.kafka.topic) does not exist on") {
		t.Errorf("missing topic: exit %d, %q", code, errOut)
	}
}

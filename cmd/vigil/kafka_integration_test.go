//go:build integration

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/testenv"
)

// These tests run the vigil binary, as a user does, against the real Kafka broker started by testenv/run.

// buildVigil compiles the command into a temporary folder.
func buildVigil(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// vigilProc is a running `vigil run`.
type vigilProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func startVigil(t testing.TB, bin, config string, env ...string) *vigilProc {
	t.Helper()
	return startCommand(t, bin, []string{"run", "-c", config}, env...)
}

// startCommand runs `vigil ARGS...` from the repository root; it is killed at the end of the test if still running.
func startCommand(t testing.TB, bin string, args []string, env ...string) *vigilProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	// The shipped configurations serve metrics on 127.0.0.1:9464 by default: any free port here, so that runs do
	// not collide with each other or with a Vigil on this machine.
	cmd.Env = append(append(os.Environ(), "VIGIL_METRICS_ADDR=127.0.0.1:0"), env...)
	cmd.Dir = repoRoot(t)
	p := &vigilProc{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = syncWriter{p.stderr}
	cmd.Stdout = syncWriter{p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start vigil: %v", err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// syncWriter lets the test read the log while the process writes it.
type syncWriter struct{ b *bytes.Buffer }

var logMu = make(chan struct{}, 1)

func (w syncWriter) Write(p []byte) (int, error) {
	logMu <- struct{}{}
	defer func() { <-logMu }()
	return w.b.Write(p)
}

func (p *vigilProc) log() string {
	logMu <- struct{}{}
	defer func() { <-logMu }()
	return p.stderr.String()
}

// stop sends sig and waits for the exit.
func (p *vigilProc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		return err
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatalf("vigil did not exit within 60s of %v; log:\n%s", sig, p.log())
		return nil
	}
}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// kafkaProduce writes the records, retrying while a just-created topic is still unknown to the writer.
func kafkaProduce(t testing.TB, addr, topic string, msgs []kafka.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for {
		w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond,
			BatchSize: 2000, RequiredAcks: kafka.RequireAll, AllowAutoTopicCreation: true}
		err := w.WriteMessages(ctx, msgs...)
		w.Close()
		if err == nil {
			return
		}
		if !errors.Is(err, kafka.UnknownTopicOrPartition) && !errors.Is(err, kafka.LeaderNotAvailable) || ctx.Err() != nil {
			t.Fatalf("produce to %s: %.500s", topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// topicPrefix names the partners' topics of one test run of a shipped configuration (VIGIL_TOPIC_PREFIX), so that
// it reads its own events only.
func topicPrefix(t *testing.T) string { return testenv.UniqueName(t, "partner-") }

// correlateEnv gives one run of a shipped Kafka configuration a correlation stage of its own (consumer group, match
// topic, changelog), so that no window or watermark carries over from another test over the same events.
func correlateEnv(t *testing.T) []string {
	name := testenv.UniqueName(t, "vigil-correlate-")
	return []string{"VIGIL_CORRELATE_GROUP=" + name, "VIGIL_CORRELATE_TOPIC=" + name + ".matches",
		"VIGIL_CORRELATE_CHANGELOG_TOPIC=" + name + ".state"}
}

// groupAtEnd reports whether the group's committed offsets equal the topic's end offsets on every partition.
func groupAtEnd(t testing.TB, addr, group, topic string, partitions int) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(addr)}
	ids := make([]int, partitions)
	lreq := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for i := range ids {
		ids[i] = i
		lreq.Topics[topic] = append(lreq.Topics[topic], kafka.LastOffsetOf(i))
	}
	got, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	ends, err := c.ListOffsets(ctx, lreq)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	committed, end := make([]int64, partitions), make([]int64, partitions)
	for _, p := range got.Topics[topic] {
		committed[p.Partition] = p.CommittedOffset
	}
	for _, p := range ends.Topics[topic] {
		end[p.Partition] = p.LastOffset
	}
	desc := fmt.Sprintf("committed %v, ends %v", committed, end)
	return fmt.Sprint(committed) == fmt.Sprint(end), desc
}

// alertFile reads the alert ids of a JSON Lines alert file. A line cut by a killed process is counted, not parsed:
// its batch was never acked, so its alerts are written again after the restart.
func alertFile(t testing.TB, path string) (ids map[string]int, tenants map[string]string, cut int) {
	t.Helper()
	ids, tenants = map[string]int{}, map[string]string{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return ids, tenants, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var doc struct {
			Vigil struct {
				Alert struct {
					ID     string `json:"id"`
					Tenant string `json:"tenant"`
				} `json:"alert"`
			} `json:"vigil"`
			Event struct {
				ID string `json:"id"`
			} `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil || doc.Vigil.Alert.ID == "" {
			cut++
			continue
		}
		ids[doc.Vigil.Alert.ID]++
		tenants[doc.Vigil.Alert.ID] = doc.Vigil.Alert.Tenant
	}
	return ids, tenants, cut
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// crashRules are the rules of the crash test: one for every tenant, one for acme only, one on a number.
const crashRules = `id: test.auth_failure
name: Authentication failure
severity: medium
condition: event.category == "authentication" && event.outcome == "failure"
---
id: test.mimikatz
name: Mimikatz
severity: high
tenants: [acme]
condition: process.name == "mimikatz.exe"
---
id: test.port_4444
name: Connection to port 4444
severity: low
condition: destination.port == 4444
`

// crashEvent is event i of the crash test: its tenant and JSON. About a third of the events match a rule.
func crashEvent(i int) (string, []byte) {
	tenant := []string{"acme", "globex"}[i%2]
	ev := map[string]any{
		"@timestamp": time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format(time.RFC3339),
		"event":      map[string]any{"id": fmt.Sprintf("crash-%05d", i), "category": "network"},
		"host":       map[string]any{"name": fmt.Sprintf("host-%d", i%17)},
	}
	switch {
	case i%5 == 0:
		ev["event"] = map[string]any{"id": fmt.Sprintf("crash-%05d", i), "category": "authentication", "outcome": "failure"}
		ev["source"] = map[string]any{"ip": fmt.Sprintf("203.0.113.%d", i%250)}
	case i%7 == 0:
		ev["event"] = map[string]any{"id": fmt.Sprintf("crash-%05d", i), "category": "process"}
		ev["process"] = map[string]any{"name": "mimikatz.exe", "pid": i}
	case i%11 == 0:
		ev["destination"] = map[string]any{"port": 4444, "ip": "198.51.100.7"}
	}
	b, _ := json.Marshal(ev)
	return tenant, b
}

// replayExpected computes the alert ids `vigil replay` gives for the events of each tenant.
func replayExpected(t *testing.T, bin, rulesDir string, byTenant map[string][][]byte) map[string]string {
	t.Helper()
	return replayExpectedWith(t, bin, byTenant, nil, "--rules", rulesDir)
}

// replayExpectedWith is replayExpected with the replay's rule and enrichment arguments (--rules, --enrich) and
// environment given, run from the repository root as `vigil run` is by startVigil: the expectation of a shipped
// configuration, with its rules and its lookup tables.
func replayExpectedWith(t *testing.T, bin string, byTenant map[string][][]byte, env []string, args ...string) map[string]string {
	t.Helper()
	want := map[string]string{}
	dir := t.TempDir()
	for tenant, events := range byTenant {
		in, out := filepath.Join(dir, tenant+".jsonl"), filepath.Join(dir, tenant+"-alerts.jsonl")
		writeFile(t, in, string(bytes.Join(events, []byte("\n")))+"\n")
		replay := append(append([]string{"replay"}, args...), "--input", in, "--tenant", tenant, "--output", out)
		cmd := exec.Command(bin, replay...)
		cmd.Env, cmd.Dir = append(os.Environ(), env...), repoRoot(t)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("vigil replay: %v\n%s", err, msg)
		}
		ids, _, _ := alertFile(t, out)
		for id := range ids {
			want[id] = tenant
		}
	}
	return want
}

// TestKafkaCrashSafety kills vigil abruptly in the middle of a run and starts it again: every expected alert is
// written, nothing else is, and the group's offsets reach the end of every partition.
func TestKafkaCrashSafety(t *testing.T) {
	addr := testenv.Kafka(t)
	const total, partitions = 20000, 3
	topic := testenv.CreateTopic(t, addr, partitions)
	dlTopic := testenv.CreateTopic(t, addr, 1)
	group := testenv.UniqueName(t, "vigil-group-")
	bin := buildVigil(t)
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(rulesDir, "crash.yml"), crashRules)

	byTenant := map[string][][]byte{}
	msgs := make([]kafka.Message, total)
	for i := range msgs {
		tenant, raw := crashEvent(i)
		byTenant[tenant] = append(byTenant[tenant], raw)
		msgs[i] = kafka.Message{Key: []byte(fmt.Sprint(i)), Value: raw,
			Headers: []kafka.Header{{Key: "tenant", Value: []byte(tenant)}}}
	}
	want := replayExpected(t, bin, rulesDir, byTenant)
	if len(want) < total/4 {
		t.Fatalf("replay expects %d alerts; the test needs many", len(want))
	}

	alerts := filepath.Join(dir, "alerts.jsonl")
	config := filepath.Join(dir, "vigil.yaml")
	writeFile(t, config, fmt.Sprintf(`rules: {paths: [%s]}
tenants: [acme, globex]
sources:
  - name: partners
    type: kafka
    kafka:
      brokers: [%s]
      group_id: %s
      topics: [{name: %s, multi_tenant: true}]
      batch_size: 100
      session_timeout: 6s
      heartbeat_interval: 500ms
      rebalance_timeout: 10s
      revoke_timeout: 2s
      lag_interval: 1s
sinks: [{type: file, file: {path: %s}}]
dead_letter: {type: kafka, kafka: {topic: %s}}
pipeline: {max_in_flight: 4}
log: {format: json}
`, rulesDir, addr, group, topic, alerts, dlTopic))

	// First run: half of the records are there at the start, more arrive while it runs; it is killed (SIGKILL: no
	// drain, no commit) once it has written a third of the alerts, while records are still arriving.
	kafkaProduce(t, addr, topic, msgs[:total/2])
	first := startVigil(t, bin, config)
	deadline := time.Now().Add(90 * time.Second)
	next := total / 2
	for {
		ids, _, _ := alertFile(t, alerts)
		if len(ids) >= len(want)/3 && next >= total*3/4 {
			if len(ids) >= len(want) {
				t.Fatalf("the first run wrote all %d alerts before it could be killed", len(ids))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first run wrote %d alerts in 90s; log:\n%s", len(ids), first.log())
		}
		if next < total {
			kafkaProduce(t, addr, topic, msgs[next:next+500])
			next += 500
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	_ = first.stop(t, syscall.SIGKILL)
	atKill, _, _ := alertFile(t, alerts)
	_, offsets := groupAtEnd(t, addr, group, topic, partitions)
	t.Logf("killed the first run after %d of %d alerts (%s)", len(atKill), len(want), offsets)
	if next < total {
		kafkaProduce(t, addr, topic, msgs[next:])
	}

	// Second run: resumes from the committed offsets.
	second := startVigil(t, bin, config)
	deadline = time.Now().Add(120 * time.Second)
	for {
		ids, _, _ := alertFile(t, alerts)
		atEnd, desc := groupAtEnd(t, addr, group, topic, partitions)
		if atEnd && len(ids) >= len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second run: %d of %d alerts, %s after 120s; log:\n%s", len(ids), len(want), desc, second.log())
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := second.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("second run exited with %v after SIGTERM; log:\n%s", err, second.log())
	}

	got, tenants, cut := alertFile(t, alerts)
	missing, extra, dups := 0, 0, 0
	for id, tenant := range want {
		if got[id] == 0 {
			missing++
		} else if tenants[id] != tenant {
			t.Errorf("alert %s: tenant %q, want %q", id, tenants[id], tenant)
		}
	}
	for id, n := range got {
		if _, ok := want[id]; !ok {
			extra++
		}
		dups += n - 1
	}
	if missing > 0 || extra > 0 {
		t.Errorf("after the crash and restart: %d expected alerts missing, %d unexpected alerts (want 0 and 0)", missing, extra)
	}
	if atEnd, desc := groupAtEnd(t, addr, group, topic, partitions); !atEnd {
		t.Errorf("group offsets not at the end of every partition: %s", desc)
	}
	if !strings.Contains(second.log(), `"msg":"kafka consumer lag"`) {
		t.Errorf("the second run never logged the consumer lag; log:\n%s", second.log())
	}
	t.Logf("%d expected alerts all written; %d written again after the crash (de-duplicated by id); %d cut lines",
		len(want), dups, cut)
}

// TestKafkaToFileExample runs configs/kafka-to-file.yaml as shipped, with the shipped rules, against the broker:
// the partners' events become alerts in the file, a bad record lands in vigil.deadletter.
func TestKafkaToFileExample(t *testing.T) {
	addr := testenv.Kafka(t)
	bin := buildVigil(t)
	root := repoRoot(t)
	set, err := rules.Load(filepath.Join(root, "configs", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	// The events the shipped rules' own tests expect to match, made unique to this run.
	run := testenv.UniqueName(t, "")
	byTenant := map[string][][]byte{}
	var n int
	for _, r := range set {
		for _, tc := range r.Tests {
			if tc.Expect != "match" {
				continue
			}
			for _, tenant := range []string{"acme", "globex"} {
				if tc.Tenant != "" && tc.Tenant != tenant {
					continue
				}
				ev := map[string]any{}
				for k, v := range tc.Event {
					ev[k] = v
				}
				ev["event.id"] = fmt.Sprintf("%s-%d", run, n)
				n++
				raw, err := json.Marshal(ev)
				if err != nil {
					t.Fatalf("rule %s test %q: %v", r.ID, tc.Name, err)
				}
				byTenant[tenant] = append(byTenant[tenant], raw)
			}
		}
	}
	alerts := filepath.Join(t.TempDir(), "alerts.jsonl")
	group := testenv.UniqueName(t, "vigil-group-")
	config := filepath.Join(root, "configs", "kafka-to-file.yaml")
	prefix := topicPrefix(t)
	env := append(correlateEnv(t), "VIGIL_KAFKA_BROKERS="+addr, "VIGIL_ALERTS_FILE="+alerts, "VIGIL_KAFKA_GROUP="+group,
		"VIGIL_TOPIC_PREFIX="+prefix)
	// What the configuration's rules (configs/rules and configs/rules-intel) and lookup tables give.
	want := replayExpectedWith(t, bin, byTenant, env, "--rules", filepath.Join(root, "configs", "rules"),
		"--rules", filepath.Join(root, "configs", "rules-intel"), "--enrich", config)
	if len(want) == 0 {
		t.Fatal("the shipped rules' tests give no alert to look for")
	}
	for tenant, events := range byTenant {
		var msgs []kafka.Message
		for _, raw := range events {
			msgs = append(msgs, kafka.Message{Value: raw})
		}
		if tenant == "acme" {
			msgs = append(msgs, kafka.Message{Value: []byte("not json " + run)})
		}
		kafkaProduce(t, addr, prefix+"."+tenant+".events", msgs) // the broker creates the topics
	}

	p := startVigil(t, bin, config, env...)
	// correlation and suppressed alerts come once the idle timeout (1m) moves the watermark past the last events
	deadline := time.Now().Add(180 * time.Second)
	for {
		got, tenants, _ := alertFile(t, alerts)
		complete := true
		for id, tenant := range want {
			if got[id] == 0 || tenants[id] != tenant {
				complete = false
			}
		}
		if complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d expected alerts after 180s; log:\n%s", len(got), len(want), p.log())
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("vigil exited with %v after SIGTERM; log:\n%s", err, p.log())
	}
	// The bad record is in the dead-letter topic with its reason.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: group + "-dlq", GroupTopics: []string{"vigil.deadletter"},
		StartOffset: kafka.FirstOffset, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("the bad record is not in vigil.deadletter: %v", err)
		}
		if string(m.Value) != "not json "+run {
			continue
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if h["vigil.reason"] != "decode" || h["vigil.source.topic"] != prefix+".acme.events" || h["vigil.tenant"] != "acme" {
			t.Errorf("dead letter headers %v", h)
		}
		break
	}
}

// BenchmarkKafkaToFile measures Kafka → rules → file with the vigil binary: 200,000 events (configs/samples
// repeated, each with a unique event.id) on two partner topics of 3 partitions, the shipped rules, alerts to a file.
// The rate counts from the group's first join to the moment its committed offsets reach the end of every
// partition, so it includes every commit but not the process start-up.
//
//	testenv/run -- go test -tags integration -run '^$' -bench KafkaToFile -benchtime 1x ./cmd/vigil
func BenchmarkKafkaToFile(b *testing.B) {
	addr := testenv.Kafka(b)
	root, _ := filepath.Abs("../..")
	const total = 200000
	samples := shippedSamples(b)
	topics := []string{testenv.CreateTopic(b, addr, 3), testenv.CreateTopic(b, addr, 3)}
	run := testenv.UniqueName(b, "")
	for ti, topic := range topics {
		msgs := make([]kafka.Message, 0, total/2)
		for i := ti; i < total; i += 2 {
			msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: withEventID(b, samples[i%len(samples)],
				fmt.Sprintf("%s-%d", run, i))})
		}
		kafkaProduce(b, addr, topic, msgs)
	}
	bin := buildVigil(b)
	dir := b.TempDir()
	group := testenv.UniqueName(b, "vigil-bench-")
	config := filepath.Join(dir, "vigil.yaml")
	alerts := filepath.Join(dir, "alerts.jsonl")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`rules: {paths: [%s]}
tenants: [acme, globex]
sources:
  - name: partners
    type: kafka
    kafka:
      brokers: [%s]
      group_id: %s
      topics: [{name: %s, tenant: acme}, {name: %s, tenant: globex}]
sinks: [{type: file, file: {path: %s}}]
dead_letter: {type: file, path: %s}
log: {format: json}
`, filepath.Join(root, "configs", "rules"), addr, group, topics[0], topics[1], alerts,
		filepath.Join(dir, "dl.jsonl"))), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cmd, read := startLogged(b, bin, "run", "-c", config)
	joined := waitConsumed(b, read, addr, group, topics, 3, 5*time.Minute)
	took := time.Since(joined)
	b.StopTimer()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	ids, _, _ := alertFile(b, alerts)
	b.ReportMetric(float64(total)/took.Seconds(), "events/s")
	b.ReportMetric(float64(len(ids)), "alerts")
	b.Logf("%d events in %s: %.0f events/s, %d alerts; vigil used %s user + %s system CPU (whole process life)",
		total, took.Round(time.Millisecond), float64(total)/took.Seconds(), len(ids),
		cmd.ProcessState.UserTime().Round(time.Millisecond), cmd.ProcessState.SystemTime().Round(time.Millisecond))
}

// shippedSamples are the lines of the shipped sample events (configs/samples: attacks, then benign).
func shippedSamples(t testing.TB) [][]byte {
	t.Helper()
	var samples [][]byte
	for _, f := range []string{"attacks.jsonl", "benign.jsonl"} {
		data, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "samples", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) > 0 {
				samples = append(samples, line)
			}
		}
	}
	return samples
}

// startLogged starts `vigil ARGS...` from the repository root and returns it with a function that reads its log
// (stderr) so far; the process is killed at the end of the test if it still runs.
func startLogged(t testing.TB, bin string, args ...string) (*exec.Cmd, func() string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = repoRoot(t)
	var log bytes.Buffer
	cmd.Stderr = syncWriter{&log}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, func() string { logMu <- struct{}{}; defer func() { <-logMu }(); return log.String() }
}

// waitConsumed waits until the log of `vigil run` (read) says it joined its consumer group, then until the group has
// committed the end of every partition of topics, for at most limit; it returns when the group was joined.
func waitConsumed(t testing.TB, read func() string, addr, group string, topics []string, partitions int, limit time.Duration) time.Time {
	t.Helper()
	var joined time.Time
	for deadline := time.Now().Add(limit); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not done in %s; log:\n%s", limit, read())
		}
		if joined.IsZero() {
			if strings.Contains(read(), "joined consumer group") {
				joined = time.Now()
			}
			continue
		}
		done := true
		for _, topic := range topics {
			if ok, _ := groupAtEnd(t, addr, group, topic, partitions); !ok {
				done = false
			}
		}
		if done {
			return joined
		}
	}
}

// withEventID makes a sample event unique by prefixing its event.id with id, leaving every other byte as it is
// (re-encoding would reorder keys, which changes how dotted and nested keys merge).
func withEventID(t testing.TB, raw []byte, id string) []byte {
	const marker = `"event":{"id":"`
	if !bytes.Contains(raw, []byte(marker)) {
		t.Fatalf("sample without %s: %.80s", marker, raw)
	}
	return bytes.Replace(raw, []byte(marker), []byte(marker+id+"-"), 1)
}

// TestKafkaToFileExampleSASL runs configs/kafka-to-file.yaml against the SASL/PLAIN listener: with the right password
// vigil joins the group; with a wrong one it stops at start-up with a clear error instead of retrying.
func TestKafkaToFileExampleSASL(t *testing.T) {
	addr, user, password := testenv.KafkaSASL(t)
	plain := testenv.Kafka(t)
	bin := buildVigil(t)
	root := repoRoot(t)
	for _, topic := range []string{"partner.acme.events", "partner.globex.events"} {
		kafkaProduce(t, plain, topic, []kafka.Message{{Value: []byte(`{"event":{"id":"sasl-example"}}`)}})
	}
	env := func(pw string) []string {
		return append(correlateEnv(t), "VIGIL_KAFKA_BROKERS="+addr, "VIGIL_ALERTS_FILE="+filepath.Join(t.TempDir(), "alerts.jsonl"),
			"VIGIL_KAFKA_GROUP="+testenv.UniqueName(t, "vigil-group-"), "VIGIL_KAFKA_SASL_MECHANISM=PLAIN",
			"VIGIL_KAFKA_USER="+user, "VIGIL_KAFKA_PASSWORD="+pw)
	}
	config := filepath.Join(root, "configs", "kafka-to-file.yaml")

	wrong := startVigil(t, bin, config, env("not-the-password")...)
	select {
	case err := <-wrong.done:
		if err == nil || !strings.Contains(wrong.log(), `SASL authentication failed for user \"`+user+`\"`) {
			t.Errorf("wrong password: exit %v, log:\n%s\nwant a failure naming the SASL authentication and the user", err, wrong.log())
		}
		if strings.Contains(wrong.log(), "not-the-password") {
			t.Error("the password appears in the log")
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("wrong password: vigil still running after 20s; log:\n%s", wrong.log())
	}

	right := startVigil(t, bin, config, env(password)...)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(right.log(), "joined consumer group") {
		if time.Now().After(deadline) {
			t.Fatalf("vigil did not join the group over SASL within 60s; log:\n%s", right.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := right.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("exit %v after SIGTERM; log:\n%s", err, right.log())
	}
}

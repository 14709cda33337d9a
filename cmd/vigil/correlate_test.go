package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// correlationRules are a failed logon rule, correlation input only, and a brute force over it.
const correlationRules = `id: t.fail
name: failed logon
severity: low
condition: event.outcome == "failure"
---
id: t.brute
name: brute force
severity: high
correlation:
  type: event_count
  rules: [t.fail]
  group_by: [user.name]
  timespan: 1m
  condition: {gte: 5}
`

func loadTestConfig(t *testing.T, text string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	writeTestFile(t, path, text)
	return loadConfig(path)
}

func TestCorrelateConfig(t *testing.T) {
	const base = "rules: {paths: [r]}\nsinks: [{type: stdout}]\n"
	const kafkaSource = "sources: [{type: kafka, kafka: {brokers: [\"k1:9092\"], sasl: {mechanism: PLAIN, username: u, password: p}, topics: [{name: t, tenant: acme}]}}]\n"
	cfg, err := loadTestConfig(t, base+kafkaSource+"correlate: {kafka: {}}\n")
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Correlate
	if got := fmt.Sprintf("%v %s %v", c.Kafka.Brokers, c.Kafka.SASL.Username, *c.Stage); got != "[k1:9092] u true" {
		t.Errorf("correlate.kafka {}: got brokers, sasl user, stage %s; want the source's connection and the stage on", got)
	}
	if kc := c.KafkaConfig.WithDefaults(); kc.Topic != "vigil.matches" || kc.ChangelogTopic != "vigil.correlation-state" ||
		kc.Partitions != 12 || kc.GroupID != "vigil-correlate" {
		t.Errorf("defaults: got %+v", kc)
	}
	cfg, err = loadTestConfig(t, base+"sources: [{type: file, file: {paths: [x], tenant: acme}}]\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Correlate.Kafka != nil {
		t.Errorf("without a kafka block: got %+v, want in-process (nil)", cfg.Correlate.Kafka)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"detection only without kafka", "sources: [{type: file, file: {paths: [x], tenant: acme}}]\ncorrelate: {stage: false}\n",
			"correlate.stage: false (detection only) needs correlate.kafka"},
		{"no brokers anywhere", "sources: [{type: file, file: {paths: [x], tenant: acme}}]\ncorrelate: {kafka: {}}\n",
			"correlate: kafka: brokers: at least one broker"},
		{"same topics", kafkaSource + "correlate: {kafka: {}, topic: x, changelog_topic: x}\n", "must differ"},
		{"revoke above rebalance", kafkaSource + "correlate: {kafka: {}, revoke_timeout: 1m}\n", "correlate: revoke_timeout"},
		{"unknown key", kafkaSource + "correlate: {kafka: {}, topics: x}\n", "field topics not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadTestConfig(t, base+tc.yaml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestRunRefusesCorrelationsOnKafkaWithoutTopic: a Kafka source with correlation rules and no correlate.kafka stops
// at start-up, before connecting anywhere, with an error that names the option.
func TestRunRefusesCorrelationsOnKafkaWithoutTopic(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "rules.yml"), correlationRules)
	cfg, err := loadTestConfig(t, fmt.Sprintf(`rules: {paths: [%s]}
sources: [{type: kafka, kafka: {brokers: ["127.0.0.1:1"], topics: [{name: t, tenant: acme}]}}]
sinks: [{type: file, file: {path: %s/alerts.jsonl}}]
dead_letter: {path: %s/dead.jsonl}
`, dir, dir, dir))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = runPipelines(ctx, cfg, stdio{in: strings.NewReader(""), out: io.Discard, err: io.Discard}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "set correlate.kafka") || !strings.Contains(err.Error(), "t.brute") {
		t.Errorf("got %v, want a start-up error naming correlate.kafka and the correlation", err)
	}
}

// TestRunCorrelatesOnKafka: with correlate.kafka, `vigil run` publishes the matches of a (followed) file source to the
// match topic and its correlation stage writes the correlation alert to the sink, complete once the partition's
// watermark follows the clock (idle_timeout); it stops cleanly.
func TestRunCorrelatesOnKafka(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "rules.yml"), correlationRules)
	var events bytes.Buffer
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range 7 {
		fmt.Fprintf(&events, `{"@timestamp":%q,"event":{"id":"e%d","outcome":"failure"},"user":{"name":"bob"}}`+"\n",
			t0.Add(time.Duration(i)*5*time.Second).Format(time.RFC3339), i)
	}
	writeTestFile(t, filepath.Join(dir, "events.jsonl"), events.String())
	cfg, err := loadTestConfig(t, fmt.Sprintf(`rules: {paths: [%s]}
sources: [{type: file, file: {paths: [%s/events.jsonl], tenant: acme, follow: true}}]
sinks: [{type: file, file: {path: %s/alerts.jsonl}}]
dead_letter: {path: %s/dead.jsonl}
correlate:
  allowed_lateness: 1s
  idle_timeout: 1s              # then the watermark follows the clock past the last failure
  kafka: {brokers: [%q]}
  partitions: 3
  session_timeout: 6s
  heartbeat_interval: 200ms
  rebalance_timeout: 5s
  revoke_timeout: 1s
`, dir, dir, dir, dir, cluster.ListenAddrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runPipelines(ctx, cfg, stdio{in: strings.NewReader(""), out: io.Discard, err: io.Discard},
			slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	alerts := filepath.Join(dir, "alerts.jsonl")
	var count any
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if data, _ := os.ReadFile(alerts); len(data) > 0 {
			docs := readAlertDocs(t, alerts)
			last := docs[len(docs)-1]
			count = last["vigil"].(map[string]any)["correlation"].(map[string]any)["count"]
			if count == float64(7) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no brute-force alert of count 7 within 30s (last count %v); log:\n%s", count, logs.String())
		}
	}
	for _, doc := range readAlertDocs(t, alerts) {
		if id := doc["rule"].(map[string]any)["id"]; id != "t.brute" {
			t.Errorf("alert of rule %v written; want only t.brute (t.fail is correlation input only)", id)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: got %v, want a clean stop; log:\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not stop within 30s; log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "correlation stage stopped") {
		t.Errorf("the stage did not report its stop; log:\n%s", logs.String())
	}
}

// TestShippedKafkaConfigsCorrelateOnKafka: the shipped configurations with Kafka sources run correlation on Kafka
// with the source's connection, so the shipped correlation rules start.
func TestShippedKafkaConfigsCorrelateOnKafka(t *testing.T) {
	t.Setenv("VIGIL_KAFKA_BROKERS", "k1:9092")
	t.Setenv("VIGIL_ALERTS_FILE", "/tmp/alerts.jsonl")
	t.Setenv("VIGIL_SEARCH_URLS", "http://127.0.0.1:9200")
	for _, name := range []string{"kafka-to-file.yaml", "kafka-to-search.yaml", "docker.yaml"} {
		cfg, err := loadConfig(filepath.Join("../../configs", name))
		if err != nil {
			t.Fatal(err)
		}
		k := cfg.Correlate.Kafka
		if k == nil || fmt.Sprint(k.Brokers) != "[k1:9092]" || !*cfg.Correlate.Stage {
			t.Errorf("%s: correlate.kafka %+v, stage %v; want the source's brokers and a stage", name, k, *cfg.Correlate.Stage)
		}
	}
}

// TestReloadedCorrelationsRefusedWithoutTopic: where correlation rules are refused (Kafka sources, no correlate.kafka),
// a reload that brings some logs an error naming the option each time, and nothing is evaluated.
func TestReloadedCorrelationsRefusedWithoutTopic(t *testing.T) {
	env, err := newRuleEnv()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "rules.yml"), correlationRules)
	set, err := env.LoadSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	c := &correlation{refuse: true, correlator: refusedCorrelator{}, log: slog.New(slog.NewTextHandler(&logs, nil))}
	c.swapped(set)
	if got := logs.String(); !strings.Contains(got, "correlation rules are not evaluated") ||
		!strings.Contains(got, "set correlate.kafka") || !strings.Contains(got, "t.brute") {
		t.Errorf("log: got %q, want an error naming correlate.kafka and t.brute", got)
	}
	if out, err := c.correlator.Correlate(context.Background(), nil); out != nil || err != nil {
		t.Errorf("refused correlator: got %v, %v; want nothing", out, err)
	}
}

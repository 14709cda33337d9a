package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKafkaToFileConfig loads configs/kafka-to-file.yaml as `vigil run` does.
func TestKafkaToFileConfig(t *testing.T) {
	t.Setenv("VIGIL_KAFKA_BROKERS", "k1:9092,k2:9092")
	t.Setenv("VIGIL_ALERTS_FILE", "/tmp/alerts.jsonl")
	cfg, err := loadConfig("../../configs/kafka-to-file.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Sources[0].Kafka
	if got := fmt.Sprint(k.Brokers); got != "[k1:9092 k2:9092]" {
		t.Errorf("brokers: got %s, want both", got)
	}
	if got := fmt.Sprint(k.Topics); got != "[{partner.acme.events acme false  {  []}} {partner.globex.events globex false  {  []}}]" {
		t.Errorf("topics: got %s", got)
	}
	if k.GroupID != "vigil" || k.SASL.Mechanism != "" {
		t.Errorf("group %q, sasl mechanism %q: want vigil and none by default", k.GroupID, k.SASL.Mechanism)
	}
	dl := cfg.DeadLetter
	if dl.Type != "kafka" || dl.Kafka.Topic != "vigil.deadletter" || fmt.Sprint(dl.Kafka.Brokers) != "[k1:9092 k2:9092]" {
		t.Errorf("dead letters: type %s, topic %s, brokers %v; want kafka, vigil.deadletter, the source's brokers",
			dl.Type, dl.Kafka.Topic, dl.Kafka.Brokers)
	}
	if cfg.Sinks[0].File.Path != "/tmp/alerts.jsonl" {
		t.Errorf("alerts file: got %s", cfg.Sinks[0].File.Path)
	}
}

func TestKafkaConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"multi-tenant topic without tenants", `
sources: [{type: kafka, kafka: {brokers: ["k:9092"], topics: [{name: t, multi_tenant: true}]}}]`,
			"multi_tenant needs the list of known tenants"},
		{"tenant not known", `
tenants: [acme]
sources: [{type: kafka, kafka: {brokers: ["k:9092"], topics: [{name: t, tenant: globex}]}}]`,
			`tenant "globex" is not in the list`},
		{"kafka without block", `
sources: [{type: kafka}]`, "type kafka needs a kafka block"},
		{"unknown key", `
sources: [{type: kafka, kafka: {brokers: ["k:9092"], topic: [t]}}]`, "field topic not found"},
		{"dead letters without brokers", `
sources: [{type: file, file: {paths: [x], tenant: acme}}]
dead_letter: {type: kafka, kafka: {topic: dl}}`, "dead_letter.kafka: kafka dead-letter queue: brokers"},
		{"sasl password from the environment", `
sources: [{type: kafka, kafka: {brokers: ["k:9092"], topics: [{name: t, tenant: acme}], sasl: {mechanism: PLAIN, username: u, password: "${VIGIL_TEST_UNSET_PASSWORD}"}}}]`,
			"VIGIL_TEST_UNSET_PASSWORD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			text := "rules: {paths: [r]}\nsinks: [{type: stdout}]\n" + strings.TrimPrefix(tc.yaml, "\n") + "\n"
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHuntPlan: the flags are checked against the configuration before anything connects.
func TestHuntPlan(t *testing.T) {
	dir := t.TempDir()
	kafkaConfig := filepath.Join(dir, "kafka.yaml")
	writeTestFile(t, kafkaConfig, strings.ReplaceAll(`rules: {paths: [rules]}
tenants: [acme, globex]
sources:
  - {name: partners, type: kafka, kafka: {brokers: ["127.0.0.1:9"], topics: [{name: a, tenant: acme}, {name: b, tenant: globex}]}}
sinks: [{type: stdout}, {type: notify, notify: {dir: 'DIR', routes: [{name: r, url: "http://127.0.0.1:9/x"}]}}]
`, "DIR", filepath.Join(dir, "notify")))
	fileConfig := filepath.Join(dir, "file.yaml")
	writeTestFile(t, fileConfig, `rules: {paths: [rules]}
sources: [{name: f, type: file, file: {paths: [x.jsonl], tenant: acme}}]
sinks: [{type: stdout}]
`)
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		flags huntFlags
		want  string // error text; "" for a plan
	}{
		{"all topics", huntFlags{config: kafkaConfig, since: "24h"}, ""},
		{"one topic", huntFlags{config: kafkaConfig, since: "2026-12-01", until: "2026-12-02", topics: []string{"b"}}, ""},
		{"unknown topic", huntFlags{config: kafkaConfig, since: "24h", topics: []string{"c"}}, `--topics: "c" is not a topic`},
		{"until before since", huntFlags{config: kafkaConfig, since: "1h", until: "2h"}, "is not after --since"},
		{"bad since", huntFlags{config: kafkaConfig, since: "yesterday"}, "--since:"},
		{"bad tenant", huntFlags{config: kafkaConfig, since: "1h", tenant: "A B"}, "--tenant:"},
		{"no kafka source", huntFlags{config: fileConfig, since: "1h"}, "no Kafka source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.flags.plan(now)
			switch {
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want a plan", err)
			case err != nil:
				return
			}
			if got := p.since; !got.Before(now) {
				t.Errorf("since: got %s, want before %s", got, now)
			}
			topics := 0
			for _, in := range p.source.Inputs {
				topics += len(in.Kafka.Topics)
			}
			want := 2
			if len(tc.flags.topics) > 0 {
				want = len(tc.flags.topics)
			}
			if topics != want {
				t.Errorf("topics: got %d, want %d", topics, want)
			}
		})
	}
	cfg, err := huntFlags{config: kafkaConfig, since: "1h"}.plan(now)
	if err != nil {
		t.Fatal(err)
	}
	if sinks := huntSinks(cfg.cfg.Sinks); len(sinks) != 1 || sinks[0].Type != "stdout" {
		t.Errorf("hunt sinks: got %v, want the stdout sink only (no notifications)", sinks)
	}
}

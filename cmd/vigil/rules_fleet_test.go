package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil/fleet"
)

func loadConfigText(t *testing.T, text string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return loadConfig(path)
}

const kafkaSourceYAML = "sinks: [{type: stdout}]\nsources: [{type: kafka, kafka: {brokers: [\"k1:9092\"], topics: [{name: t, tenant: acme}]}}]\n"

// TestRulesFromKafkaConfig: rules.from: kafka takes the first Kafka source's connection and the default topics.
func TestRulesFromKafkaConfig(t *testing.T) {
	cfg, err := loadConfigText(t, "rules: {from: kafka, instance_id: eu-1}\n"+kafkaSourceYAML)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Rules.Config.WithDefaults()
	if d.Kafka == nil || d.Kafka.Brokers[0] != "k1:9092" || d.Topic != fleet.DefaultTopic ||
		d.StatusTopic != fleet.DefaultStatusTopic || d.InstanceID != "eu-1" || d.StatusInterval != 10*time.Second {
		t.Fatalf("got %+v (kafka %+v), want the source's brokers and the default topics", d, d.Kafka)
	}
	files, err := loadConfigText(t, "rules: {paths: [r]}\n"+kafkaSourceYAML)
	if err != nil || files.Rules.From != rulesFromFiles || files.Rules.Kafka != nil {
		t.Fatalf("got from %q, kafka %v, err %v; want files and no connection", files.Rules.From, files.Rules.Kafka, err)
	}
}

func TestRulesFromErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"paths with kafka", "rules: {from: kafka, paths: [r]}\n" + kafkaSourceYAML, "not read with rules.from: kafka"},
		{"unknown origin", "rules: {from: git}\n" + kafkaSourceYAML, `rules.from: "git"`},
		{"no connection", "rules: {from: kafka}\nsinks: [{type: stdout}]\nsources: [{type: file, file: {paths: [x], tenant: acme}}]\n",
			"kafka: the connection is required"},
		{"same topics", "rules: {from: kafka, topic: x, status_topic: x}\n" + kafkaSourceYAML, "must differ"},
		{"files without paths", "rules: {}\n" + kafkaSourceYAML, "rules.paths"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := loadConfigText(t, tc.yaml); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRollbackTarget(t *testing.T) {
	b := func(v string) *fleet.Bundle { return &fleet.Bundle{Version: v} }
	h := []fleet.Deployed{{Bundle: b("aaa111")}, {Bundle: b("bbb222")}, {Key: "junk"}, {Bundle: b("ccc333")}}
	for _, tc := range []struct{ arg, want, err string }{
		{"", "bbb222", ""}, {"aaa", "aaa111", ""}, {"zzz", "", "no bundle"},
	} {
		got, err := rollbackTarget(h, tc.arg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("rollback %q: got %v, want %q", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil || got.Version != tc.want {
			t.Errorf("rollback %q: got %v %v, want %s", tc.arg, got, err, tc.want)
		}
	}
	if _, err := rollbackTarget(h[:1], ""); err == nil {
		t.Error("rollback with one bundle: got no error")
	}
	amb := []fleet.Deployed{{Bundle: b("abc1")}, {Bundle: b("abc2")}}
	if _, err := rollbackTarget(amb, "abc"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("ambiguous prefix: got %v", err)
	}
}

func TestRolloutState(t *testing.T) {
	v2 := &fleet.Bundle{Version: "v2"}
	now := time.Now()
	ss := []fleet.Status{
		{Instance: "a", Bundle: "v2", Updated: now},
		{Instance: "b", Bundle: "v1", Refused: "v2", Updated: now},
		{Instance: "c", Bundle: "v1", Updated: now},
		{Instance: "d", Bundle: "v1", Updated: now, Stopped: true},
		{Instance: "e", Bundle: "v1", Updated: now.Add(-time.Hour)},
	}
	if r, x, b := rolloutState(ss, v2, time.Second); r != 1 || x != 1 || b != 1 {
		t.Fatalf("got running %d refused %d behind %d, want 1 1 1 (stopped and silent instances left out)", r, x, b)
	}
}

func bundleOf(shadow bool, files ...string) *fleet.Bundle {
	b := &fleet.Bundle{Shadow: shadow}
	for i := 0; i+1 < len(files); i += 2 {
		b.Files = append(b.Files, fleet.File{Path: files[i], Data: files[i+1]})
	}
	b.Seal()
	return b
}

// TestPromote: the shadow version of a rule replaces the live one in its file (other rules of the file kept), a new
// rule gets a file of its own, a rule in mode: shadow in the live bundle loses the mode line; the promoted text has
// no mode: shadow.
func TestPromote(t *testing.T) {
	const other = "id: t.other\nname: o\nseverity: low\ncondition: event.action == \"o\"\n"
	live := bundleOf(false, "rules/r/a.yaml", "id: t.a\nname: a\nseverity: low\ncondition: event.action == \"a\"\n---\n"+other,
		"rules/r/s.yaml", "id: t.s\nname: s\nseverity: low\nmode: shadow\ncondition: event.action == \"s\"\n")
	shadow := bundleOf(true, "rules/x/a.yaml", "id: t.a\nname: a2\nseverity: low\nmode: shadow\ncondition: event.action in [\"a\", \"b\"]\n",
		"rules/x/n.yaml", "id: t.new\nname: n\nseverity: low\ncondition: event.action == \"n\"\n")
	for _, tc := range []struct{ id, file, want, from string }{
		{"t.a", "rules/r/a.yaml", "id: t.a\nname: a2\nseverity: low\ncondition: event.action in [\"a\", \"b\"]\n---\n" + other, "shadow bundle"},
		{"t.new", "rules/promoted/t.new.yaml", "id: t.new\nname: n\nseverity: low\ncondition: event.action == \"n\"\n", "shadow bundle"},
		{"t.s", "rules/r/s.yaml", "id: t.s\nname: s\nseverity: low\ncondition: event.action == \"s\"\n", "shadow mode in bundle"},
	} {
		b, from, err := promote(live, shadow, tc.id)
		if err != nil {
			t.Fatalf("%s: %v", tc.id, err)
		}
		got := ""
		for _, f := range b.Files {
			if f.Path == tc.file {
				got = f.Data
			}
		}
		if got != tc.want || !strings.HasPrefix(from, tc.from) || b.Version == live.Version || b.Shadow {
			t.Errorf("%s: got %s = %q (from %q, version %s), want %q from %s", tc.id, tc.file, got, from, b.Version, tc.want, tc.from)
		}
	}
	if _, _, err := promote(live, shadow, "t.other"); err == nil {
		t.Error("promoting a live rule with no shadow version: got no error")
	}
}

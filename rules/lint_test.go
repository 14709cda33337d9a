package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLintFields: a field a rule reads that no known schema has is a warning at its place in the file, with the
// closest known name; fields of the rule's own test events, of open objects and of comprehension ranges are known.
func TestLintFields(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	head := "id: t.r\nname: n\nseverity: low\n"
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"misspelt field in a block condition", head + "condition: |\n  event.category == \"process\"\n    && proccess.name == \"x\"\n",
			[]string{`f.yml:6:8: warning: rule t.r: field "proccess.name" is in no known schema (did you mean "process.name"?)`}},
		{"plain and quoted conditions, case", head + "condition: _event[\"CommandLIne\"] == \"x\"\nexceptions: [\"user.nmae == 'root'\"]\n",
			[]string{`f.yml:4:12: warning: rule t.r: field "CommandLIne" is in no known schema (did you mean "CommandLine"?)`,
				`f.yml:5:15: warning: rule t.r: field "user.nmae" is in no known schema (did you mean "user.name"?)`}},
		{"known: ECS, flat Windows, open objects, namespaces, optional and presence tests",
			head + "condition: has(process.parent.name) && source.geo.country_iso_code == \"XF\" && EventID == 1\n" +
				"  && labels.team == \"a\" && vigil.asset.host.owner == \"b\" && winlog.event_data.AnyName == \"c\"\n" +
				"  && base64.decode(process.command_line) == b\"x\" && _event.?file.?hash.?sha256.hasValue()\n" +
				"  && threat.indicator.ip == \"d\" && process.args[0] == \"e\"\n", nil},
		{"known from the rule's test events", head + "condition: aws.cloudtrail.user_identity.type == \"Root\"\n" +
			"tests:\n  - {name: a, event: {aws.cloudtrail: {user_identity: {type: Root}}}, expect: match}\n", nil},
		{"a comprehension variable reads its range's elements", head +
			"condition: dns.answers.exists(a, a.dta == \"x\") && [1].all(n, n > 0)\n",
			[]string{`f.yml:4:34: warning: rule t.r: field "dns.answers.dta" is in no known schema (did you mean "dns.answers.data"?)`}},
		{"no suggestion when nothing is close", head + "condition: zorblax == 1\n",
			[]string{`f.yml:4:12: warning: rule t.r: field "zorblax" is in no known schema`}},
		{"disabled rules are not checked", head + "enabled: false\ncondition: proccess.name == \"x\"\n", nil},
		{"ATT&CK ids", head + "mitre_attack:\n  - {tactic: TA0006, technique: T1110, subtechnique: T1059.001}\n" +
			"  - tactic: TA0099\ncondition: \"true\"\n",
			[]string{`f.yml:5:54: warning: rule t.r: mitre_attack: sub-technique T1059.001 is not a sub-technique of T1110`,
				`f.yml:6:13: warning: rule t.r: mitre_attack: unknown ATT&CK tactic TA0099 (not in ATT&CK Enterprise v17): its alerts carry no name for it`}},
		{"correlation fields", head + "condition: \"true\"\n---\nid: t.c\nname: c\nseverity: low\ncorrelation:\n" +
			"  type: value_count\n  rules: [t.r]\n  group_by: [user.nam, ip]\n" +
			"  aliases: {ip: {t.r: source.iq}}\n  timespan: 5m\n  condition: {field: destination.port, gte: 5}\n",
			[]string{`f.yml:12:14: warning: rule t.c: correlation: field "user.nam" is in no known schema (did you mean "user.name"?)`,
				`f.yml:13:23: warning: rule t.c: correlation: field "source.iq" is in no known schema (did you mean "source.ip"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := Parse("f.yml", []byte(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range env.Lint(rs, DefaultSchema()) {
				got = append(got, w.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestSchema(t *testing.T) {
	s := DefaultSchema()
	for _, f := range []string{"@timestamp", "process", "process.parent.name", "process.parent.pe.original_file_name",
		"source.geo.country_iso_code", "file.hash.sha256", "user.target.name", "dns.question.name", "tls.client.ja3",
		"threat.indicator.anything", "labels.team", "vigil.asset.host.owner", "winlog.event_id",
		"winlog.event_data.TargetImage", "EventID", "CommandLine", "SubjectUserName", "Hostname", "ScriptBlockText"} {
		if !s.Known(f) {
			t.Errorf("Known(%q): got false, want true", f)
		}
	}
	for _, f := range []string{"proccess.name", "process.nmae", "label", "vigilant", "commandline", "winlog.other"} {
		if s.Known(f) {
			t.Errorf("Known(%q): got true, want false", f)
		}
	}

	dir := t.TempDir()
	text := filepath.Join(dir, "fields.txt")
	os.WriteFile(text, []byte("# our shipper\nzeek.*   # all of Zeek\nacme.host_id\n"), 0o644)
	list := filepath.Join(dir, "fields.yml")
	os.WriteFile(list, []byte("- osquery.*\n- acme.owner\n"), 0o644)
	s, err := LoadSchema(text, list)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"zeek.conn.uid", "zeek", "acme.host_id", "acme", "osquery.columns.x", "acme.owner", "process.name"} {
		if !s.Known(f) {
			t.Errorf("with schema files: Known(%q): got false, want true", f)
		}
	}
	if s.Known("acme.other") {
		t.Errorf("with schema files: Known(acme.other): got true, want false")
	}
	for data, want := range map[string]string{
		"a.b\nbad name\n": "f:2: field name \"bad name\": want a dotted path without spaces",
		"a.\n":            "f:1: field name \"a.\": want a dotted path",
		"- a\n- x.*.y\n":  "f: entry 2: field name \"x.*.y\": want a dotted path",
	} {
		if _, err := ParseSchema("f", []byte(data)); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParseSchema(%q): got %v, want %q", data, err, want)
		}
	}
	if _, err := LoadSchema(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("a missing schema file: got no error")
	}
}

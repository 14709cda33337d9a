package sigma

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil/rules"
)

const processRule = `title: Whoami
id: 5a0e2c1b-7f4d-4e7a-9a51-0c8d2f6b1e01
logsource: {category: process_creation, product: windows}
detection:
  selection: {Image|endswith: '\whoami.exe'}
  filter: {ParentImage|endswith: '\services.exe'}
  condition: selection and not filter
`

// TestProfileGuards checks that log sources become guards and that per-source field names are used.
func TestProfileGuards(t *testing.T) {
	cases := []struct {
		profile, rule  string
		match, noMatch []string
	}{
		{"windows-flat", processRule,
			[]string{
				`{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\whoami.exe"}`,
				`{"EventID":1,"Channel":"microsoft-windows-sysmon/operational","Image":"C:\\whoami.exe"}`,
				`{"EventID":4688,"Channel":"Security","NewProcessName":"C:\\whoami.exe","ParentProcessName":"C:\\cmd.exe"}`,
			},
			[]string{
				`{"EventID":1,"Channel":"Security","Image":"C:\\whoami.exe"}`,
				`{"EventID":11,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\whoami.exe"}`,
				`{"EventID":4688,"Channel":"Security","Image":"C:\\whoami.exe"}`,
				`{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\whoami.exe","ParentImage":"C:\\services.exe"}`,
			}},
		{"windows-flat", "title: t\nid: 1\nlogsource: {product: windows, service: security}\ndetection:\n  sel: {EventID: 4625}\n  condition: sel\n",
			[]string{`{"EventID":4625,"Channel":"Security"}`},
			[]string{`{"EventID":4625,"Channel":"System"}`}},
		{"ecs", processRule,
			[]string{
				`{"winlog":{"event_id":"1","channel":"Microsoft-Windows-Sysmon/Operational"},"process":{"executable":"C:\\whoami.exe"}}`,
				`{"winlog":{"event_id":4688,"channel":"Security"},"process":{"executable":"C:\\whoami.exe","parent":{"executable":"C:\\cmd.exe"}}}`,
			},
			[]string{
				`{"winlog":{"event_id":"1","channel":"Microsoft-Windows-Sysmon/Operational"},"process":{"executable":"C:\\whoami.exe","parent":{"executable":"C:\\services.exe"}}}`,
				`{"winlog":{"event_id":"3","channel":"Microsoft-Windows-Sysmon/Operational"},"process":{"executable":"C:\\whoami.exe"}}`,
			}},
		{"ecs", "title: t\nid: 1\nlogsource: {product: windows, category: process_access}\ndetection:\n  sel: {TargetImage|endswith: '\\lsass.exe', GrantedAccess: '0x1010'}\n  condition: sel\n",
			[]string{`{"winlog":{"event_id":10,"channel":"Microsoft-Windows-Sysmon/Operational","event_data":{"TargetImage":"C:\\lsass.exe","GrantedAccess":"0x1010"}}}`},
			[]string{`{"winlog":{"event_id":10,"channel":"Microsoft-Windows-Sysmon/Operational","event_data":{"TargetImage":"C:\\lsass.exe"}}}`}},
	}
	for _, tc := range cases {
		conv := newTestConverter(t, tc.profile)
		res, err := convertText(t, conv, tc.rule)
		if err != nil {
			t.Fatalf("%s: %v", tc.profile, err)
		}
		if res.Unguarded || !res.Rule.IsEnabled() {
			t.Errorf("%s: got an unguarded or disabled rule, want a guarded one:\n%s", tc.profile, res.Rule.Condition)
		}
		for _, js := range tc.match {
			if !res.Compiled.Match(testEvent(t, js)) {
				t.Errorf("%s: got no match on %s, want match; condition:\n%s", tc.profile, js, res.Rule.Condition)
			}
		}
		for _, js := range tc.noMatch {
			if res.Compiled.Match(testEvent(t, js)) {
				t.Errorf("%s: got match on %s, want no match; condition:\n%s", tc.profile, js, res.Rule.Condition)
			}
		}
	}
}

func TestMergedGuard(t *testing.T) {
	conv := newTestConverter(t, "windows-flat")
	res, err := convertText(t, conv, "title: t\nid: 1\nlogsource: {product: windows, category: registry_event}\n"+
		"detection:\n  sel: {TargetObject|contains: '\\Run\\'}\n  condition: sel\n")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Rule.Condition, "EventID in [12, 13, 14]\n") {
		t.Errorf("got condition\n%s\nwant the three registry event ids merged into one guard", res.Rule.Condition)
	}
}

func TestUnmappedLogsource(t *testing.T) {
	conv := newTestConverter(t, "windows-flat")
	text := sigmaRule("sel: {A: x}\ncondition: sel")
	res, err := convertText(t, conv, text)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Unguarded || res.Rule.IsEnabled() || len(res.Notes) != 1 || !strings.Contains(res.Notes[0].Text, "product=test") ||
		res.Notes[0].Subject != "product=test" || strings.Contains(res.Notes[0].Reason, "test") {
		t.Errorf("got unguarded=%v enabled=%v notes %q, want an unguarded disabled rule with a note", res.Unguarded, res.Rule.IsEnabled(), res.Notes)
	}
	conv.EnableUnguarded = true
	if res, _ = convertText(t, conv, text); !res.Rule.IsEnabled() {
		t.Errorf("with EnableUnguarded: got a disabled rule, want enabled")
	}
}

func TestLoadProfile(t *testing.T) {
	for _, name := range []string{"windows-flat", "ecs"} {
		if _, err := LoadProfile(name); err != nil {
			t.Errorf("built-in %s: %v", name, err)
		}
	}
	if _, err := LoadProfile("nope"); err == nil || !strings.Contains(err.Error(), "ecs, windows-flat") {
		t.Errorf("unknown profile: got %v, want an error listing the built-in profiles", err)
	}
	dir := t.TempDir()
	custom := filepath.Join(dir, "custom.yml")
	os.WriteFile(custom, []byte("name: custom\nfields: {CommandLine: cmd}\nprefix: {product: windows, value: data.}\n"+
		"logsources:\n  - product: windows\n    category: process_creation\n    conditions: {type: [exec, spawn]}\n"), 0o644)
	p, err := LoadProfile(custom)
	if err != nil {
		t.Fatal(err)
	}
	conv := newTestConverter(t, "windows-flat")
	conv.Profile = p
	res, err := convertText(t, conv, "title: t\nid: 1\nlogsource: {product: windows, category: process_creation}\n"+
		"detection:\n  sel: {CommandLine|contains: whoami, User: bob}\n  condition: sel\n")
	if err != nil {
		t.Fatal(err)
	}
	ev := `{"type":"SPAWN","cmd":"x whoami","data":{"User":"BOB"}}`
	if !res.Compiled.Match(testEvent(t, ev)) {
		t.Errorf("custom profile: got no match on %s; condition:\n%s", ev, res.Rule.Condition)
	}
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("name: bad\nfieldz: {}\n"), 0o644)
	if _, err := LoadProfile(bad); err == nil || !strings.Contains(err.Error(), "fieldz") {
		t.Errorf("unknown key: got %v, want an error naming it", err)
	}
}

// noteTexts returns the whole text of each note.
func noteTexts(notes []Note) []string {
	var out []string
	for _, n := range notes {
		out = append(out, n.Text)
	}
	return out
}

// TestProfileFieldsAreKnown: the fields the built-in profiles map Sigma's names to, and guard on, are in the schema
// `vigil rules validate` checks against, so converted rules validate without warnings about them.
func TestProfileFieldsAreKnown(t *testing.T) {
	schema := rules.DefaultSchema()
	for _, name := range ProfileNames() {
		p, err := LoadProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		var fields []string
		for _, f := range p.Fields {
			fields = append(fields, f...)
		}
		if p.Prefix != nil {
			fields = append(fields, p.Prefix.Value+"AnyField")
		}
		for _, l := range p.Logsources {
			for _, f := range l.Fields {
				fields = append(fields, f...)
			}
			for _, c := range l.Conditions {
				fields = append(fields, c.Field)
			}
		}
		for _, f := range fields {
			if !schema.Known(f) {
				t.Errorf("profile %s: field %s is in no known schema", name, f)
			}
		}
	}
}

// TestFieldAlternatives: a Sigma field mapped to a list of event fields holds when its test holds on any of them,
// and is absent only when all are.
func TestFieldAlternatives(t *testing.T) {
	p, err := ParseProfile("alts", []byte("name: alts\nfields: {ProcessName: [process.executable, data.ProcessName]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProfile("bad", []byte("fields: {ProcessName: []}\n")); err == nil {
		t.Errorf("empty list: got no error, want one")
	}
	conv := newTestConverter(t, "windows-flat")
	conv.Profile = p
	cases := []struct {
		detection      string
		match, noMatch []string
	}{
		{"sel: {ProcessName|endswith: '\\lsass.exe'}\ncondition: sel",
			[]string{`{"process":{"executable":"C:\\lsass.exe"}}`, `{"data":{"ProcessName":"C:\\lsass.exe"}}`},
			[]string{`{"process":{"executable":"C:\\cmd.exe"}}`, `{"data":{"ProcessName":"C:\\cmd.exe"}}`, `{}`}},
		{"sel: {A: x}\nfilter: {ProcessName|endswith: '\\svchost.exe'}\ncondition: sel and not filter",
			[]string{`{"A":"x"}`, `{"A":"x","data":{"ProcessName":"C:\\cmd.exe"}}`},
			[]string{`{"A":"x","data":{"ProcessName":"C:\\svchost.exe"}}`, `{"A":"x","process":{"executable":"C:\\svchost.exe"}}`}},
		{"sel: {A: x, ProcessName: null}\ncondition: sel",
			[]string{`{"A":"x"}`},
			[]string{`{"A":"x","data":{"ProcessName":"C:\\cmd.exe"}}`, `{"A":"x","process":{"executable":"C:\\cmd.exe"}}`}},
		{"sel: {A: x, ProcessName|exists: false}\ncondition: sel",
			[]string{`{"A":"x"}`},
			[]string{`{"A":"x","data":{"ProcessName":"C:\\cmd.exe"}}`}},
	}
	for _, tc := range cases {
		res, err := convertText(t, conv, sigmaRule(tc.detection))
		if err != nil {
			t.Fatal(err)
		}
		for _, js := range tc.match {
			if !res.Compiled.Match(testEvent(t, js)) {
				t.Errorf("%q: got no match on %s, want match; condition:\n%s", tc.detection, js, res.Rule.Condition)
			}
		}
		for _, js := range tc.noMatch {
			if res.Compiled.Match(testEvent(t, js)) {
				t.Errorf("%q: got match on %s, want none; condition:\n%s", tc.detection, js, res.Rule.Condition)
			}
		}
	}
}

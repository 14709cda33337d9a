package formats

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// recordTime is the record time of the table tests: RFC 3164 timestamps take its year, or the year before when that
// puts them more than a month after it.
var recordTime = time.Date(2004, 1, 5, 0, 0, 0, 0, time.UTC)

// decodeLine decodes one line with a format and returns the event as plain JSON values.
func decodeLine(t testing.TB, d *Decoder, line string) map[string]any {
	t.Helper()
	tree, err := d.Decode([]byte(line), recordTime)
	if err != nil {
		t.Fatalf("Decode(%q): %v", line, err)
	}
	b, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustDecoder(t testing.TB, cfg Config) *Decoder {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// flat flattens a decoded event into dotted keys, for comparisons.
func flat(prefix string, v any, out map[string]any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			if prefix != "" {
				k = prefix + "." + k
			}
			flat(k, x, out)
		}
		return out
	}
	out[prefix] = v
	return out
}

// checkFields asserts that every field of want has its value in the decoded event.
func checkFields(t *testing.T, line string, got map[string]any, want map[string]any) {
	t.Helper()
	f := flat("", got, map[string]any{})
	for k, w := range want {
		if g, ok := f[k]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("%q: %s: got %#v, want %#v", line, k, g, w)
		}
	}
}

// The examples of RFC 5424 section 6.5 and RFC 3164 section 5.4, and real-world variants.
var syslogCases = []struct {
	line string
	want map[string]any
}{
	{"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \ufeff'su root' failed for lonvick on /dev/pts/8",
		map[string]any{"log.syslog.priority": 34.0, "log.syslog.facility.code": 4.0, "log.syslog.facility.name": "auth",
			"log.syslog.severity.code": 2.0, "log.syslog.severity.name": "Critical", "log.syslog.version": "1",
			"@timestamp": "2003-10-11T22:14:15.003Z", "host.hostname": "mymachine.example.com", "process.name": "su",
			"log.syslog.msgid": "ID47", "message": "'su root' failed for lonvick on /dev/pts/8"}},
	{"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
		map[string]any{"@timestamp": "2003-08-24T12:14:15.000003Z", "host.hostname": "192.0.2.1", "process.name": "myproc",
			"process.pid": 8710.0, "log.syslog.facility.name": "local4", "log.syslog.severity.name": "Notice",
			"message": "%% It's time to make the do-nuts."}},
	{`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] ` + "\ufeff" + `An application event log entry...`,
		map[string]any{"log.syslog.structured_data.exampleSDID@32473.iut": "3",
			"log.syslog.structured_data.exampleSDID@32473.eventSource": "Application",
			"log.syslog.structured_data.exampleSDID@32473.eventID":     "1011",
			"message": "An application event log entry...", "process.name": "evntslog"}},
	{`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`,
		map[string]any{"log.syslog.structured_data.examplePriority@32473.class": "high", "message": ""}},
	{`<13>1 - - - - - [x a="q\"b\\c\]d"] m`,
		map[string]any{"log.syslog.structured_data.x.a": `q"b\c]d`, "message": "m"}},
	// RFC 3164 section 5.4.
	{"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
		map[string]any{"log.syslog.priority": 34.0, "@timestamp": "2003-10-11T22:14:15Z", "host.hostname": "mymachine",
			"process.name": "su", "message": "'su root' failed for lonvick on /dev/pts/8"}},
	{"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
		map[string]any{"@timestamp": "2003-02-05T17:32:18Z", "message": "10.0.0.99 Use the BFG!"}},
	// A local syslog file: no priority, no tag id.
	{"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; rhost=218.188.2.4 ",
		map[string]any{"@timestamp": "2003-06-14T15:16:01Z", "host.hostname": "combo", "process.name": "sshd(pam_unix)",
			"process.pid": 19939.0, "message": "authentication failure; rhost=218.188.2.4 "}},
	{"Jul 27 14:42:00 combo kernel: Real Time Clock Driver v1.12",
		map[string]any{"process.name": "kernel", "host.hostname": "combo", "message": "Real Time Clock Driver v1.12"}},
	{"Dec 31 23:59:59 h sshd[1]: late", map[string]any{"@timestamp": "2003-12-31T23:59:59Z"}},
	{"Jan  2 00:00:01 h sshd[1]: new year", map[string]any{"@timestamp": "2004-01-02T00:00:01Z"}},
	{"<86>2024-03-01T10:00:00.123456+01:00 web01 sudo: pam_unix(sudo:session): session closed for user root",
		map[string]any{"@timestamp": "2024-03-01T09:00:00.123456Z", "host.hostname": "web01", "process.name": "sudo",
			"log.syslog.facility.name": "authpriv", "log.syslog.severity.name": "Informational"}},
	{"<30>Mar  1 10:00:00 sshd[42]: no hostname here",
		map[string]any{"process.name": "sshd", "process.pid": 42.0, "message": "no hostname here"}},
}

func TestSyslogExamples(t *testing.T) {
	d := mustDecoder(t, Config{Format: "syslog"})
	for _, c := range syslogCases {
		got := decodeLine(t, d, c.line)
		checkFields(t, c.line, got, c.want)
		if got["event"].(map[string]any)["original"] != c.line {
			t.Errorf("%q: event.original: got %v, want the line", c.line, got["event"])
		}
		if _, failed := got["vigil"]; failed {
			t.Errorf("%q: got vigil.parse.failed %v, want none", c.line, got["vigil"])
		}
	}
}

// Malformed lines are kept: message and event.original, and vigil.parse.failed.
func TestSyslogMalformed(t *testing.T) {
	d := mustDecoder(t, Config{Format: "syslog"})
	for _, line := range []string{
		"just text",
		"<999>1 2003-10-11T22:14:15Z h a p m - x", // priority out of range
		"<34>1 2003-13-45T99:14:15Z h a p m - x",  // bad timestamp
		"<34>1 - h a p m [unclosed x=\"1\"",       // unclosed structured data
		"<34>1 - h a p m [x a=1] m",               // unquoted parameter
		"<34>1 - h a",                             // too few header fields
		"<34",                                     // cut-off priority
		"Foo 11 22:14:15 host app: bad month",
		"Oct 11 25:14:15 host app: bad hour",
		"\x00\xff\xfe binary",
	} {
		got := decodeLine(t, d, line)
		checkFields(t, line, got, map[string]any{"vigil.parse.failed": "syslog", "event.original": toValid(line),
			"message": toValid(line)})
		if len(got) != 3 {
			t.Errorf("%q: got fields %v, want message, event and vigil only", line, got)
		}
	}
	if _, err := d.Decode([]byte(" \r\n"), recordTime); err == nil {
		t.Error("empty record: got no error, want one")
	}
}

// toValid is s as it reads back from JSON: invalid UTF-8 replaced.
func toValid(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

func TestTimezone(t *testing.T) {
	d := mustDecoder(t, Config{Format: "syslog", Timezone: "Europe/Berlin"})
	got := decodeLine(t, d, "<34>Oct 11 22:14:15 mymachine su: x")
	checkFields(t, "zone", got, map[string]any{"@timestamp": "2003-10-11T20:14:15Z"})
	if err := (Config{Format: "syslog", Timezone: "Mars/Olympus"}).Validate(); err == nil {
		t.Error("unknown zone: got no error, want one")
	}
	if err := (Config{Format: "xml"}).Validate(); err == nil {
		t.Error("unknown format: got no error, want one")
	}
}

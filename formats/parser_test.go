package formats

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The shipped Linux parsers on the messages of current OpenSSH, sudo, su and cron, as RFC 5424 and RFC 3164 lines.
var linuxCases = []struct {
	line string
	want map[string]any
}{
	{"<38>Mar  1 10:00:00 bastion sshd[811]: Failed password for root from 45.155.205.12 port 52211 ssh2",
		map[string]any{"event.action": "ssh_login", "event.outcome": "failure", "user.name": "root",
			"source.ip": "45.155.205.12", "source.port": 52211.0, "system.auth.ssh.method": "password",
			"event.category": []any{"authentication"}}},
	{"<38>1 2024-03-01T10:00:00Z bastion sshd 811 - - Failed password for invalid user oracle from 2a01:4f8::2 port 4022 ssh2",
		map[string]any{"event.outcome": "failure", "user.name": "oracle", "source.ip": "2a01:4f8::2",
			"system.auth.ssh.event": "Invalid"}},
	{"Mar  1 10:00:00 bastion sshd[811]: Accepted publickey for deploy from 203.0.113.77 port 50022 ssh2: ED25519 SHA256:abc",
		map[string]any{"event.outcome": "success", "user.name": "deploy", "source.ip": "203.0.113.77",
			"system.auth.ssh.method": "publickey"}},
	{"Mar  1 10:00:00 bastion sshd[811]: Invalid user admin from 45.155.205.12 port 41000",
		map[string]any{"event.outcome": "failure", "user.name": "admin", "source.port": 41000.0}},
	{"Mar  1 10:00:00 bastion sshd[811]: Connection closed by authenticating user root 45.155.205.12 port 22 [preauth]",
		map[string]any{"event.action": "ssh_disconnect", "user.name": "root", "source.ip": "45.155.205.12",
			"system.auth.ssh.state": "authenticating"}},
	{"Mar  1 10:00:00 bastion sshd[811]: Received disconnect from 45.155.205.12 port 22:11: Bye Bye [preauth]",
		map[string]any{"event.action": "ssh_disconnect", "source.ip": "45.155.205.12"}},
	{"Mar  1 10:00:00 bastion sshd[811]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=45.155.205.12  user=root",
		map[string]any{"event.action": "ssh_login", "event.outcome": "failure", "user.name": "root",
			"source.ip": "45.155.205.12", "system.auth.pam.uid": 0.0}},
	{"Mar  1 10:00:00 web sudo[9]: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)",
		map[string]any{"event.action": "session_opened", "user.name": "root", "user.effective.name": "alice"}},
	{"Mar  1 10:00:00 web sudo:  www-data : TTY=pts/0 ; PWD=/var/www/html ; USER=root ; COMMAND=/bin/bash -i",
		map[string]any{"user.name": "www-data", "user.effective.name": "root", "system.auth.sudo.command": "/bin/bash -i",
			"system.auth.sudo.pwd": "/var/www/html", "event.outcome": "success"}},
	{"Mar  1 10:00:00 web sudo:  bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id",
		map[string]any{"user.name": "bob", "system.auth.sudo.error": "3 incorrect password attempts", "event.outcome": "failure"}},
	{"Mar  1 10:00:00 web su[77]: (to root) alice on pts/2",
		map[string]any{"user.name": "alice", "user.effective.name": "root", "event.outcome": "success"}},
	{"Mar  1 10:00:00 web su[77]: FAILED SU (to root) alice on pts/2",
		map[string]any{"event.outcome": "failure"}},
	{"Mar  1 10:17:01 web CRON[4242]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
		map[string]any{"user.name": "root", "process.command_line": "   cd / && run-parts --report /etc/cron.hourly",
			"event.action": "cron_command", "process.pid": 4242.0}},
	{"Mar  1 10:17:01 web cron[1]: (CRON) INFO (pidfile fd = 3)",
		map[string]any{"user.name": "CRON", "event.action": "INFO"}},
}

func TestLinuxParsers(t *testing.T) {
	d := mustDecoder(t, Config{Format: "syslog", Parsers: []string{"../configs/parsers/linux.yml"}})
	for _, c := range linuxCases {
		got := decodeLine(t, d, c.line)
		checkFields(t, c.line, got, c.want)
		if v := got["vigil"]; v != nil {
			t.Errorf("%q: got vigil %v, want no parse failure", c.line, v)
		}
	}
}

// A parser whose condition holds but whose patterns fail leaves the event as decoded and names itself.
func TestParserFailureKeepsEvent(t *testing.T) {
	d := mustDecoder(t, Config{Format: "syslog", Parsers: []string{"../configs/parsers/linux.yml"}})
	line := "Mar  1 10:00:00 bastion sshd[811]: Server listening on 0.0.0.0 port 22."
	got := decodeLine(t, d, line)
	checkFields(t, line, got, map[string]any{"vigil.parse.failed": "sshd", "process.name": "sshd",
		"message": "Server listening on 0.0.0.0 port 22.", "host.hostname": "bastion"})
	// A value that does not convert makes its pattern fail: "nope" is not a port.
	line = "Mar  1 10:00:00 b sshd[1]: Failed password for root from 45.155.205.12 port nope ssh2"
	checkFields(t, line, decodeLine(t, d, line), map[string]any{"vigil.parse.failed": "sshd"})
}

// Parsers also apply to JSON records, without replacing a field the record carries.
func TestParsersOnJSON(t *testing.T) {
	path := writeParsers(t, `
parsers:
  - name: greet
    if: message.startsWith("hello")
    patterns:
      - dissect: "hello %{user.name} from %{source.ip}"
    set: {event.kind: event}
`)
	d := mustDecoder(t, Config{Parsers: []string{path}})
	got := decodeLine(t, d, `{"message": "hello bob from 10.0.0.1", "source": {"ip": "192.0.2.1"}}`)
	checkFields(t, "json", got, map[string]any{"user.name": "bob", "source.ip": "192.0.2.1", "event.kind": "event"})
}

func writeParsers(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.yml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBadParsers(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"parsers:\n  - name: x\n    patterns: [{dissect: 'a %{b}'}]\n    unknown: 1\n", "field unknown not found"},
		{"parsers:\n  - name: x\n    if: 'message ==='\n    patterns: [{dissect: 'a %{b}'}]\n", "line 2: parsers[0] (x): if:"},
		{"parsers:\n  - name: x\n    patterns: [{dissect: 'a %{b}%{c}'}]\n", "need literal text between them"},
		{"parsers:\n  - name: x\n    patterns: [{regex: '(?P<a.b>['}]\n", "regex:"},
		{"parsers:\n  - name: x\n    patterns: [{regex: 'no groups'}]\n", "no named group"},
		{"parsers:\n  - name: x\n    patterns: [{dissect: 'a %{b}', regex: '(?P<b>.)'}]\n", "exactly one of dissect and regex"},
		{"parsers:\n  - name: x\n    types: {b: money}\n    patterns: [{dissect: 'a %{b}'}]\n", `unknown type "money"`},
		{"parsers:\n  - patterns: [{dissect: 'a %{b}'}]\n", "name is required"},
		{"parsers:\n  - name: x\n", "at least one dissect or regex pattern"},
	} {
		_, err := LoadParsers(writeParsers(t, c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got error %v, want one containing %q", c.yaml, err, c.want)
		}
	}
}

// A condition decided without CEL (string comparisons), one that needs CEL on the fields it reads, and one that
// reads the whole event (_event) choose the same lines and give the same events.
func TestParserConditionPaths(t *testing.T) {
	lines := []string{
		"<38>Mar  1 10:00:00 bastion sshd[811]: Failed password for root from 45.155.205.12 port 52211 ssh2",
		"<38>Mar  1 10:00:00 bastion sudo[811]: Failed password for root from 45.155.205.12 port 52211 ssh2",
		"<38>Mar  1 10:00:00 bastion sshd[811]: something else",
	}
	var want []string
	for i, cond := range []string{
		`process.name == "sshd" && log.syslog.priority != 0 || process.name == "dropbear"`, // != : CEL, on a view
		`process.name in ["sshd", "dropbear"]`,                                             // no CEL
		`_event.process.name == "sshd" || size(_event) == 0`,                               // CEL, the whole event
	} {
		path := filepath.Join(t.TempDir(), "p.yml")
		spec := "parsers:\n  - name: ssh\n    if: '" + cond + "'\n    types: {source.port: long}\n" +
			"    patterns: [{dissect: 'Failed %{m} for %{user.name} from %{source.ip} port %{source.port} %{}'}]\n"
		if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
			t.Fatal(err)
		}
		d := mustDecoder(t, Config{Format: "syslog", Parsers: []string{path}})
		var got []string
		for _, line := range lines {
			b, err := json.Marshal(decodeLine(t, d, line))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(b))
		}
		if i == 0 {
			want = got
			if !strings.Contains(got[0], `"source":{"ip":"45.155.205.12","port":52211}`) ||
				strings.Contains(got[1], `"source"`) || !strings.Contains(got[2], `"failed":"ssh"`) {
				t.Fatalf("condition %s: got\n%s", cond, strings.Join(got, "\n"))
			}
			continue
		}
		for j := range got {
			if got[j] != want[j] {
				t.Errorf("condition %s on %q:\n got %s\nwant %s", cond, lines[j], got[j], want[j])
			}
		}
	}
}

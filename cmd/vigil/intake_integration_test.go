//go:build integration

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/testenv"
)

// The real `vigil intake` binary in front of the real broker, read by the real `vigil run`.

// intakeToken is acme's partner token in these tests.
const intakeToken = "acme-intake-token-0001"

// intakeProc is a running `vigil intake` with its addresses.
type intakeProc struct {
	*vigilProc
	http, syslog, metrics string
}

// startIntake runs `vigil intake` writing acme's records to PREFIX.acme.events and its syslog lines (a plain TCP
// listener of tenant acme) to PREFIX.acme.syslog, and waits until /readyz answers 200.
func startIntake(t *testing.T, bin, addr, prefix string) *intakeProc {
	t.Helper()
	dir := t.TempDir()
	sum := sha256.Sum256([]byte(intakeToken))
	tokens := filepath.Join(dir, "tokens.yaml")
	writeFile(t, tokens, "tokens:\n  - tenant: acme\n    name: acme-fw\n    sha256: "+hex.EncodeToString(sum[:])+"\n")
	p := &intakeProc{http: freeAddr(t), syslog: freeAddr(t), metrics: freeAddr(t)}
	config := filepath.Join(dir, "intake.yaml")
	writeFile(t, config, fmt.Sprintf(`intake:
  listen: %s
  tokens_file: %s
  kafka:
    brokers: [%s]
    topic: %s.{tenant}.events
    syslog_topic: %s.{tenant}.syslog
  syslog:
    - {name: plain, listen: %q, tenant: acme}
  timeouts: {shutdown: 30s}
metrics:
  addr: %s
log:
  format: text
`, p.http, tokens, addr, prefix, prefix, p.syslog, p.metrics))
	p.vigilProc = startCommand(t, bin, []string{"intake", "-c", config})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if res, err := http.Get("http://" + p.metrics + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil intake not ready after 30s; log:\n%s", p.log())
		}
	}
}

// intakeFixture builds vigil, creates acme's topics of a new prefix (single partitions) and starts `vigil intake`
// on them; it returns the broker's address, the binary, the prefix and the intake.
func intakeFixture(t *testing.T) (addr, bin, prefix string, in *intakeProc) {
	t.Helper()
	addr = testenv.Kafka(t)
	bin = buildVigil(t)
	prefix = topicPrefix(t)
	testenv.CreateNamedTopic(t, addr, prefix+".acme.events", 1)
	testenv.CreateNamedTopic(t, addr, prefix+".acme.syslog", 1)
	return addr, bin, prefix, startIntake(t, bin, addr, prefix)
}

// postNDJSON sends lines to /v1/events with acme's token (or another) and returns the status and body.
func (p *intakeProc) postNDJSON(t *testing.T, token string, lines [][]byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.http+"/v1/events", bytes.NewReader(append(bytes.Join(lines, []byte("\n")), '\n')))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// ruleEvents returns the events of the shipped rules' tests that the named rules expect to match, each made unique
// to this run (event.id).
func ruleEvents(t *testing.T, ids ...string) [][]byte {
	t.Helper()
	set, err := rules.Load(filepath.Join(repoRoot(t), "configs", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	run := testenv.UniqueName(t, "")
	var out [][]byte
	for _, r := range set {
		if !slices.Contains(ids, r.ID) {
			continue
		}
		for _, tc := range r.Tests {
			if tc.Expect != "match" || (tc.Tenant != "" && tc.Tenant != "acme") {
				continue
			}
			ev := map[string]any{"event.id": fmt.Sprintf("%s-%d", run, len(out))}
			for k, v := range tc.Event {
				ev[k] = v
			}
			raw, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, raw)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no match test in rules %v", ids)
	}
	return out
}

// sudoLines are RFC 3164 lines of sudo to root by accounts that are not administrators: the shipped Linux parsers
// and vigil.linux.sudo_root_unusual_user make one alert of each.
func sudoLines(run string) [][]byte {
	var out [][]byte
	for i, user := range []string{"www-data", "backup", "nobody"} {
		out = append(out, fmt.Appendf(nil, "<86>Dec  6 00:50:0%d web01 sudo: %s : TTY=pts/%d ; PWD=/srv/%s ; USER=root ; COMMAND=/bin/sh -i", i, user, i, run))
	}
	return out
}

// runConfig is a `vigil run` configuration over intake's topics: JSON from the events topic, syslog with the shipped
// Linux parsers from the syslog topic, alerts to a file; the correlation stage's names come from correlateEnv.
func runConfig(t *testing.T, addr, prefix, alerts string) string {
	path := filepath.Join(t.TempDir(), "run.yaml")
	writeFile(t, path, fmt.Sprintf(`rules:
  paths: [configs/rules]
tenants: [acme]
sources:
  - name: intake
    type: kafka
    kafka:
      brokers: [%s]
      group_id: %s
      start_offset: earliest
      topics:
        - {name: %s.acme.events, tenant: acme}
        - {name: %s.acme.syslog, tenant: acme, format: syslog, parsers: [configs/parsers/linux.yml]}
sinks:
  - type: file
    file: {path: %s}
dead_letter: {type: file, path: %s}
correlate:
  kafka: {}
  topic: ${VIGIL_CORRELATE_TOPIC}
  changelog_topic: ${VIGIL_CORRELATE_CHANGELOG_TOPIC}
  group_id: ${VIGIL_CORRELATE_GROUP}
  partitions: 1
`, addr, testenv.UniqueName(t, "vigil-group-"), prefix, prefix, alerts, alerts+".deadletters"))
	return path
}

// TestIntakeToAlerts sends the shipped rules' events as NDJSON and sudo lines over syslog through the real
// `vigil intake`; the real `vigil run` consumes intake's topics (the syslog one with format: syslog and the shipped
// parsers) and writes exactly the alerts `vigil replay` gives for the same records.
func TestIntakeToAlerts(t *testing.T) {
	addr, bin, prefix, in := intakeFixture(t)
	events := ruleEvents(t, "vigil.linux.reverse_shell_command_line", "vigil.linux.download_piped_to_shell")
	lines := sudoLines(prefix)
	want := replayExpected(t, bin, filepath.Join(repoRoot(t), "configs", "rules"), map[string][][]byte{"acme": events})
	for id, tenant := range replayExpectedWith(t, bin, map[string][][]byte{"acme": lines}, nil,
		"--rules", "configs/rules", "--format", "syslog", "--parsers", "configs/parsers/linux.yml") {
		want[id] = tenant
	}
	if code, body := in.postNDJSON(t, intakeToken, events); code != http.StatusOK {
		t.Fatalf("NDJSON: got %d %s, want 200", code, body)
	}
	sendSyslog(t, in.syslog, lines)
	testenv.ReadRecords(t, addr, prefix+".acme.events", len(events))
	testenv.ReadRecords(t, addr, prefix+".acme.syslog", len(lines))

	alerts := filepath.Join(t.TempDir(), "alerts.jsonl")
	run := startVigil(t, bin, runConfig(t, addr, prefix, alerts), correlateEnv(t)...)
	waitAlerts(t, run, alerts, want)
	if err := run.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("vigil run exited with %v after SIGTERM; log:\n%s", err, run.log())
	}
	if got, _, _ := alertFile(t, alerts); len(got) != len(want) {
		t.Errorf("got %d alerts, want %d (the replay's)", len(got), len(want))
	}
}

// sendSyslog writes lines to a syslog listener, one per line (non-transparent framing), and closes the connection.
func sendSyslog(t *testing.T, addr string, lines [][]byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(append(bytes.Join(lines, []byte("\n")), '\n')); err != nil {
		t.Fatal(err)
	}
}

// waitAlerts waits up to 120 s until the alert file holds every wanted alert id with its tenant.
func waitAlerts(t *testing.T, p *vigilProc, path string, want map[string]string) {
	t.Helper()
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		got, tenants, _ := alertFile(t, path)
		missing := 0
		for id, tenant := range want {
			if got[id] == 0 || tenants[id] != tenant {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		select {
		case err := <-p.done:
			t.Fatalf("vigil exited (%v) with %d of %d expected alerts; log:\n%s", err, len(want)-missing, len(want), p.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d expected alerts after 120s; log:\n%s", len(want)-missing, len(want), p.log())
		}
	}
}

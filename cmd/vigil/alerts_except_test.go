package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/rules"
)

const exceptRule = `id: vigil.auth.ssh_bruteforce
name: SSH brute force
severity: high
condition: event.category == "authentication"
`

// TestAlertsCloseExcept: closing an alert with --except writes the exception into a list named like the alert's
// rule, beside the rules; the running rule set reloads with it and the next matching event raises no alert, while
// other events still do. The alert is closed.
func TestAlertsCloseExcept(t *testing.T) {
	dir := t.TempDir()
	ruleDir := filepath.Join(dir, "rules")
	os.MkdirAll(ruleDir, 0o755)
	os.WriteFile(filepath.Join(ruleDir, "r.yml"), []byte(exceptRule), 0o600)
	env, err := newRuleEnv()
	if err != nil {
		t.Fatal(err)
	}
	set, fp, err := loadRules(env, []string{ruleDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	engine := rules.NewEngine(set)
	reloader := newRuleReloader(env, ruleFiles{rules: []string{ruleDir}}, engine, fp, slog.New(slog.DiscardHandler))
	scan, other := testEvent(t, "svc_scan"), testEvent(t, "mallory")
	if len(engine.Matches(scan, nil)) != 1 {
		t.Fatalf("before: svc_scan's logon does not match")
	}

	srv := newTriageServer(t)
	code, out, errOut := runAlerts(t, "close", "--url", srv.URL, "--flavor", "opensearch", "--user", "alice", "--reason", "false_positive",
		"--note", "the weekly scan", "--except", `user.name == "svc_scan"`, "--rules", ruleDir, "a1")
	if code != 0 || !strings.Contains(out, "a1: closed (false_positive)") {
		t.Fatalf("close --except: exit %d, %q, %s", code, out, errOut)
	}
	if len(srv.updates) != 1 {
		t.Errorf("updates: got %d, want 1 (the alert closed)", len(srv.updates))
	}
	data, err := os.ReadFile(filepath.Join(dir, "exceptions", "vigil.auth.ssh_bruteforce.yaml"))
	for _, want := range []string{"name: vigil.auth.ssh_bruteforce", `expr: user.name == "svc_scan"`, "by: alice", "reason: 'false_positive: the weekly scan'"} {
		if err != nil || !strings.Contains(string(data), want) {
			t.Errorf("list file: got %q (%v), want %q in it", data, err, want)
		}
	}
	if !reloader.Reload(false, "test") {
		t.Fatalf("reload: got no new rule set, want one with the exception")
	}
	if got := engine.Matches(scan, nil); len(got) != 0 {
		t.Errorf("svc_scan's logon after the exception: got %d matches, want 0", len(got))
	}
	if got := engine.Matches(other, nil); len(got) != 1 {
		t.Errorf("mallory's logon after the exception: got %d matches, want 1", len(got))
	}
}

func TestAlertsCloseExceptErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "r.yml"), []byte(exceptRule), 0o600)
	srv := newTriageServer(t)
	conn := []string{"--url", srv.URL, "--flavor", "opensearch", "--user", "alice", "--reason", "false_positive"}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--except", `user.name = "x"`, "--rules", dir, "a1"}, 1, `--except "user.name = \"x\""`},
		{[]string{"--except", `user.name`, "--rules", dir, "a1"}, 1, "bool"},
		{[]string{"--except", `user.name == "x"`, "a1"}, 2, "--except needs the rules"},
		{[]string{"--except", `user.name == "x"`, "--rules", dir, "--list", "other", "a1"}, 1, "does not use it"},
		{[]string{"--list", "x", "a1"}, 2, "--list needs --except"},
	}
	for _, tc := range tests {
		code, _, errOut := runAlerts(t, append(append([]string{"close"}, conn...), tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: got exit %d, %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	if len(srv.updates) != 0 {
		t.Errorf("updates: got %v, want none: an alert whose exception fails is not closed", srv.updates)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "exceptions")); err == nil {
		t.Errorf("an exceptions folder was made for a refused exception")
	}
}

// testEvent is an authentication event of user.
func testEvent(t *testing.T, user string) *vigil.Event {
	t.Helper()
	ev, err := rules.TestEvent(map[string]any{"event": map[string]any{"category": "authentication"}, "user": map[string]any{"name": user}}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const listsYAML = `name: service_accounts
description: scanners and backups
entries:
  - field: user.name
    values: [svc_scan, svc_backup]
    by: alice
    at: 2026-11-20T10:00:00Z
    reason: vulnerability scanner
  - expr: user.name.startsWith("svc_deploy")
---
name: scanners
tenants: [acme]
entries:
  - field: source.ip
    type: cidr
    values: [10.9.0.0/16]
  - field: source.ip
    type: ip
    values: ["192.0.2.7"]
  - field: destination.port
    type: int
    values: [8443]
`

const listRule = `id: r1
name: Logon
severity: low
condition: event.category == "authentication"
exceptions_from: [service_accounts, scanners]
`

// writeRuleTree writes rules/ and exceptions/ side by side in a temporary folder and returns the rules folder.
func writeRuleTree(t *testing.T, rule, lists string) string {
	t.Helper()
	dir := t.TempDir()
	for path, text := range map[string]string{"rules/r.yml": rule, "exceptions/lists.yaml": lists} {
		p := filepath.Join(dir, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "rules")
}

// TestExceptionLists: a rule's match is suppressed by its lists' typed values and expressions; a list with tenants
// only for those tenants' events.
func TestExceptionLists(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	set, err := env.LoadSet(writeRuleTree(t, listRule, listsYAML))
	if err != nil {
		t.Fatalf("LoadSet: %v", err)
	}
	c := set.Rule("r1")
	tests := []struct {
		event, tenant string
		want          bool
	}{
		{`{"event":{"category":"authentication"},"user":{"name":"alice"}}`, "acme", true},
		{`{"event":{"category":"authentication"},"user":{"name":"svc_scan"}}`, "acme", false},
		{`{"event":{"category":"authentication"},"user":{"name":"svc_backup"}}`, "globex", false},
		{`{"event":{"category":"authentication"},"user":{"name":"svc_deploy_7"}}`, "acme", false},
		{`{"event":{"category":"authentication"},"source":{"ip":"10.9.3.4"}}`, "acme", false},
		{`{"event":{"category":"authentication"},"source":{"ip":"10.9.3.4"}}`, "globex", true}, // scanners is acme's
		{`{"event":{"category":"authentication"},"source":{"ip":"192.0.2.7"}}`, "acme", false},
		{`{"event":{"category":"authentication"},"source":{"ip":"192.0.2.8"}}`, "acme", true},
		{`{"event":{"category":"authentication"},"source":{"ip":"-"}}`, "acme", true},
		{`{"event":{"category":"authentication"},"destination":{"port":8443}}`, "acme", false},
		{`{"event":{"category":"authentication"},"destination":{"port":443}}`, "acme", true},
	}
	for _, tc := range tests {
		ev := event(t, tc.event)
		ev.Tenant = tc.tenant
		if got := c.Match(ev); got != tc.want {
			t.Errorf("%s (tenant %s): match: got %v, want %v", tc.event, tc.tenant, got, tc.want)
		}
	}
}

// TestExceptionListErrors: unknown lists, bad values and bad CEL are errors at file:line.
func TestExceptionListErrors(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ rule, lists, want string }{
		{strings.Replace(listRule, "scanners]", "scanerz]", 1), listsYAML, `r.yml:5: rule r1: exceptions_from: unknown exception list "scanerz"`},
		{listRule, strings.Replace(listsYAML, "[8443]", "[port]", 1), `lists.yaml:20: exception list scanners, entry 3: value "port" is not an int`},
		{listRule, strings.Replace(listsYAML, `["192.0.2.7"]`, `[192.0.2.x]`, 1), `lists.yaml:17: exception list scanners, entry 2: value "192.0.2.x" is not an IP address`},
		{listRule, strings.Replace(listsYAML, "10.9.0.0/16", "10.9.0.0/99", 1), `lists.yaml:14: exception list scanners, entry 1: value "10.9.0.0/99" is not a CIDR network`},
		{listRule, strings.Replace(listsYAML, `startsWith("svc_deploy")`, `startsWith(`, 1), `lists.yaml:9: exception list service_accounts, entry 2: `},
		{listRule, strings.Replace(listsYAML, "type: int", "type: port", 1), `lists.yaml:20: exception list scanners, entry 3: type "port"`},
		{listRule, strings.Replace(listsYAML, "reason: vulnerability", "why: vulnerability", 1), `lists.yaml:8: unknown key "why" in an exception entry`},
		{listRule, listsYAML + "---\nname: scanners\nentries: [{expr: 'true'}]\n", `duplicate exception list scanners`},
		{strings.Replace(listRule, "[service_accounts, scanners]", "[nope]", 1), "", `unknown exception list "nope"`},
	}
	for _, tc := range tests {
		_, err := env.LoadSet(writeRuleTree(t, tc.rule, tc.lists))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}

// TestExceptionListNamedLikeTheRule: a list named like a rule's id applies to it unnamed.
func TestExceptionListNamedLikeTheRule(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	rule := strings.Replace(listRule, "exceptions_from: [service_accounts, scanners]\n", "", 1)
	set, err := env.LoadSet(writeRuleTree(t, rule, "name: r1\nentries:\n  - expr: user.name == \"bob\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if set.Rule("r1").Match(event(t, `{"event":{"category":"authentication"},"user":{"name":"bob"}}`)) {
		t.Errorf("bob's logon: got a match, want it suppressed by list r1")
	}
}

// TestAppendException: an entry appended to a list (as `vigil alerts close --except` does) suppresses the next
// matching event once the set is loaded again; the list file keeps its other lists and comments.
func TestAppendException(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	dir := writeRuleTree(t, listRule, "# our lists\n"+listsYAML)
	file := filepath.Join(filepath.Dir(dir), "exceptions", "lists.yaml")
	ev := event(t, `{"event":{"category":"authentication"},"user":{"name":"svc_new"}}`)
	set, err := env.LoadSet(dir)
	if err != nil || !set.Rule("r1").Match(ev) {
		t.Fatalf("before: got %v, %v; want a match", err, err == nil && set.Rule("r1").Match(ev))
	}
	if err := env.CheckException(`user.name == "svc_new"`); err != nil {
		t.Fatal(err)
	}
	if err := env.CheckException(`user.name = "svc_new"`); err == nil {
		t.Errorf("CheckException of a bad expression: got nil, want an error")
	}
	entry := ExceptionEntry{Expr: `user.name == "svc_new"`, By: "alice", At: "2026-11-27T10:00:00Z", Reason: "false_positive"}
	if err := AppendException(file, "service_accounts", entry); err != nil {
		t.Fatal(err)
	}
	set, err = env.LoadSet(dir)
	if err != nil {
		t.Fatalf("after: %v", err)
	}
	if set.Rule("r1").Match(ev) {
		t.Errorf("svc_new's logon after the exception: got a match, want none")
	}
	ls, _ := LoadExceptions(file)
	if l := ls.List("service_accounts"); l == nil || len(l.Entries) != 3 || l.Entries[2].By != "alice" || ls.List("scanners") == nil {
		t.Errorf("lists after the append: got %+v", ls.Lists())
	}
	if data, _ := os.ReadFile(file); !strings.HasPrefix(string(data), "# our lists\n") {
		t.Errorf("file: got %q, want its comment kept", data)
	}
	newFile := filepath.Join(t.TempDir(), "r1.yaml")
	if err := AppendException(newFile, "r1", entry); err != nil {
		t.Fatal(err)
	}
	if ls, err := LoadExceptions(newFile); err != nil || ls.List("r1") == nil || ls.List("r1").Entries[0].Expr != entry.Expr {
		t.Errorf("a new list file: got %v, %v", ls, err)
	}
}

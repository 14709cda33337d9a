package rules

import (
	"strings"
	"testing"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
)

// compileCond compiles a condition as a minimal rule.
func compileCond(t testing.TB, env *Env, cond string) *Compiled {
	t.Helper()
	c, err := env.Compile(&Rule{ID: "t", Name: "t", Severity: "low", Condition: cond})
	if err != nil {
		t.Fatalf("compile %q: %v", cond, err)
	}
	return c
}

func event(t testing.TB, js string) *vigil.Event {
	t.Helper()
	f, err := fields.Parse([]byte(js))
	if err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return &vigil.Event{Raw: []byte(js), Fields: f, Tenant: "default"}
}

// matchCase is a condition with an event it must match and one it must not.
type matchCase struct{ name, cond, match, noMatch string }

// runMatchCases compiles each condition and checks it on its two events.
func runMatchCases(t *testing.T, env *Env, cases []matchCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := compileCond(t, env, tc.cond)
			if got := c.Match(event(t, tc.match)); !got {
				t.Errorf("%s on %s: got no match, want match", tc.cond, tc.match)
			}
			if got := c.Match(event(t, tc.noMatch)); got {
				t.Errorf("%s on %s: got match, want no match", tc.cond, tc.noMatch)
			}
		})
	}
}

// TestSemantics covers every CEL semantic rules rely on (docs/rules.md), each with a matching and a non-matching event.
func TestSemantics(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	cases := []matchCase{
		{"string equality", `event.category == "authentication"`,
			`{"event":{"category":"authentication"}}`, `{"event":{"category":"process"}}`},
		{"missing field is no match", `process.name == "x"`,
			`{"process":{"name":"x"}}`, `{"process":{"pid":1}}`},
		{"missing top-level field is no match", `process.name == "x"`,
			`{"process":{"name":"x"}}`, `{"host":{"name":"x"}}`},
		{"negated missing field is no match", `!(process.name == "x")`,
			`{"process":{"name":"y"}}`, `{"process":{}}`},
		{"null is no match", `process.name.startsWith("x")`,
			`{"process":{"name":"xyz"}}`, `{"process":{"name":null}}`},
		{"wrong type is no match", `process.name.startsWith("x")`,
			`{"process":{"name":"xyz"}}`, `{"process":{"name":42}}`},
		{"has() tests presence", `has(process.name)`,
			`{"process":{"name":"a"}}`, `{"process":{"pid":1}}`},
		{"int literal equals JSON int", `winlog.event_id == 4625`,
			`{"winlog":{"event_id":4625}}`, `{"winlog":{"event_id":4624}}`},
		{"int literal equals JSON float", `winlog.event_id == 4625`,
			`{"winlog":{"event_id":4625.0}}`, `{"winlog":{"event_id":4625.5}}`},
		{"int ordering against double", `network.bytes >= 1000000`,
			`{"network":{"bytes":1000000.0}}`, `{"network":{"bytes":999999.5}}`},
		{"double ordering against int", `labels.score > 0.75`,
			`{"labels":{"score":1}}`, `{"labels":{"score":0}}`},
		{"large integers stay exact", `n == 9007199254740993`,
			`{"n":9007199254740993}`, `{"n":9007199254740992}`},
		{"dotted keys are nested paths", `file.path == "/etc/shadow"`,
			`{"file.path":"/etc/shadow"}`, `{"file.path":"/etc/passwd"}`},
		{"dotted and nested keys merge", `file.path == "/a" && file.name == "a"`,
			`{"file":{"name":"a"},"file.path":"/a"}`, `{"file":{"name":"b"},"file.path":"/a"}`},
		{"or absorbs an error on one side", `process.name == "x" || user.name == "root"`,
			`{"user":{"name":"root"}}`, `{"user":{"name":"bob"}}`},
		{"strings ext lowerAscii", `process.name.lowerAscii() == "powershell.exe"`,
			`{"process":{"name":"PowerShell.EXE"}}`, `{"process":{"name":"cmd.exe"}}`},
		{"contains", `process.command_line.contains("-enc")`,
			`{"process":{"command_line":"powershell -enc AAA"}}`, `{"process":{"command_line":"powershell -c x"}}`},
		{"endsWith", `file.name.endsWith(".ps1")`,
			`{"file":{"name":"a.ps1"}}`, `{"file":{"name":"a.txt"}}`},
		{"RE2 matches", `process.command_line.matches("(?i)invoke-(webrequest|expression)")`,
			`{"process":{"command_line":"IEX Invoke-Expression"}}`, `{"process":{"command_line":"Get-Item"}}`},
		{"in list", `event.action in ["logon-failed", "user-locked"]`,
			`{"event":{"action":"user-locked"}}`, `{"event":{"action":"logon"}}`},
		{"value in event list", `"malware" in threat.tags`,
			`{"threat":{"tags":["apt","malware"]}}`, `{"threat":{"tags":["apt"]}}`},
		{"exists macro", `process.args.exists(a, a == "-nop")`,
			`{"process":{"args":["powershell","-nop"]}}`, `{"process":{"args":["powershell"]}}`},
		{"all macro", `process.args.all(a, a.startsWith("-"))`,
			`{"process":{"args":["-a","-b"]}}`, `{"process":{"args":["-a","b"]}}`},
		{"cidr IPv4", `cidr("10.0.0.0/8").containsIP(source.ip)`,
			`{"source":{"ip":"10.1.2.3"}}`, `{"source":{"ip":"203.0.113.9"}}`},
		{"cidr IPv6", `cidr("2001:db8::/32").containsIP(source.ip)`,
			`{"source":{"ip":"2001:db8::1"}}`, `{"source":{"ip":"2001:db9::1"}}`},
		{"not in cidr", `!cidr("10.0.0.0/8").containsIP(source.ip)`,
			`{"source":{"ip":"203.0.113.9"}}`, `{"source":{"ip":"10.0.0.1"}}`},
		{"ip() parses addresses", `ip(source.ip).isLoopback()`,
			`{"source":{"ip":"127.0.0.1"}}`, `{"source":{"ip":"192.0.2.1"}}`},
		{"invalid ip is no match", `cidr("10.0.0.0/8").containsIP(source.ip)`,
			`{"source":{"ip":"10.0.0.1"}}`, `{"source":{"ip":"not-an-ip"}}`},
		{"flat Windows fields", `EventID == 4688 && NewProcessName.endsWith("\\cmd.exe")`,
			`{"EventID":4688,"NewProcessName":"C:\\Windows\\System32\\cmd.exe"}`, `{"EventID":4688,"NewProcessName":"C:\\x.exe"}`},
		{"whole event through _event", `_event["user-agent"] == "curl"`,
			`{"user-agent":"curl"}`, `{"user-agent":"firefox"}`},
		{"optional field syntax", `process.?name.orValue("") == "x"`,
			`{"process":{"name":"x"}}`, `{"process":{}}`},
		{"boolean field", `process.elevated == true`,
			`{"process":{"elevated":true}}`, `{"process":{"elevated":false}}`},
	}
	runMatchCases(t, env, cases)
}

func TestCompileErrors(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ cond, want string }{
		{`process.name ==`, "syntax"},
		{`process.name`, "must be of type bool"},
		{`1 + "a" == 2`, "type check"},
		{`nosuchfunction(x)`, "undeclared reference"},
		{`a.exists(x, b.exists(y, c.exists(z, x == y && y == z)))`, "exceeds the limit"},
		{`lists.range(100000000).size() > 0`, "exceeds the limit"},
	}
	for _, tc := range cases {
		_, err := env.Compile(&Rule{ID: "t", Name: "t", Severity: "low", Condition: tc.cond, Source: Position{File: "f.yml", Line: 3}})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "f.yml:") {
			t.Errorf("compile %q: got %v, want an error with file:line and %q", tc.cond, err, tc.want)
		}
	}
}

func TestExceptionsAndTenants(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	c, err := env.Compile(&Rule{ID: "t", Name: "t", Severity: "low", Tenants: []string{"acme"},
		Condition: `event.outcome == "failure"`, Exceptions: []string{`user.name in ["svc_backup"]`}})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(tenant, user string) *vigil.Event {
		e := event(t, `{"event":{"outcome":"failure"},"user":{"name":"`+user+`"}}`)
		e.Tenant = tenant
		return e
	}
	for _, tc := range []struct {
		tenant, user string
		want         bool
	}{{"acme", "bob", true}, {"acme", "svc_backup", false}, {"globex", "bob", false}} {
		if got := c.Match(ev(tc.tenant, tc.user)); got != tc.want {
			t.Errorf("tenant %s user %s: got match=%v, want %v", tc.tenant, tc.user, got, tc.want)
		}
	}
}

// TestRuntimeCostLimit: a condition with a loop that passes the static estimate (lists assumed to hold 1,024
// elements) is stopped at the cost limit when an event's list is far longer, and counted as an error, not a match.
func TestRuntimeCostLimit(t *testing.T) {
	env, err := NewEnv(WithCostLimit(50_000))
	if err != nil {
		t.Fatal(err)
	}
	c, err := env.Compile(&Rule{ID: "t", Name: "t", Severity: "low", Source: Position{File: "f.yml", Line: 1},
		Condition: `xs.exists(a, a == -1)`})
	if err != nil {
		t.Fatalf("the condition must pass the static estimate: %v", err)
	}
	small := make([]any, 100)
	big := make([]any, 100_000) // a few hundred thousand steps: past the limit of 50,000
	for i := range big {
		big[i] = i
	}
	for i := range small {
		small[i] = i
	}
	if ev := testEventOf(t, map[string]any{"xs": small}); c.Match(ev) {
		t.Errorf("a small list matched")
	}
	c.stats = &Stats{}
	if c.Match(testEventOf(t, map[string]any{"xs": big})) {
		t.Errorf("a big list matched")
	}
	if n := c.stats.Errors.Load(); n != 1 {
		t.Errorf("got %d evaluation errors, want 1: the runtime cost limit must stop the loop over the big list", n)
	}
}

func testEventOf(t *testing.T, m map[string]any) *vigil.Event {
	t.Helper()
	ev, err := TestEvent(m, "")
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

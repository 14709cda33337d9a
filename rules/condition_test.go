package rules

import (
	"strings"
	"testing"

	"github.com/vigilsoc/vigil/fields"
)

// EvalFields, the parsers' path without CEL, decides exactly as Eval on the event, or leaves the decision to Eval.
func TestConditionEvalFieldsEqualsEval(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	guarded := []string{
		`process.name == "sshd(pam_unix)" || message.startsWith("pam_unix(sshd:")`,
		`process.name.endsWith("(pam_unix)") || message.startsWith("pam_unix(")`,
		`process.name in ["sshd", "sshd-session"]`,
		`"sudo" == process.name`,
		`message.contains("Failed") && (process.name == "sshd" || _event.process.name == "dropbear")`,
		`log.syslog.appname == "x"`,
	}
	unguarded := []string{
		`!(process.name == "sshd")`,
		`size(message) > 3`,
		`process.name == "sshd" || process.pid == 1`,
		`process.name in ["sshd", message]`,
		`message.matches("^Failed")`,
	}
	events := []string{
		`{}`,
		`{"process":{"name":"sshd"},"message":"Failed password"}`,
		`{"process":{"name":"sshd-session"},"message":"Accepted"}`,
		`{"process":{"name":"sshd(pam_unix)"},"message":"x"}`,
		`{"process":{"name":"su(pam_unix)"},"message":"pam_unix(su:auth): failure"}`,
		`{"process":{"name":"cron"},"message":"pam_unix(sshd:auth): authentication failure"}`,
		`{"process":{"name":"sudo","pid":1}}`,
		`{"process":{"name":"dropbear"},"message":"Failed"}`,
		`{"process":{"name":["sshd"]},"message":"Failed"}`,
		`{"process":{"name":{"x":1}},"message":7}`,
		`{"process":"sshd","message":null}`,
		`{"log":{"syslog":{"appname":"x"}}}`,
	}
	for _, list := range [][]string{guarded, unguarded} {
		for _, expr := range list {
			c, err := env.CompileCondition(expr)
			if err != nil {
				t.Fatalf("%s: %v", expr, err)
			}
			if (c.guard != nil) != (&list[0] == &guarded[0]) {
				t.Errorf("%s: got guard %v, want one only for the string comparisons", expr, c.guard != nil)
			}
			for _, raw := range events {
				ev, err := fields.Parse([]byte(raw))
				if err != nil {
					t.Fatal(err)
				}
				want := c.Eval(ev)
				got, decided := c.EvalFields(func(path string) (string, FieldKind) {
					v := ev.Lookup(strings.Split(path, ".")...)
					switch {
					case !v.Exists():
						return "", FieldMissing
					case v.Kind() == fields.String:
						return v.Str(), FieldString
					}
					return "", FieldOther
				})
				if decided && got != want {
					t.Errorf("%s on %s: EvalFields %v, Eval %v", expr, raw, got, want)
				}
				if !decided && c.guard != nil && (raw == events[0] || raw == events[1]) {
					t.Errorf("%s on %s: undecided, want decided (every field a string or missing)", expr, raw)
				}
			}
		}
	}
}

package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil/fields"
)

const rawRule = `id: t.raw
name: raw
severity: low
condition: user.name == "bob"
tests:
`

func TestRawTestValidation(t *testing.T) {
	for _, c := range []struct{ test, want string }{
		{"  - {name: a, raw: 'x', expect: match}", "raw needs a format"},
		{"  - {name: a, raw: 'x', format: syslog, event: {a: 1}, expect: match}", "event or raw, not both"},
		{"  - {name: a, event: {a: 1}, format: syslog, expect: match}", "format and parsers are for a raw test event"},
		{"  - {name: a, expect: match}", "missing event (or raw)"},
	} {
		_, err := Parse("r.yml", []byte(rawRule+c.test+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.test, err, c.want)
		}
	}
}

func TestRawTestRuns(t *testing.T) {
	rs, err := Parse("r.yml", []byte(rawRule+"  - {name: a, raw: 'bob logged in', format: lines, expect: match}\n"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	c, err := env.Compile(rs[0])
	if err != nil {
		t.Fatal(err)
	}
	if res := RunTests(c); len(res) != 1 || res[0].Err == nil {
		t.Errorf("without a decoder: got %v, want a failed test", res)
	}
	decode := func(rt RuleTest, file string) (fields.Value, error) {
		if rt.Raw != "bob logged in" || file != "r.yml" {
			return fields.Value{}, errors.New("unexpected test")
		}
		return fields.MustFromMap(map[string]any{"user": map[string]any{"name": "bob"}}), nil
	}
	if res := RunTestsWith(c, decode); len(res) != 1 || res[0].Err != nil {
		t.Errorf("with a decoder: got %v, want a passed test", res)
	}
}

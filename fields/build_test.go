package fields

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// A built tree is the tree Parse makes of the same members written as one JSON object: the same document, the same
// shadowed keys.
func TestBuilderEqualsParse(t *testing.T) {
	type member struct {
		key  string
		json string // a JSON value; a string value is given to String unquoted
	}
	cases := [][]member{
		{{"message", `"Failed password"`}, {"process.name", `"sshd"`}, {"process.pid", `811`}},
		{{"a.b", `1`}, {"a", `{"c":2}`}, {"a.b", `3`}}, // merged objects, the later b wins
		{{"a", `"x"`}, {"a.b", `1`}},                   // an object replaces a value
		{{"tags", `["x",{"y":1},null,true,1.5,-2]`}, {"n", `18446744073709551615`}},
		{{"s", `"tab\there \"quoted\" \u00e9 \ud83d\ude00"`}, {"bad", "\"\xff\xfeok\""}, {"ctl", "\"a\x01b\""}},
		{{"labels.a.b", `{"c":{"d":[1]}}`}, {"labels.a", `{"b":{"e":2}}`}},
		{{"", `1`}, {".", `2`}, {"a.", `3`}, {".b", `4`}},
	}
	for _, c := range cases {
		obj := []byte{'{'}
		b := NewBuilder(len(c), 64)
		for i, m := range c {
			if i > 0 {
				obj = append(obj, ',')
			}
			obj = append(appendString(obj, m.key), ':')
			// A string is given to String as text (unescaped, or as is when it has no escape: the invalid UTF-8
			// case), and written into the object with AppendString, as formats wrote its records before Builder.
			if str, ok := textOf(m.json); ok {
				obj = appendString(obj, str)
				b.String(m.key, str)
				continue
			}
			obj = append(obj, m.json...)
			if err := b.JSON(m.key, []byte(m.json)); err != nil {
				t.Fatal(err)
			}
		}
		obj = append(obj, '}')
		want, err := Parse(obj)
		if err != nil {
			t.Fatalf("%s: %v", obj, err)
		}
		got, err := b.Value()
		if err != nil {
			t.Fatal(err)
		}
		wj, _ := want.MarshalJSON()
		gj, _ := got.MarshalJSON()
		if string(gj) != string(wj) || !slices.Equal(got.Shadowed(), want.Shadowed()) {
			t.Errorf("members %v:\n got %s shadowed %v\nwant %s shadowed %v", c, gj, got.Shadowed(), wj, want.Shadowed())
		}
		got.Release()
	}
}

// textOf returns the text of a JSON string literal: unescaped, or its bytes as they are when it has no backslash.
func textOf(lit string) (string, bool) {
	if lit[0] != '"' {
		return "", false
	}
	if !strings.Contains(lit, `\`) {
		return lit[1 : len(lit)-1], true
	}
	var s string
	return s, json.Unmarshal([]byte(lit), &s) == nil
}

func TestBuilderRejectsBadJSON(t *testing.T) {
	b := NewBuilder(2, 16)
	for _, bad := range []string{``, `{`, `1 2`, `"x`, `nul`} {
		if err := b.JSON("k", []byte(bad)); err == nil {
			t.Errorf("JSON(%q): got no error", bad)
		}
	}
	b.String("k", "v")
	v, err := b.Value()
	if err != nil {
		t.Fatal(err)
	}
	if j, _ := v.MarshalJSON(); string(j) != `{"k":"v"}` {
		t.Errorf("got %s after the rejected values, want {\"k\":\"v\"}", j)
	}
}

func BenchmarkBuilder(b *testing.B) {
	keys := []string{"@timestamp", "host.hostname", "process.name", "process.pid", "log.syslog.priority",
		"log.syslog.facility.code", "log.syslog.facility.name", "message", "event.original"}
	b.Run("Builder", func(b *testing.B) {
		for b.Loop() {
			bl := NewBuilder(len(keys), 256)
			for _, k := range keys {
				bl.String(k, "Failed password for root from 45.155.205.12 port 52211 ssh2")
			}
			v, _ := bl.Value()
			v.Release()
		}
	})
	b.Run("Parse", func(b *testing.B) {
		for b.Loop() {
			obj := []byte{'{'}
			for i, k := range keys {
				if i > 0 {
					obj = append(obj, ',')
				}
				obj = append(appendString(obj, k), ':')
				obj = appendString(obj, "Failed password for root from 45.155.205.12 port 52211 ssh2")
			}
			v, _ := Parse(append(obj, '}'))
			v.Release()
		}
	})
}

package fields

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]any
	}{
		{`{}`, map[string]any{}},
		{` {"a": 1, "b": -2.5, "c": "x", "d": true, "e": null, "f": [1, "y"]} `,
			map[string]any{"a": int64(1), "b": -2.5, "c": "x", "d": true, "e": nil, "f": []any{int64(1), "y"}}},
		{`{"n": 1e3, "big": 18446744073709551615, "huge": 1e400}`, nil}, // checked below
		{`{"file.path": "/x", "file": {"name": "x"}}`,
			map[string]any{"file": map[string]any{"path": "/x", "name": "x"}}},
		{`{"a.b.c": 1}`, map[string]any{"a": map[string]any{"b": map[string]any{"c": int64(1)}}}},
		{`{".x": 1, "y.": 2}`, map[string]any{".x": int64(1), "y.": int64(2)}},
		{`{"s": "tab\there \"q\" \\ \u00e9 \ud83d\ude00 \/"}`, map[string]any{"s": "tab\there \"q\" \\ é 😀 /"}},
		{`{"a": {"b": 1}, "a.c": 2}`, map[string]any{"a": map[string]any{"b": int64(1), "c": int64(2)}}},
	}
	for _, tc := range cases {
		v, err := Parse([]byte(tc.in))
		if err != nil {
			t.Errorf("Parse(%s): %v", tc.in, err)
			continue
		}
		if got := v.Map(); tc.want != nil && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%s): got %#v, want %#v", tc.in, got, tc.want)
		}
	}
	v, _ := Parse([]byte(`{"n": 1e3, "big": 18446744073709551615, "neg": -9223372036854775808, "z": -0}`))
	if got := v.Map(); got["n"] != 1000.0 || got["big"] != uint64(18446744073709551615) ||
		got["neg"] != int64(-9223372036854775808) || got["z"] != int64(0) {
		t.Errorf("numbers: got %#v", got)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{``, "empty input"},
		{`[1]`, "not a JSON object"},
		{`"x"`, "not a JSON object"},
		{`{"a": }`, "invalid character"},
		{`{"a": 1`, "unexpected end"},
		{`{"a" 1}`, "expected ':'"},
		{`{a: 1}`, "expected a string key"},
		{`{"a": "x}`, "unterminated string"},
		{`{"a": 1} x`, "unexpected data after the object"},
		{`{"a": tru}`, "invalid character"},
		{`{"a": 1.2.3}`, "invalid number"},
		{`{"a": 0100}`, "invalid number"},
		{`{"a": 1.}`, "invalid number"},
		{`{"a": -}`, "invalid number"},
		{`{"a": 1e+}`, "invalid number"},
		{`{"a": "\q"}`, "invalid escape"},
		{"{\"a\": \"x\ny\"}", "control character"},
		{`{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`, "nesting deeper"},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q): got error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

// TestParseFirst decodes a stream of concatenated objects one at a time, as Splunk HEC bodies come.
func TestParseFirst(t *testing.T) {
	data := []byte(" {\"n\":1}{\"n\":{\"m\":\"}\"}}\n\t{\"n\":3} {\"n\":")
	var got []string
	for pos := 0; pos < len(data); {
		v, used, err := ParseFirst(data[pos:])
		if err != nil {
			got = append(got, "error: "+err.Error())
			break
		}
		b, _ := v.MarshalJSON()
		got = append(got, fmt.Sprintf("%s+%d", b, used))
		v.Release()
		pos += used
	}
	want := []string{`{"n":1}+8`, `{"n":{"m":"}"}}+17`, `{"n":3}+8`, "error: offset 5: unexpected end of input"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestParseMatchesEncodingJSON checks the hand-written decoder against encoding/json on documents without dotted
// keys, comparing numbers by value.
func TestParseMatchesEncodingJSON(t *testing.T) {
	docs := []string{
		`{"event":{"category":["process"],"code":4688},"process":{"args":["a","b"],"pid":1234,"cpu":0.25},"ok":false}`,
		`{"a":"\u003cscript\u003e","b":[{"c":[[]]},{}],"d":-0.0,"e":1E-7}`,
	}
	for _, d := range docs {
		v, err := Parse([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		got := v.Map()
		var want map[string]any
		if err := json.Unmarshal([]byte(d), &want); err != nil {
			t.Fatal(err)
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("got %s, want %s", g, w)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"a":{"b.c":[1,2.5,"x",null,true]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Parse(data)
		var std map[string]any
		stdErr := json.Unmarshal(data, &std)
		if err == nil && stdErr != nil && !strings.Contains(stdErr.Error(), "cannot unmarshal") {
			// Everything encoding/json rejects we must reject too.
			if !strings.Contains(stdErr.Error(), "after top-level value") {
				t.Errorf("Parse accepted %q that encoding/json rejects: %v (got %v)", data, stdErr, got)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data := []byte(`{"@timestamp":"2026-11-24T09:14:03.123Z","event":{"category":["process"],"type":["start"],"code":"4688","kind":"event"},"host":{"name":"ws-0231","ip":["10.20.3.31"],"os":{"family":"windows"}},"user":{"name":"jdoe","domain":"CORP"},"process":{"pid":4242,"name":"powershell.exe","executable":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","command_line":"powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\scripts\\inventory.ps1","parent":{"name":"explorer.exe","pid":1001}},"source":{"ip":"10.20.3.31","port":50123}}`)
	b.Run("vigil", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := Parse(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("otrf", func(b *testing.B) { // real Windows events: many members, escapes in most strings
		sample, err := os.ReadFile("testdata/otrf.jsonl")
		if err != nil {
			b.Fatal(err)
		}
		records := bytes.Split(bytes.TrimSpace(sample), []byte("\n"))
		b.ReportAllocs()
		b.SetBytes(int64(len(sample)))
		for b.Loop() {
			for _, r := range records {
				v, err := Parse(r)
				if err != nil {
					b.Fatal(err)
				}
				v.Release()
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzParseString holds the decoding of string texts (escapes, invalid UTF-8, the fast and slow paths) to
// encoding/json's, on the text made valid UTF-8 first: Parse replaces a run of invalid bytes by one U+FFFD, where
// encoding/json replaces each byte.
func FuzzParseString(f *testing.F) {
	for _, s := range []string{`C:\\Windows\\System32`, `a\"b\r\n\tc`, "\xff\xfe\\n\xc3", `\u00e9\ud83d\ude00\ud800x`, `plain`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		doc := []byte(`{"k":"` + s + `","n":1}`)
		var want struct{ K string }
		if json.Unmarshal([]byte(strings.ToValidUTF8(string(doc), "\uFFFD")), &want) != nil {
			return
		}
		v, err := Parse(doc)
		if err != nil {
			t.Fatalf("Parse(%q): %v; encoding/json decodes it", doc, err)
		}
		if got := v.Get("k").Str(); got != want.K || v.Get("n").Int() != 1 {
			t.Errorf("Parse(%q): got %q, want %q", doc, got, want.K)
		}
		v.Release()
	})
}

package formats

import (
	"encoding/json"
	"testing"
)

// fuzzDecoder checks the decoder's contract on any input: no panic, a line with content always becomes an event
// (never an error), and the event is a JSON object whose event.original is the line.
func fuzzDecoder(f *testing.F, format string, seeds []string) {
	for _, s := range seeds {
		f.Add(s)
	}
	d, err := New(Config{Format: format})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		tree, err := d.Decode([]byte(line), recordTime)
		if err != nil {
			return // an empty record: the only error
		}
		b, err := json.Marshal(tree)
		if err != nil {
			t.Fatalf("%q: the event does not encode: %v", line, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%q: the event is not a JSON object: %v", line, err)
		}
		if _, ok := doc["event"].(map[string]any); !ok && format != "json" {
			t.Fatalf("%q: got no event.original: %s", line, b)
		}
	})
}

func seeds(cases []struct {
	format, line string
	want         map[string]any
}, format string) []string {
	var out []string
	for _, c := range cases {
		if c.format == format {
			out = append(out, c.line)
		}
	}
	return out
}

func FuzzSyslog(f *testing.F) {
	var s []string
	for _, c := range syslogCases {
		s = append(s, c.line)
	}
	fuzzDecoder(f, "syslog", append(s, "<34>1 - - - - - [a b=\"\\\"\"]", "<0>", "Jan  1 00:00:00"))
}

func FuzzCEF(f *testing.F) {
	fuzzDecoder(f, "cef", append(seeds(formatCases, "cef"), `CEF:0|\|\\|a|b|c|d|e|k=\=\\\n x=`))
}

func FuzzLEEF(f *testing.F) {
	fuzzDecoder(f, "leef", append(seeds(formatCases, "leef"), "LEEF:2.0|a|b|c|d|x7C|k=v|j=w"))
}

func FuzzKV(f *testing.F) {
	fuzzDecoder(f, "kv", append(seeds(formatCases, "kv"), `a="unterminated`, `='x' b=`))
}

func FuzzHEC(f *testing.F) {
	fuzzDecoder(f, "hec", append(seeds(formatCases, "hec"), `{"event":{"event":"x"},"fields":{"a.b":{"c":1}}}`,
		`{"event":"x","time":"1e400"}`))
}

func FuzzLines(f *testing.F) { fuzzDecoder(f, "lines", seeds(formatCases, "lines")) }

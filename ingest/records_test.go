package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestRecordReader(t *testing.T) {
	in := "{\"a\":1}\n" + // 1
		"not json\n" + // 2
		"\n" + // 3: blank lines are skipped
		"{\"b\":\n  {\"c\": \"}{\"}\n}\n" + // 4-6: pretty-printed, braces inside strings
		"{\"d\":1}{\"e\":2} {\"f\":\"\\\"}\"}\n" + // 7: concatenated on one line
		"[1,2]\n" + // 8
		"{\"g\": 1" // 9: cut off at the end
	type rec struct {
		data string
		line int64
		bad  bool
	}
	want := []rec{
		{`{"a":1}`, 1, false},
		{`not json`, 2, true},
		{"{\"b\":\n  {\"c\": \"}{\"}\n}", 4, false},
		{`{"d":1}`, 7, false},
		{`{"e":2}`, 7, false},
		{`{"f":"\"}"}`, 7, false},
		{`[1,2]`, 8, true},
		{`{"g": 1`, 9, true},
	}
	rr := NewRecordReader(strings.NewReader(in), 1<<20)
	for i, w := range want {
		got, err := rr.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if string(got.Data) != w.data || got.Line != w.line || (got.Err != nil) != w.bad {
			t.Errorf("record %d: got %q line %d err %v, want %q line %d bad %v", i, got.Data, got.Line, got.Err, w.data, w.line, w.bad)
		}
	}
	if _, err := rr.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("at the end: got %v, want io.EOF", err)
	}
}

func TestRecordReaderOversize(t *testing.T) {
	big := `{"a":"` + strings.Repeat("x", 100) + `",` + "\n" + `"b":{"c":1}}` + "\n" + `{"ok":1}` + "\n"
	rr := NewRecordReader(strings.NewReader(big), 50)
	got, err := rr.Next()
	if err != nil || !errors.Is(got.Err, ErrOversize) || got.Line != 1 {
		t.Fatalf("got %+v, %v; want an oversize record at line 1", got, err)
	}
	got, err = rr.Next()
	if err != nil || got.Err != nil || string(got.Data) != `{"ok":1}` || got.Line != 3 {
		t.Fatalf("after an oversized record: got %q line %d err %v, want {\"ok\":1} at line 3", got.Data, got.Line, got.Err)
	}
}

// recordTrace is everything a caller sees of a reader's records, in order: data, line, framing error and the final
// error.
func recordTrace(next func() (Record, error)) []string {
	var out []string
	for len(out) < 10000 {
		rec, err := next()
		if err != nil {
			return append(out, "error: "+err.Error())
		}
		errText := ""
		if rec.Err != nil {
			errText = rec.Err.Error()
		}
		out = append(out, fmt.Sprintf("%d %q %s", rec.Line, rec.Data, errText))
	}
	return out
}

// checkSameRecords fails when the reader and the byte-by-byte reference frame in differently.
func checkSameRecords(t *testing.T, in string, maxBytes int) {
	t.Helper()
	got := recordTrace(NewRecordReader(strings.NewReader(in), maxBytes).Next)
	want := recordTrace(newRefReader(strings.NewReader(in), maxBytes).Next)
	if !slices.Equal(got, want) {
		t.Errorf("input %q, max %d:\ngot  %q\nwant %q", in, maxBytes, got, want)
	}
}

var trickyRecords = []string{
	"{\"a\":1}\n{\"b\":2}\n",
	"{\"a\":\n  {\"c\": \"}{\"}\n}\n",                        // an object across lines, braces in a string
	"{\"d\":1}{\"e\":2} {\"f\":\"\\\"}\"}\n",                 // two objects on a line, an escaped quote
	"{\"p\":\"C:\\\\Windows\\\\\"}\n{\"q\":\"\\\\\\\"}\"}\n", // runs of backslashes before a quote
	"{\"s\":\"a\nb}\"}\n{\"t\":1}\n",                         // a newline inside a string
	"{\"s\":\"a\\\n}\"}\n",                                   // a backslash before the newline
	"{\"s\":\"\\",                                            // a backslash at the very end
	"{\"s\":\"\\\\",                                          // two
	"{\"a\":1}\r\n\r\n{\"b\":[1,{\"c\":2}]}\r\n",             // CRLF and a blank line
	"\n\n  \t\n{\"a\":1}",                                    // blank lines first, no final newline
	"not json\n[1,2]\n\"str\"\n42\n{\"a\":1} trailing\n",     // lines that are not objects
	"{\"a\":1]\n{]}\n{\"a\":[}\n",                            // mismatched brackets
	"{\"g\": 1",                                              // cut off
	"{\"g\": \"x",                                            // cut off inside a string
	"{\"a\":\"" + strings.Repeat("x", 100) + "\",\n\"b\":{\"c\":\"}\\\"\"}}\n{\"ok\":1}\n", // oversize across lines
	"{\"a\":\"" + strings.Repeat("y", 100) + "\"}\n{\"ok\":1}\n",                           // long, but on one line
	"{\"a\":\n\"" + strings.Repeat("z", 60) + "\\\n\"}\n{\"ok\":1}\n",                      // oversize, escape at a line end
	"{\"a\":[\n" + strings.Repeat("{},\n", 20) + "{}]}\n{\"ok\":1}\n",
	"{\"a\":\"\\u0022}\",\"b\":\"\\\\\"}{\"c\":\"}\"}",
	"{\"é\":\"\xff\xfe}\"}\n",
}

func TestRecordReaderDifferential(t *testing.T) {
	for _, in := range trickyRecords {
		for _, max := range []int{1 << 20, 50, 20, 8, 1} {
			checkSameRecords(t, in, max)
		}
	}
	// Random streams of the bytes that matter to framing.
	const alphabet = "{}[]\"\\\n\r a:,"
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rnd.IntN(60))
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		if rnd.IntN(2) == 0 && len(b) > 0 {
			b[0] = '{'
		}
		checkSameRecords(t, string(b), []int{1 << 20, 16, 4}[rnd.IntN(3)])
	}
}

// FuzzRecordReader holds the reader's fast scanner to the byte-by-byte reference on any input.
func FuzzRecordReader(f *testing.F) {
	for _, in := range trickyRecords {
		f.Add([]byte(in), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint8) {
		maxBytes := 1 << 20
		if max > 0 {
			maxBytes = int(max)
		}
		checkSameRecords(t, string(data), maxBytes)
	})
}

// BenchmarkRecordReader frames a stream of real Windows events (OTRF recordings), one per line, as `vigil replay`
// reads them; the reference is the byte-by-byte scanner it replaced.
func BenchmarkRecordReader(b *testing.B) {
	sample, err := os.ReadFile("../fields/testdata/otrf.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	in := bytes.Repeat(sample, 100)
	for _, r := range []struct {
		name string
		next func(io.Reader) func() (Record, error)
	}{
		{"indexbyte", func(r io.Reader) func() (Record, error) { return NewRecordReader(r, 1<<20).Next }},
		{"bytewise", func(r io.Reader) func() (Record, error) { return newRefReader(r, 1<<20).Next }},
	} {
		b.Run(r.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				next := r.next(bytes.NewReader(in))
				for {
					if _, err := next(); err != nil {
						break
					}
				}
			}
		})
	}
}

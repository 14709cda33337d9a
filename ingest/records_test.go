package ingest

import (
	"errors"
	"io"
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

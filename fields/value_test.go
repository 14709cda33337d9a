package fields

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestAccessors(t *testing.T) {
	v, err := Parse([]byte(`{"event": {"code": 4688, "category": ["process", "start"]}, "process.pid": 7,
		"x": -1.5, "u": 18446744073709551615, "ok": true, "nil": null}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Lookup("event", "code"); got.Kind() != Int || got.Int() != 4688 {
		t.Errorf("event.code: got %v %v, want Int 4688", got.Kind(), got.Int())
	}
	cat := v.Lookup("event", "category")
	if cat.Kind() != Array || cat.Len() != 2 || cat.Index(1).Str() != "start" || cat.Index(2).Exists() {
		t.Errorf("event.category: got %v of %d, want an array of 2 ending in start", cat.Kind(), cat.Len())
	}
	if got := v.Lookup("process", "pid").Int(); got != 7 {
		t.Errorf("process.pid: got %d, want 7", got)
	}
	if v.Get("x").Float() != -1.5 || v.Get("u").Uint() != 18446744073709551615 || !v.Get("ok").Bool() {
		t.Errorf("numbers and booleans read wrong: %v", v.Map())
	}
	if v.Get("nil").Kind() != Null || !v.Get("nil").Exists() || v.Get("missing").Exists() {
		t.Errorf("null must be present and Null, a missing member nil")
	}
	if v.Lookup("event", "code", "deeper").Exists() || v.Lookup("missing", "x").Kind() != Null {
		t.Errorf("a path through a leaf or a missing member must give nil")
	}
	keys := []string{}
	for k := range v.Members() {
		keys = append(keys, k)
	}
	if want := "event process x u ok nil"; strings.Join(keys, " ") != want {
		t.Errorf("members: got %v, want %s", keys, want)
	}
}

// TestParseLikeElasticsearch compares Parse with encoding/json followed by the expansion Elasticsearch applies
// (expand below), on random documents full of dotted keys, duplicates and objects meeting scalars, small and large
// (objects of bigObject members or more are searched through the member index).
func TestParseLikeElasticsearch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		doc := randomDoc(r, 0, 1+r.IntN(40))
		v, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("Parse(%s): %v", doc, err)
		}
		got, _ := json.Marshal(v.Map())
		want, _ := json.Marshal(expand(doc))
		if string(got) != string(want) {
			t.Fatalf("doc %d %s:\ngot  %s\nwant %s", i, doc, got, want)
		}
		if n := countMembers(v); n != len(v.Map()) {
			t.Fatalf("doc %d: Len %d but %d members", i, v.Len(), n)
		}
		v.Release() // the next document is decoded into this tree's storage and member index
	}
}

func countMembers(v Value) int {
	n := 0
	for range v.Members() {
		n++
	}
	if n != v.Len() {
		return -1
	}
	return n
}

// randomDoc writes an object with n members drawn from a small set of keys, so duplicates and dotted paths collide.
func randomDoc(r *rand.Rand, depth, n int) string {
	keys := []string{"a", "b", "a.b", "a.c", "b.a", "a.b.c", "c", ".d", "e.", "a..b"}
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		key := keys[r.IntN(len(keys))]
		if r.IntN(4) == 0 {
			key = fmt.Sprintf("k%d", r.IntN(30))
		}
		fmt.Fprintf(&b, "%q:", key)
		switch k := r.IntN(6); {
		case k == 0 && depth < 3:
			b.WriteString(randomDoc(r, depth+1, r.IntN(20)))
		case k == 1:
			fmt.Fprintf(&b, "[%d,%q]", r.IntN(9), "s")
		default:
			fmt.Fprintf(&b, "%d", r.IntN(1000))
		}
	}
	b.WriteString("}")
	return b.String()
}

// expand decodes doc with encoding/json's tokenizer, member by member in document order, applying the expansion as
// the map-based decoder did (setField).
func expand(doc string) map[string]any {
	var ordered func(dec *json.Decoder) any
	ordered = func(dec *json.Decoder) any {
		tok, _ := dec.Token()
		switch tok {
		case json.Delim('{'):
			out := map[string]any{}
			for dec.More() {
				k, _ := dec.Token()
				setField(out, k.(string), ordered(dec))
			}
			dec.Token()
			return out
		case json.Delim('['):
			out := []any{}
			for dec.More() {
				out = append(out, ordered(dec))
			}
			dec.Token()
			return out
		}
		return tok
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	return ordered(dec).(map[string]any)
}

// setField is the expansion as the map-based decoder did it.
func setField(m map[string]any, key string, v any) {
	if i := strings.IndexByte(key, '.'); i > 0 && i < len(key)-1 {
		child, ok := m[key[:i]].(map[string]any)
		if !ok {
			child = map[string]any{}
			m[key[:i]] = child
		}
		setField(child, key[i+1:], v)
		return
	}
	if old, ok := m[key].(map[string]any); ok {
		if nv, ok := v.(map[string]any); ok {
			for k, x := range nv {
				setField(old, k, x)
			}
			return
		}
	}
	m[key] = v
}

// TestParseLargeObject: members of large objects are found through an index, so a record with many keys, duplicated
// and dotted, decodes in linear time and as Elasticsearch reads it.
func TestParseLargeObject(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"x": 1`)
	for i := range 20000 {
		fmt.Fprintf(&b, `, "k%d": %d, "o.k%d": {"v": %d}`, i, i, i%100, i)
	}
	for i := range 20000 {
		fmt.Fprintf(&b, `, "k%d": "again", "o": {"k%d": {"w": 1}}`, i, i%100)
	}
	b.WriteString(`, "x": {"a": 1}}`)
	doc := b.String()
	v, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(v.Map())
	want, _ := json.Marshal(expand(doc))
	if string(got) != string(want) {
		t.Fatalf("got %.300s…, want %.300s…", got, want)
	}
	if v.Len() != 20002 || v.Get("k19999").Str() != "again" || v.Lookup("o", "k99", "v").Int() != 19999 {
		t.Errorf("got %d members, k19999=%v, o.k99.v=%v", v.Len(), v.Get("k19999").Interface(), v.Lookup("o", "k99", "v").Interface())
	}
}

// TestRelease: a released tree's storage is reused by the next Parse, strings read before stay intact, and a Value of
// the released tree panics instead of reading the new event.
func TestRelease(t *testing.T) {
	v, err := Parse([]byte(`{"a": "plain", "b": "esc\"aped", "c": {"d": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := v.Get("a").Str(), v.Get("b").Str(), v.Get("c")
	v.Release()
	v.Release() // a second release is ignored
	for range 3 {
		w, err := Parse([]byte(`{"x": "ot\"her", "c": {"d": 2}}`))
		if err != nil {
			t.Fatal(err)
		}
		if w.Lookup("c", "d").Int() != 2 || w.Get("x").Str() != `ot"her` {
			t.Errorf("a tree parsed into reused storage reads %v", w.Map())
		}
		w.Release()
	}
	if a != "plain" || b != `esc"aped` {
		t.Errorf("strings read before the release changed: %q %q", a, b)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("reading a Value of a released tree did not panic")
		}
	}()
	c.Get("d")
}

// TestReleaseKeepsUnescapedTexts: a pooled tree writes its unescaped texts into a scratch buffer it keeps, and
// copies them out; the strings read from one record's tree survive the decoding of the next ones into that tree.
func TestReleaseKeepsUnescapedTexts(t *testing.T) {
	var read []string
	for i := range 20 {
		v, err := Parse(fmt.Appendf(nil, `{"p": "C:\\Windows\\%d", "m": "line\r\n\t%d"}`, i, i))
		if err != nil {
			t.Fatal(err)
		}
		read = append(read, v.Get("p").Str(), v.Get("m").Str())
		v.Release()
	}
	for i := range 20 {
		if p, m := read[2*i], read[2*i+1]; p != fmt.Sprintf(`C:\Windows\%d`, i) || m != fmt.Sprintf("line\r\n\t%d", i) {
			t.Errorf("record %d: got %q %q after later records reused its tree", i, p, m)
		}
	}
}

// TestMarshalJSON: a Value encodes to the bytes encoding/json gives for its plain Go form.
func TestMarshalJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	docs := []string{
		`{"s": "tab\t nl\n cr\r bs\\ q\" ctl\u0001\u001f bell\b ff\f <tag> & \u2028 \u2029 é 😀 \ud800 x", "e": ""}`,
		`{"f": [0.1, 1e-7, 1e-6, 123456789012345678901234.0, 1e21, 1e20, -0.0, 3.0, 2.5e-300, 1.7976931348623157e308]}`,
		`{"i": [0, -1, 9223372036854775807, -9223372036854775808, 18446744073709551615], "b": [true, false, null]}`,
		`{"z": {"b": 1, "a": {"d": [], "c": {}}}, "a.b": 2, "": "empty key"}`,
	}
	for range 500 {
		docs = append(docs, randomDoc(r, 0, 1+r.IntN(30)))
	}
	for _, doc := range docs {
		v, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("Parse(%s): %v", doc, err)
		}
		got, err := json.Marshal(map[string]any{"doc": v, "list": []any{v.Get("z"), v.Get("s")}})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(map[string]any{"doc": v.Interface(), "list": []any{v.Get("z").Interface(), v.Get("s").Interface()}})
		if string(got) != string(want) {
			t.Errorf("%s:\ngot  %s\nwant %s", doc, got, want)
		}
	}
}

// TestNumbersBeyondFloat64: a number beyond float64's range decodes (as ±Inf for comparisons), keeps its literal, and
// encodes back to it, alone and inside objects, so its event and alert are never unencodable. A tiny number (1e-400)
// rounds to 0, as any float rounds.
func TestNumbersBeyondFloat64(t *testing.T) {
	v, err := Parse([]byte(`{"x":1e400,"y":{"z":-2E+999,"w":[1e-400]},"n":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if x := v.Get("x"); x.Kind() != Float || !math.IsInf(x.Float(), 1) {
		t.Errorf("x: got %v %v, want a Float of +Inf", x.Kind(), x.Float())
	}
	if z := v.Lookup("y", "z"); !math.IsInf(z.Float(), -1) {
		t.Errorf("y.z: got %v, want -Inf", z.Float())
	}
	if s, ok := v.Get("x").Literal(); !ok || s != "1e400" {
		t.Errorf("x: got literal %q %v, want 1e400", s, ok)
	}
	if _, ok := v.Get("n").Literal(); ok {
		t.Errorf("n: an ordinary float has no literal")
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"n":1.5,"x":1e400,"y":{"w":[0],"z":-2E+999}}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	b, err = json.Marshal(map[string]any{"x": v.Get("x").Interface(), "y": v.Get("y").Interface()})
	if err != nil || string(b) != `{"x":1e400,"y":{"w":[0],"z":-2E+999}}` {
		t.Errorf("Interface: got %s %v", b, err)
	}
}

// TestShadowedKeys: a key whose value a later duplicate replaces is listed, whether the duplicate is a plain key, a
// dotted path or an object over a value; merges of two objects and a record without duplicates list nothing.
func TestShadowedKeys(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want []string
	}{
		{`{"cmd":"evil","cmd":"benign"}`, []string{"cmd"}},
		{`{"a.b":1,"a":{"b":2}}`, []string{"b"}},
		{`{"a":1,"a.b":2}`, []string{"a"}},
		{`{"p":{"x":1},"p":{"y":2}}`, nil},
		{`{"p":{"x":1},"q":[1,1]}`, nil},
	} {
		v, err := Parse([]byte(tc.doc))
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Shadowed(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.doc, got, tc.want)
		}
		v.Release()
	}
	v, _ := Parse([]byte(`{"x":1}`)) // a reused tree starts with nothing shadowed
	if got := v.Shadowed(); got != nil {
		t.Errorf("a reused tree: got %q, want none", got)
	}
}

package fields

import (
	"fmt"
	"unicode/utf8"
)

// Builder builds a tree member by member, exactly as Parse builds it from the object {"key": value, ...}: a dotted
// key is a path of nested objects, objects that meet are merged, and a later value replaces an earlier one. The
// record decoders of package formats build their events with it, without writing and re-reading JSON text.
//
// Texts are copied into one buffer that the tree owns (invalid UTF-8 becomes U+FFFD, as AppendString writes it), so
// the caller's strings may change afterwards. A Builder makes one tree: Value ends it.
type Builder struct {
	b    builder
	root int32
}

// NewBuilder starts a tree of about members members and size bytes of keys and texts (hints for its storage).
func NewBuilder(members, size int) *Builder {
	t := newTree()
	if cap(t.nodes) < 2*members+2 {
		t.nodes = make([]node, 0, 2*members+2)
	}
	t.raw = make([]byte, 0, size)
	b := &Builder{b: builder{t: t}}
	b.root = b.b.add(Object)
	return b
}

// text appends s to the tree's buffer and returns its span.
func (b *Builder) text(s string) span {
	t := b.b.t
	off := len(t.raw)
	if utf8.ValidString(s) {
		t.raw = append(t.raw, s...)
	} else {
		for _, r := range s { // an invalid byte comes as RuneError
			t.raw = utf8.AppendRune(t.raw, r)
		}
	}
	return span{uint32(off), uint32(len(t.raw) - off)}
}

// String sets key to the string s.
func (b *Builder) String(key, s string) {
	k := b.text(key)
	v := b.b.add(String)
	b.b.t.nodes[v].val = b.text(s).packed()
	b.b.set(b.root, k, v)
}

// Int sets key to an integer.
func (b *Builder) Int(key string, n int64) {
	k := b.text(key)
	v := b.b.add(Int)
	b.b.t.nodes[v].val = uint64(n)
	b.b.set(b.root, k, v)
}

// JSON sets key to a JSON-encoded value (a number, a list, an object from a configuration...).
func (b *Builder) JSON(key string, value []byte) error {
	k := b.text(key)
	t := b.b.t
	start := len(t.raw)
	t.raw = append(t.raw, value...)
	d := decoder{data: t.raw, pos: start, b: b.b}
	v, err := d.value(0)
	if err == nil {
		if d.skipSpace(); d.pos != len(d.data) {
			err = d.errorf("unexpected data after the value")
		}
	}
	b.b = d.b
	if err != nil {
		t.raw = t.raw[:start]
		return fmt.Errorf("%s: %w", key, err)
	}
	b.b.set(b.root, k, v)
	return nil
}

// Value ends the tree and returns its root; Release gives its storage back as for a parsed tree. A tree larger than
// Parse takes is an error.
func (b *Builder) Value() (Value, error) {
	b.b.t.ownExtra()
	v := Value{t: b.b.t, gen: b.b.t.gen}
	if n := len(v.t.raw) + len(v.t.extra); n > maxRecord {
		v.Release()
		return Value{}, fmt.Errorf("event of %d bytes: larger than %d", n, maxRecord)
	}
	return v, nil
}

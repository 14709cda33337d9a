// Package fields holds the decoded form of an event: a tree of JSON values that rules read in place.
//
// An event is decoded once, by Parse (or built member by member by Builder, for records that are not JSON), into one
// slice of nodes linked as a tree. No map is built and no value boxed;
// the nodes hold no pointers (texts are offsets into the record's bytes, or into one buffer for unescaped texts), so
// the garbage collector never scans them. The rule engine reads the tree directly (rules wraps it as CEL values); the
// alert document, which enrichers and sinks change, is built from it with Map.
//
// The tree has the semantics Elasticsearch gives a JSON document: a key containing dots is expanded into nested
// objects ({"file.path": "x"} and {"file": {"path": "x"}} are the same event), objects that meet are merged, and
// when two members give the same leaf the later one wins. Integers stay integers (int64, or uint64 above its range);
// other numbers are float64.
//
// A tree is immutable once built and safe for concurrent readers.
package fields

import (
	"bytes"
	"encoding/json"
	"iter"
	"math"
	"strconv"
	"sync"
	"unsafe"
)

// Kind is the JSON type of a Value.
type Kind uint8

// The kinds of values.
const (
	Null Kind = iota
	Bool
	Int   // an integer that fits int64
	Uint  // an integer above the int64 range
	Float // any other number
	String
	Array
	Object
)

// Value is one value of a decoded tree. The zero Value stands for a missing value: it does not Exist, its Kind is
// Null, and reading it gives zero values.
type Value struct {
	t   *tree
	i   int32
	gen uint32 // the tree's generation when the value was made: a released tree has moved on
}

type tree struct {
	raw   []byte // the record: texts without escapes point here
	extra []byte // texts that had escapes, unescaped
	nodes []node // the root first
	gen   uint32
	// shadowed names the keys whose value a later duplicate replaced (at most maxShadowed).
	shadowed []string
	// members is the builder's index of large objects, kept with the tree so that it is pooled with it.
	members memberIndex
	// scratch is where a pooled tree's unescaped texts are written while it is built (extra is scratch then, and
	// inScratch is set); the tree then copies them into an extra of their exact size. The scratch buffer is pooled
	// with the tree, so a stream of released records allocates only what its trees keep. A tree without one (new, and
	// never released: a caller that does not release pays nothing for the scratch) writes into its own extra.
	scratch   []byte
	inScratch bool
}

// newTree takes a tree from the pool, or makes one, for Parse or a Builder to build.
func newTree() *tree {
	t, _ := trees.Get().(*tree)
	if t == nil {
		return &tree{}
	}
	if t.scratch != nil {
		t.extra, t.inScratch = t.scratch[:0], true
	}
	return t
}

// ownExtra ends the building of t: its unescaped texts are copied out of the scratch buffer into an extra of their
// own, which is never reused, since strings read from the tree may outlive it.
func (t *tree) ownExtra() {
	if !t.inScratch {
		return
	}
	t.scratch, t.inScratch = t.extra[:0], false
	if len(t.extra) == 0 {
		t.extra = nil
		return
	}
	t.extra = bytes.Clone(t.extra)
}

// maxShadowed bounds the shadowed keys a tree lists.
const maxShadowed = 16

// Shadowed returns the names of the keys whose value a later key of the same name replaced while the record was
// decoded ({"cmd":"evil","cmd":"benign"}, or {"a.b":1,"a":{"b":2}}), at most 16, or nil. Rules see only the last
// value, as Elasticsearch does; the starter pack's vigil.meta.shadowed_fields rule raises an alert for such records,
// so a value cannot be hidden this way.
func (v Value) Shadowed() []string {
	if v.t == nil || v.i != 0 {
		return nil
	}
	v.node() // checks the generation
	return v.t.shadowed
}

// trees holds the trees whose storage Release returned, for Parse to reuse: decoding a stream then writes its nodes
// into memory that is already mapped and mostly in cache, instead of fresh memory for every event.
var trees sync.Pool

// Release returns the storage of the tree whose root is v for reuse by a later Parse. Neither v nor any Value read
// from it may be used afterwards: doing so panics, or with a data race reads another event. Strings read from the
// tree stay valid (they point into the record, or into a buffer that is not reused). Calling Release is optional; a
// tree that is never released is simply garbage collected.
func (v Value) Release() {
	if v.t == nil || v.i != 0 || v.gen != v.t.gen {
		return
	}
	t := v.t
	t.gen++
	switch {
	case t.inScratch: // a Builder that never ended, or a failed Parse
		t.scratch, t.inScratch = t.extra[:0], false
	case t.scratch == nil && cap(t.extra) > 0: // the extra stays the tree's: its next record gets a scratch
		t.scratch = make([]byte, 0, cap(t.extra))
	}
	if cap(t.scratch) > maxPooledScratch {
		t.scratch = nil
	}
	t.raw, t.extra, t.nodes, t.shadowed = nil, nil, t.nodes[:0], nil
	t.members.reset()
	if cap(t.nodes) <= maxPooledNodes {
		trees.Put(t)
	}
}

// maxPooledNodes and maxPooledScratch keep the storage of unusually large records out of the pool.
const (
	maxPooledNodes   = 4096
	maxPooledScratch = 64 << 10
)

// node is 24 bytes: it is written once per value of every event.
type node struct {
	key span // the member name, when the node is an object member
	// val is, by kind: a String's span (offset in the high half); 0 or 1 for a Bool; the integer for Int and Uint;
	// a Float's bits; the first and last children (first in the high half) of an Array or Object.
	val uint64
	// next is the following sibling. Index 0 is the root, which is nobody's child, so 0 means "none".
	next int32
	// kn holds the kind in its low 3 bits and, above them, the number of elements or members of an Array or Object.
	kn uint32
}

const kindBits = 3

// literal, on a Float, says val is the span of the number's text in the record: a number beyond float64's range.
const literal = 1 << kindBits

func (n *node) kind() Kind { return Kind(n.kn & (1<<kindBits - 1)) }
func (n *node) n() int32   { return int32(n.kn >> kindBits) }

func (n *node) str() span               { return span{uint32(n.val >> 32), uint32(n.val)} }
func (n *node) first() int32            { return int32(n.val >> 32) }
func (n *node) last() int32             { return int32(uint32(n.val)) }
func (s span) packed() uint64           { return uint64(s.off)<<32 | uint64(s.n) }
func children(first, last int32) uint64 { return uint64(first)<<32 | uint64(uint32(last)) }

// span locates a text in the record, or in the tree's extra buffer when n has the inExtra bit.
type span struct{ off, n uint32 }

const inExtra = 1 << 31

func (t *tree) text(s span) string {
	buf := t.raw
	if s.n&inExtra != 0 {
		buf = t.extra
	}
	n := s.n &^ inExtra
	if n == 0 {
		return ""
	}
	return unsafe.String(&buf[s.off], n)
}

func (v Value) node() *node {
	if v.gen != v.t.gen {
		panic("fields: use of a Value after its tree was released")
	}
	return &v.t.nodes[v.i]
}

// at returns the value at index i of v's tree.
func (v Value) at(i int32) Value { return Value{v.t, i, v.gen} }

// Exists reports whether the value is present (a JSON null is present).
func (v Value) Exists() bool { return v.t != nil }

// Kind returns the value's JSON type; a missing value is Null.
func (v Value) Kind() Kind {
	if v.t == nil {
		return Null
	}
	return v.node().kind()
}

// Key returns the member name of an object member.
func (v Value) Key() string {
	if v.t == nil {
		return ""
	}
	return v.t.text(v.node().key)
}

// Str returns a String's text.
func (v Value) Str() string {
	if v.t == nil {
		return ""
	}
	return v.t.text(v.node().str())
}

// Bool returns a Bool's value.
func (v Value) Bool() bool { return v.t != nil && v.node().val != 0 }

// Int returns an Int's value.
func (v Value) Int() int64 { return int64(v.Uint()) }

// Uint returns a Uint's value.
func (v Value) Uint() uint64 {
	if v.t == nil {
		return 0
	}
	return v.node().val
}

// Float returns a Float's value; a number beyond float64's range is ±Inf (or 0 for a tiny one).
func (v Value) Float() float64 {
	if s, ok := v.Literal(); ok {
		f, _ := strconv.ParseFloat(s, 64)
		return f
	}
	return math.Float64frombits(v.Uint())
}

// Literal returns the text of a Float beyond float64's range, such as 1e400, which the tree keeps as it was written;
// ok is false for any other value.
func (v Value) Literal() (string, bool) {
	if v.t == nil {
		return "", false
	}
	n := v.node()
	if n.kind() != Float || n.kn&literal == 0 {
		return "", false
	}
	return v.t.text(n.str()), true
}

// Len returns the number of elements of an Array or members of an Object, and 0 for other values.
func (v Value) Len() int {
	if v.t == nil {
		return 0
	}
	return int(v.node().n())
}

// First returns the first element of an Array or member of an Object; it does not exist when there is none.
func (v Value) First() Value {
	if v.t == nil || v.node().kind() < Array || v.node().first() == 0 {
		return Value{}
	}
	return v.at(v.node().first())
}

// Next returns the element or member after v in its array or object; it does not exist when v is the last.
func (v Value) Next() Value {
	if v.t == nil || v.node().next == 0 {
		return Value{}
	}
	return v.at(v.node().next)
}

// Members yields the members of an Object with their names.
func (v Value) Members() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		if v.Kind() != Object {
			return
		}
		for m := v.First(); m.t != nil; m = m.Next() {
			if !yield(m.Key(), m) {
				return
			}
		}
	}
}

// Elements yields the elements of an Array.
func (v Value) Elements() iter.Seq[Value] {
	return func(yield func(Value) bool) {
		if v.Kind() != Array {
			return
		}
		for e := v.First(); e.t != nil; e = e.Next() {
			if !yield(e) {
				return
			}
		}
	}
}

// Get returns the member of an Object with the given name; it does not exist when v is not an object or has no such
// member.
func (v Value) Get(key string) Value {
	if v.Kind() != Object {
		return Value{}
	}
	for i := v.node().first(); i != 0; {
		n := &v.t.nodes[i]
		if int(n.key.n&^inExtra) == len(key) && v.t.text(n.key) == key {
			return v.at(i)
		}
		i = n.next
	}
	return Value{}
}

// Lookup follows a path of member names from v.
func (v Value) Lookup(path ...string) Value {
	for _, k := range path {
		v = v.Get(k)
	}
	return v
}

// Index returns the i-th element of an Array; it does not exist when i is out of range.
func (v Value) Index(i int) Value {
	if v.Kind() != Array || i < 0 || i >= v.Len() {
		return Value{}
	}
	e := v.First()
	for ; i > 0; i-- {
		e = e.Next()
	}
	return e
}

// Interface returns the value as plain Go values, newly allocated: map[string]any, []any, string, int64, uint64,
// float64, bool, or nil for null and for a missing value. The result shares nothing mutable with the tree.
func (v Value) Interface() any {
	switch v.Kind() {
	case Bool:
		return v.Bool()
	case Int:
		return v.Int()
	case Uint:
		return v.Uint()
	case Float:
		if s, ok := v.Literal(); ok {
			return json.Number(s) // encodes as the literal
		}
		return v.Float()
	case String:
		return v.Str()
	case Array:
		out := make([]any, 0, v.Len())
		for e := range v.Elements() {
			out = append(out, e.Interface())
		}
		return out
	case Object:
		return v.Map()
	}
	return nil
}

// Map returns an Object as a newly allocated map[string]any (nested values as Interface gives them); any other value
// gives an empty map.
func (v Value) Map() map[string]any {
	out := make(map[string]any, v.Len())
	for k, m := range v.Members() {
		out[k] = m.Interface()
	}
	return out
}

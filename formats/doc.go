package formats

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// doc collects the fields of one event, in order, as dotted keys with their values, and becomes an event tree
// through fields.Builder (which expands the dotted keys as Parse does): rules then see exactly the types a JSON
// record gives. Strings are kept as texts (most point into the record) and copied once, into the tree; other values
// are kept JSON-encoded. Building the tree directly measured about twice as fast as writing the document as JSON
// text and parsing it (BenchmarkBuilder in package fields).
type doc struct {
	entries []entry
	vals    []byte // the encoded values, back to back
}

// entry is one field: a text, an integer, or a JSON-encoded value or a text at vals[off:end].
type entry struct {
	key      string
	kind     entryKind
	text     string
	num      int64
	off, end int
}

type entryKind uint8

const (
	textEntry    entryKind = iota // text
	numEntry                      // num
	jsonEntry                     // vals[off:end], encoded
	valTextEntry                  // vals[off:end], a text (written there, as a formatted time)
)

// reset empties d for the next record, keeping its storage.
func (d *doc) reset() {
	clear(d.entries) // drop the texts, which point into the last record
	d.entries, d.vals = d.entries[:0], d.vals[:0]
}

// put returns the index of key's entry, emptied: a key already present is replaced in place when replace is set
// (so a parser's field overrides the decoder's without a duplicate key), a new one is appended.
func (d *doc) put(key string, replace bool) int {
	if replace {
		for i := range d.entries {
			if d.entries[i].key == key {
				d.entries[i] = entry{key: key}
				return i
			}
		}
	}
	d.entries = append(d.entries, entry{key: key})
	return len(d.entries) - 1
}

// str sets key to a string.
func (d *doc) str(key, s string) { d.entries[d.put(key, false)].text = s }

// set sets key to a string, replacing an earlier value.
func (d *doc) set(key, s string) { d.entries[d.put(key, true)].text = s }

// num sets key to an integer.
func (d *doc) num(key string, n int64) {
	i := d.put(key, true)
	d.entries[i].kind, d.entries[i].num = numEntry, n
}

// inVals sets key to what write appends to vals, of kind k, replacing an earlier value when replace is set.
func (d *doc) inVals(key string, replace bool, k entryKind, write func([]byte) []byte) {
	i := d.put(key, replace)
	off := len(d.vals)
	d.vals = write(d.vals)
	d.entries[i].kind, d.entries[i].off, d.entries[i].end = k, off, len(d.vals)
}

// raw sets key to an already encoded JSON value.
func (d *doc) raw(key string, v []byte) {
	d.inVals(key, true, jsonEntry, func(b []byte) []byte { return append(b, v...) })
}

// time sets key to a timestamp in RFC 3339 with nanoseconds, in UTC, as @timestamp is written.
func (d *doc) time(key string, t time.Time) {
	d.inVals(key, true, valTextEntry, func(b []byte) []byte { return t.UTC().AppendFormat(b, time.RFC3339Nano) })
}

// valText is the text of a valTextEntry, without a copy: valid until d.vals changes.
func (d *doc) valText(e entry) string {
	return unsafe.String(unsafe.SliceData(d.vals[e.off:]), e.end-e.off)
}

// appendJSON appends d as one JSON object.
func (d *doc) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, e := range d.entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = fields.AppendString(b, e.key)
		b = append(b, ':')
		switch e.kind {
		case textEntry:
			b = fields.AppendString(b, e.text)
		case numEntry:
			b = strconv.AppendInt(b, e.num, 10)
		case jsonEntry:
			b = append(b, d.vals[e.off:e.end]...)
		case valTextEntry:
			b = fields.AppendString(b, d.valText(e))
		}
	}
	return append(b, '}')
}

// tree builds the event tree of d. The tree owns its texts: d may be reset afterwards.
func (d *doc) tree() (fields.Value, error) { return d.subtree(nil, true) }

// subtree builds the tree of the fields of d that paths name (a path covers the fields under it, and a field
// covers the paths under it: an object), or of all of them when all is set.
func (d *doc) subtree(paths []string, all bool) (fields.Value, error) {
	n := len(d.vals)
	for _, e := range d.entries {
		n += len(e.key) + len(e.text)
	}
	b := fields.NewBuilder(len(d.entries), n)
	for _, e := range d.entries {
		if !all && !slices.ContainsFunc(paths, func(p string) bool { return related(e.key, p) }) {
			continue
		}
		switch e.kind {
		case textEntry:
			b.String(e.key, e.text)
		case numEntry:
			b.Int(e.key, e.num)
		case valTextEntry:
			b.String(e.key, d.valText(e))
		case jsonEntry:
			if err := b.JSON(e.key, d.vals[e.off:e.end]); err != nil {
				v, _ := b.Value()
				v.Release()
				return fields.Value{}, err
			}
		}
	}
	return b.Value()
}

// lookup finds the string at path as the tree of d will have it: the last entry at the path, or under or above it,
// decides (a later value replaces an earlier one); an object or a value of another type is FieldOther.
func (d *doc) lookup(path string) (string, rules.FieldKind) {
	for i := len(d.entries) - 1; i >= 0; i-- {
		e := d.entries[i]
		switch {
		case !related(e.key, path):
			continue
		case e.key != path:
			return "", rules.FieldOther
		case e.kind == textEntry:
			return e.text, rules.FieldString
		case e.kind == valTextEntry:
			return d.valText(e), rules.FieldString
		}
		return "", rules.FieldOther
	}
	return "", rules.FieldMissing
}

// related reports whether one dotted path is the other or under it.
func related(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return strings.HasPrefix(b, a) && (len(a) == len(b) || b[len(a)] == '.')
}

package formats

import (
	"strconv"
	"time"

	"github.com/vigilsoc/vigil/fields"
)

// doc collects the fields of one event, in order, as dotted keys with JSON-encoded values, and becomes an event tree
// through fields.Parse (which expands the dotted keys): rules then see exactly the types a JSON record gives. Building
// JSON and parsing it measured faster than any map-based route, and it keeps one decoder of record trees.
type doc struct {
	entries []entry
	vals    []byte // the encoded values, back to back
}

type entry struct {
	key      string
	off, end int
}

// reset empties d for the next record, keeping its storage.
func (d *doc) reset() {
	d.entries, d.vals = d.entries[:0], d.vals[:0]
}

// begin starts the value of key: a key already present is replaced in place (so a parser's field overrides the
// decoder's without a duplicate key), a new one is appended. The caller appends the encoded value to d.vals, then
// calls end.
func (d *doc) begin(key string, replace bool) int {
	if replace {
		for i := range d.entries {
			if d.entries[i].key == key {
				d.entries[i].off = len(d.vals)
				return i
			}
		}
	}
	d.entries = append(d.entries, entry{key: key, off: len(d.vals)})
	return len(d.entries) - 1
}

func (d *doc) end(i int) { d.entries[i].end = len(d.vals) }

// str sets key to a string.
func (d *doc) str(key, s string) {
	i := d.begin(key, false)
	d.vals = fields.AppendString(d.vals, s)
	d.end(i)
}

// set sets key to a string, replacing an earlier value.
func (d *doc) set(key, s string) {
	i := d.begin(key, true)
	d.vals = fields.AppendString(d.vals, s)
	d.end(i)
}

// num sets key to an integer.
func (d *doc) num(key string, n int64) {
	i := d.begin(key, true)
	d.vals = strconv.AppendInt(d.vals, n, 10)
	d.end(i)
}

// raw sets key to an already encoded JSON value.
func (d *doc) raw(key string, v []byte) {
	i := d.begin(key, true)
	d.vals = append(d.vals, v...)
	d.end(i)
}

// time sets key to a timestamp in RFC 3339 with nanoseconds, in UTC, as @timestamp is written.
func (d *doc) time(key string, t time.Time) {
	i := d.begin(key, true)
	d.vals = append(d.vals, '"')
	d.vals = t.UTC().AppendFormat(d.vals, time.RFC3339Nano)
	d.vals = append(d.vals, '"')
	d.end(i)
}

// get returns the string value of key as encoded (with its quotes), or nil.
func (d *doc) get(key string) []byte {
	for i := len(d.entries) - 1; i >= 0; i-- {
		if d.entries[i].key == key {
			return d.vals[d.entries[i].off:d.entries[i].end]
		}
	}
	return nil
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
		b = append(b, d.vals[e.off:e.end]...)
	}
	return append(b, '}')
}

// tree encodes d and decodes it into an event tree. The JSON is a fresh slice: the tree points into it.
func (d *doc) tree() (fields.Value, error) {
	n := 2 + len(d.vals)
	for _, e := range d.entries {
		n += len(e.key) + 4
	}
	return fields.Parse(d.appendJSON(make([]byte, 0, n)))
}

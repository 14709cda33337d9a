package formats

import (
	"strconv"
	"time"
	"unicode/utf8"

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
	d.vals = appendString(d.vals, s)
	d.end(i)
}

// set sets key to a string, replacing an earlier value.
func (d *doc) set(key, s string) {
	i := d.begin(key, true)
	d.vals = appendString(d.vals, s)
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
		b = appendString(b, e.key)
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

const hexDigits = "0123456789abcdef"

// plain says an ASCII byte goes into a JSON string as it is (no control character, quote or backslash).
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json writes it.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		for i < len(s) && plain[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

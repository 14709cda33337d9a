package fields

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Parse decodes one JSON object into a tree (see the package comment). It is the only place events are decoded, and
// runs once per event on the hot path: it builds no map and boxes no value, and is several times faster than
// encoding/json into map[string]any (BenchmarkParse, `vigil bench`).
//
// Keys and string values without escapes are not copied: they point into data, which the caller must therefore never
// modify afterwards (an Event keeps its Raw bytes for its whole life, so this holds for events).
func Parse(data []byte) (Value, error) {
	// A node per ':' or ',' is an upper bound but for dotted keys: one allocation in most cases.
	v, n, err := parse(data, bytes.Count(data, []byte{':'})+bytes.Count(data, []byte{','})+2)
	if err == nil && n != len(data) {
		v.Release()
		return Value{}, fmt.Errorf("offset %d: unexpected data after the object", n)
	}
	return v, err
}

// ParseFirst decodes the JSON object at the start of data (after blanks) as Parse does, and returns how many bytes
// of data it took, blanks after the object included: for a stream of concatenated objects (Splunk HEC's request
// bodies), each decoded once, in place.
func ParseFirst(data []byte) (Value, int, error) {
	return parse(data, 0)
}

// parse decodes the object at the start of data with room for about nodes nodes, and returns where it ended.
func parse(data []byte, nodes int) (Value, int, error) {
	if len(data) > maxRecord {
		return Value{}, 0, fmt.Errorf("record of %d bytes: larger than %d", len(data), maxRecord)
	}
	d := decoder{data: data}
	d.skipSpace()
	if d.pos >= len(d.data) {
		return Value{}, d.pos, errors.New("empty input")
	}
	if d.data[d.pos] != '{' {
		return Value{}, d.pos, fmt.Errorf("not a JSON object (starts with %q)", d.data[d.pos])
	}
	t := newTree()
	if cap(t.nodes) < nodes {
		t.nodes = make([]node, 0, nodes)
	}
	t.raw = data
	d.b.t = t
	_, err := d.object(0)
	t.ownExtra()
	d.skipSpace()
	v := Value{t: t, gen: t.gen}
	if err != nil {
		v.Release()
		return Value{}, d.pos, err
	}
	return v, d.pos, nil
}

// maxRecord bounds the records Parse takes: unescaped and repaired texts must stay addressable by a span.
const maxRecord = inExtra / 4

// maxDepth bounds nesting so a hostile record cannot exhaust the stack.
const maxDepth = 200

type decoder struct {
	data []byte
	pos  int
	b    builder
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", d.pos, fmt.Sprintf(format, args...))
}

func (d *decoder) skipSpace() {
	if d.pos < len(d.data) && d.data[d.pos] > ' ' {
		return // compact JSON: nothing to skip
	}
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (int32, error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return 0, d.errorf("unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		s, err := d.string()
		i := d.b.add(String)
		d.b.t.nodes[i].val = s.packed()
		return i, err
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case d.literal("true"):
		i := d.b.add(Bool)
		d.b.t.nodes[i].val = 1
		return i, nil
	case d.literal("false"):
		return d.b.add(Bool), nil
	case d.literal("null"):
		return d.b.add(Null), nil
	default:
		return 0, d.errorf("invalid character %q", c)
	}
}

func (d *decoder) literal(word string) bool {
	if strings.HasPrefix(string(d.data[d.pos:min(len(d.data), d.pos+len(word))]), word) {
		d.pos += len(word)
		return true
	}
	return false
}

func (d *decoder) object(depth int) (int32, error) {
	if depth > maxDepth {
		return 0, d.errorf("nesting deeper than %d", maxDepth)
	}
	d.pos++ // '{'
	obj := d.b.add(Object)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return obj, nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return 0, d.errorf("expected a string key")
		}
		key, err := d.string()
		if err != nil {
			return 0, err
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return 0, d.errorf("expected ':' after key %q", d.b.t.text(key))
		}
		d.pos++
		v, err := d.value(depth)
		if err != nil {
			return 0, err
		}
		d.b.set(obj, key, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return 0, d.errorf("unexpected end of input in object")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return obj, nil
		default:
			return 0, d.errorf("expected ',' or '}' in object")
		}
	}
}

func (d *decoder) array(depth int) (int32, error) {
	if depth > maxDepth {
		return 0, d.errorf("nesting deeper than %d", maxDepth)
	}
	d.pos++ // '['
	arr := d.b.add(Array)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return arr, nil
	}
	for {
		v, err := d.value(depth)
		if err != nil {
			return 0, err
		}
		d.b.link(arr, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return 0, d.errorf("unexpected end of input in array")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return arr, nil
		default:
			return 0, d.errorf("expected ',' or ']' in array")
		}
	}
}

const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// hasByte is not zero when one of the eight bytes of x is b.
func hasByte(x uint64, b byte) uint64 {
	v := x ^ (lowBits * uint64(b))
	return (v - lowBits) &^ v & highBits
}

// hasLess is not zero when one of the eight bytes of x is below n (n at most 128).
func hasLess(x uint64, n byte) uint64 { return (x - lowBits*uint64(n)) &^ x & highBits }

// special marks the bytes that end the fast scan of a string: the quote, the backslash and control characters.
var special = func() (t [256]bool) {
	t['"'], t['\\'] = true, true
	for c := range 0x20 {
		t[c] = true
	}
	return t
}()

// string scans a string at d.pos and returns where its text is: in the record, or, when it had escapes or invalid
// UTF-8, in the tree's extra buffer.
func (d *decoder) string() (span, error) {
	start := d.pos + 1
	i, high := plainRun(d.data, start)
	switch {
	case i == len(d.data):
		d.pos = i
		return span{}, d.errorf("unterminated string")
	case d.data[i] == '\\':
		return d.escapedString(start, i, high)
	case d.data[i] < 0x20:
		d.pos = i
		return span{}, d.errorf("control character in string")
	}
	d.pos = i + 1
	if s := d.data[start:i]; high&highBits != 0 && !utf8.Valid(s) {
		off := len(d.b.t.extra)
		d.b.t.extra = append(d.b.t.extra, s...)
		return d.extraSpan(off, true), nil
	}
	return span{uint32(start), uint32(i - start)}, nil
}

// plainRun returns the index of the first special byte (quote, backslash or control character) of data from i on,
// or len(data), and the bits of the bytes before it: any at or above 0x80 means the text is not plain ASCII. Eight
// bytes at a time, the last eight byte by byte. The runs between the escapes of Windows paths and messages are short,
// so the word holding the special byte is not rescanned: the lowest byte flagged by hasByte and hasLess is exact
// (their false positives are above a true one).
func plainRun(data []byte, i int) (int, uint64) {
	var high uint64
	for ; i+8 <= len(data); i += 8 {
		x := binary.LittleEndian.Uint64(data[i:])
		if m := hasByte(x, '"') | hasByte(x, '\\') | hasLess(x, 0x20); m != 0 {
			k := bits.TrailingZeros64(m) / 8
			return i + k, high | x&(1<<(8*k)-1)
		}
		high |= x
	}
	for i < len(data) && !special[data[i]] {
		high |= uint64(data[i])
		i++
	}
	return i, high
}

// extraSpan returns the span of the text at the end of the extra buffer from off, replacing invalid UTF-8 first when
// the text may hold some (it has bytes from the record at or above 0x80; escapes always give valid UTF-8).
func (d *decoder) extraSpan(off int, mayBeInvalid bool) span {
	t := d.b.t
	if mayBeInvalid && !utf8.Valid(t.extra[off:]) {
		fixed := strings.ToValidUTF8(string(t.extra[off:]), "\uFFFD")
		t.extra = append(t.extra[:off], fixed...)
	}
	return span{uint32(off), uint32(len(t.extra)-off) | inExtra}
}

// escapedString is the slow path for strings with escapes: start is the string's first byte, i its first backslash,
// high the bits of the bytes between. The unescaped text is built at the end of the extra buffer; a tree without a
// scratch buffer sizes its extra for the rest of the record at the first escape, since unescaping shortens texts.
func (d *decoder) escapedString(start, i int, high uint64) (span, error) {
	if d.b.t.extra == nil {
		d.b.t.extra = make([]byte, 0, len(d.data)-start)
	}
	off := len(d.b.t.extra)
	b := append(d.b.t.extra, d.data[start:i]...)
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.b.t.extra = b
			return d.extraSpan(off, high&highBits != 0), nil
		case c < 0x20:
			d.pos = i
			return span{}, d.errorf("control character in string")
		case c != '\\':
			j, h := plainRun(d.data, i)
			high |= h
			b = append(b, d.data[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(d.data) {
			break
		}
		i++
		switch e := d.data[i]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, n, ok := d.unicodeEscape(i + 1)
			if !ok {
				d.pos = i
				return span{}, d.errorf("invalid \\u escape")
			}
			b = utf8.AppendRune(b, r)
			i += n
		default:
			d.pos = i
			return span{}, d.errorf("invalid escape \\%c", e)
		}
		i++
	}
	d.pos = len(d.data)
	return span{}, d.errorf("unterminated string")
}

// unicodeEscape decodes the hex digits at i (after "\u"), joining a surrogate pair; n is how many bytes it used
// beyond the first four hex digits' start minus one, so the caller can advance.
func (d *decoder) unicodeEscape(i int) (rune, int, bool) {
	hex := func(at int) (rune, bool) {
		if at+4 > len(d.data) {
			return 0, false
		}
		v, err := strconv.ParseUint(string(d.data[at:at+4]), 16, 32)
		return rune(v), err == nil
	}
	r, ok := hex(i)
	if !ok {
		return 0, 0, false
	}
	if utf16.IsSurrogate(r) && i+10 <= len(d.data) && d.data[i+4] == '\\' && d.data[i+5] == 'u' {
		if r2, ok := hex(i + 6); ok {
			if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
				return dec, 10, true
			}
		}
	}
	if utf16.IsSurrogate(r) {
		r = utf8.RuneError
	}
	return r, 4, true
}

func (d *decoder) number() (int32, error) {
	start := d.pos
	isFloat := false
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		if c >= '0' && c <= '9' || c == '-' {
			d.pos++
			continue
		}
		if c == '.' || c == 'e' || c == 'E' || c == '+' {
			isFloat = true
			d.pos++
			continue
		}
		break
	}
	// The text is only read here: view it in place.
	s := unsafe.String(&d.data[start], d.pos-start)
	if !validNumber(s) {
		d.pos = start
		return 0, d.errorf("invalid number %q", strings.Clone(s))
	}
	if !isFloat {
		if n, ok := parseInt(s); ok {
			i := d.b.add(Int)
			d.b.t.nodes[i].val = uint64(n)
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			i := d.b.add(Uint)
			d.b.t.nodes[i].val = u
			return i, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(f) {
		d.pos = start
		return 0, d.errorf("invalid number %q", strings.Clone(s))
	}
	i := d.b.add(Float)
	n := &d.b.t.nodes[i]
	if err != nil {
		// Beyond float64 (1e400): rules compare it as ±Inf or 0, and the literal is kept, so the event and its alert
		// encode to JSON losslessly.
		n.kn |= literal
		n.val = span{uint32(start), uint32(d.pos - start)}.packed()
		return i, nil
	}
	n.val = math.Float64bits(f)
	return i, nil
}

// validNumber checks the JSON number grammar, which strconv is laxer than: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(s string) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	if n := digits(); n == 0 || n > 1 && s[i-n] == '0' {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// parseInt parses an integer of up to 18 digits, which always fits int64, without strconv; longer ones take its path.
func parseInt(s string) (int64, bool) {
	digits := strings.TrimPrefix(s, "-")
	if len(digits) == 0 || len(digits) > 18 {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	var n int64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if len(digits) != len(s) {
		n = -n
	}
	return n, true
}

// MustFromMap returns the tree of plain Go values: the tree Parse gives for their JSON encoding. It is for events made
// by programs and tests rather than read from a source, and panics when the values cannot be encoded as JSON, like
// regexp.MustCompile on a bad pattern.
func MustFromMap(m map[string]any) Value {
	data, err := json.Marshal(m)
	if err == nil {
		var v Value
		if v, err = Parse(data); err == nil {
			return v
		}
	}
	panic("fields.MustFromMap: " + err.Error())
}

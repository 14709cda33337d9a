package ingest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Decode parses one JSON object into the field tree rules are evaluated on. It is the only place events are decoded.
//
// Integers stay integers (int64, or uint64 above its range), other numbers are float64, and a key containing dots is
// expanded into nested objects, as Elasticsearch does: {"file.path": "x"} and {"file": {"path": "x"}} are the same
// event. When both forms give the same leaf, the later one wins. The decoder is hand-written because it runs once per
// event on the hot path: it is several times faster than encoding/json into map[string]any (see BenchmarkDecode).
//
// Keys and string values without escapes are not copied: they point into data, which the caller must therefore never
// modify afterwards (an Event keeps its Raw bytes for its whole life, so this holds for events).
func Decode(data []byte) (map[string]any, error) {
	d := decoder{data: data}
	d.skipSpace()
	if d.pos >= len(d.data) {
		return nil, errors.New("empty input")
	}
	if d.data[d.pos] != '{' {
		return nil, fmt.Errorf("not a JSON object (starts with %q)", d.data[d.pos])
	}
	v, err := d.object(0)
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return nil, fmt.Errorf("offset %d: unexpected data after the object", d.pos)
	}
	return v, nil
}

// maxDepth bounds nesting so a hostile record cannot exhaust the stack.
const maxDepth = 200

type decoder struct {
	data []byte
	pos  int
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", d.pos, fmt.Sprintf(format, args...))
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (any, error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return nil, d.errorf("unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		return d.string()
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case d.literal("true"):
		return true, nil
	case d.literal("false"):
		return false, nil
	case d.literal("null"):
		return nil, nil
	default:
		return nil, d.errorf("invalid character %q", c)
	}
}

func (d *decoder) literal(word string) bool {
	if strings.HasPrefix(string(d.data[d.pos:min(len(d.data), d.pos+len(word))]), word) {
		d.pos += len(word)
		return true
	}
	return false
}

func (d *decoder) object(depth int) (map[string]any, error) {
	if depth > maxDepth {
		return nil, d.errorf("nesting deeper than %d", maxDepth)
	}
	d.pos++ // '{'
	m := make(map[string]any, 8)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return m, nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.errorf("expected a string key")
		}
		key, err := d.string()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, d.errorf("expected ':' after key %q", key)
		}
		d.pos++
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		setField(m, key, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.errorf("unexpected end of input in object")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return m, nil
		default:
			return nil, d.errorf("expected ',' or '}' in object")
		}
	}
}

// setField stores v under key, expanding dotted keys into nested objects and merging objects that meet.
func setField(m map[string]any, key string, v any) {
	if i := strings.IndexByte(key, '.'); i > 0 && i < len(key)-1 {
		child, ok := m[key[:i]].(map[string]any)
		if !ok {
			child = make(map[string]any, 4)
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

func (d *decoder) array(depth int) ([]any, error) {
	if depth > maxDepth {
		return nil, d.errorf("nesting deeper than %d", maxDepth)
	}
	d.pos++ // '['
	a := make([]any, 0, 4)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return a, nil
	}
	for {
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.errorf("unexpected end of input in array")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return a, nil
		default:
			return nil, d.errorf("expected ',' or ']' in array")
		}
	}
}

func (d *decoder) string() (string, error) {
	start := d.pos + 1
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			s := d.data[start:i]
			if !utf8.Valid(s) {
				return strings.ToValidUTF8(string(s), "\uFFFD"), nil
			}
			if len(s) == 0 {
				return "", nil
			}
			return unsafe.String(&s[0], len(s)), nil
		case c == '\\':
			return d.escapedString(start)
		case c < 0x20:
			d.pos = i
			return "", d.errorf("control character in string")
		}
	}
	d.pos = len(d.data)
	return "", d.errorf("unterminated string")
}

// escapedString is the slow path for strings with escapes.
func (d *decoder) escapedString(start int) (string, error) {
	var b strings.Builder
	i := start
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return strings.ToValidUTF8(b.String(), "\uFFFD"), nil
		case c < 0x20:
			d.pos = i
			return "", d.errorf("control character in string")
		case c != '\\':
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(d.data) {
			break
		}
		i++
		switch e := d.data[i]; e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, n, ok := d.unicodeEscape(i + 1)
			if !ok {
				d.pos = i
				return "", d.errorf("invalid \\u escape")
			}
			b.WriteRune(r)
			i += n
		default:
			d.pos = i
			return "", d.errorf("invalid escape \\%c", e)
		}
		i++
	}
	d.pos = len(d.data)
	return "", d.errorf("unterminated string")
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

func (d *decoder) number() (any, error) {
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
	s := string(d.data[start:d.pos])
	if !isFloat {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(f) {
		d.pos = start
		return nil, d.errorf("invalid number %q", s)
	}
	return f, nil
}

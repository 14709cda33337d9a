package fields

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MarshalJSON encodes the value exactly as encoding/json encodes Interface()'s result: object members sorted by
// name, numbers and strings in its format. encoding/json adds its HTML escaping to what this returns, as it does to
// its own output, so a document holding Values encodes to the same bytes as one holding plain maps.
func (v Value) MarshalJSON() ([]byte, error) {
	return v.appendJSON(make([]byte, 0, 256))
}

var errUnsupported = errors.New("fields: infinite number cannot be encoded in JSON")

func (v Value) appendJSON(b []byte) ([]byte, error) {
	var err error
	switch v.Kind() {
	case Bool:
		b = strconv.AppendBool(b, v.Bool())
	case Int:
		b = strconv.AppendInt(b, v.Int(), 10)
	case Uint:
		b = strconv.AppendUint(b, v.Uint(), 10)
	case Float:
		if s, ok := v.Literal(); ok {
			return append(b, s...), nil
		}
		return appendFloat(b, v.Float())
	case String:
		b = appendString(b, v.Str())
	case Array:
		b = append(b, '[')
		for e := range v.Elements() {
			if len(b) > 0 && b[len(b)-1] != '[' {
				b = append(b, ',')
			}
			if b, err = e.appendJSON(b); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	case Object:
		type member struct {
			key string
			v   Value
		}
		members := make([]member, 0, v.Len())
		for k, m := range v.Members() {
			members = append(members, member{k, m})
		}
		slices.SortFunc(members, func(a, b member) int { return cmp.Compare(a.key, b.key) })
		b = append(b, '{')
		for i, m := range members {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, m.key)
			b = append(b, ':')
			if b, err = m.v.appendJSON(b); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	default:
		b = append(b, "null"...)
	}
	return b, nil
}

// appendFloat formats like encoding/json: the shortest representation, in exponent form only for very small or large
// magnitudes, with a one-digit negative exponent written as e-7, not e-07.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errUnsupported
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b, nil
}

// AppendString appends s to b as a JSON string, quoted as the tree's strings are encoded: invalid UTF-8 becomes
// U+FFFD. Package formats builds its records' JSON with it.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }

// appendString quotes s as encoding/json does before its HTML escaping (which it applies to this output too).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

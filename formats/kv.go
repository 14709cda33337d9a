package formats

import "strings"

// decodeKV is the kv format: key=value pairs separated by spaces (or commas and semicolons after a value), a value
// quoted with " or ' when it holds spaces (a backslash escapes the quote), after an optional syslog header (whose
// fields are kept). The pairs go under kv.<key>; the text is the message. A key given twice is kept twice, so the
// later value wins and the key is listed as shadowed, as in a JSON record. A line without any pair does not parse.
func decodeKV(d *doc, line string, st *state) bool {
	text := line
	if h, ok := parseSyslog(line, st); ok {
		if !h.write(d) {
			return false
		}
		text = h.msg
	}
	n := 0
	for s := text; ; {
		var k, v string
		var ok bool
		if k, v, s, ok = nextPair(s); !ok {
			break
		}
		d.str("kv."+k, v)
		n++
	}
	if n == 0 {
		return false
	}
	d.str("message", text)
	d.str("event.original", line)
	return true
}

// nextPair returns the first key=value pair of s and the text after it. Words without '=' are skipped.
func nextPair(s string) (key, value, rest string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t,;")
		if s == "" {
			return "", "", "", false
		}
		end := strings.IndexAny(s, " \t=")
		if end < 0 {
			return "", "", "", false
		}
		if s[end] != '=' || end == 0 {
			s = s[end+1:]
			continue
		}
		key, s = s[:end], s[end+1:]
		value, rest = kvValue(s)
		return key, value, rest, true
	}
}

// kvValue reads a value: quoted up to its closing quote, else up to the next space, tab, comma or semicolon.
func kvValue(s string) (string, string) {
	if s == "" || (s[0] != '"' && s[0] != '\'') {
		end := strings.IndexAny(s, " \t,;")
		if end < 0 {
			return s, ""
		}
		return s[:end], s[end:]
	}
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && (s[i+1] == q || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		case c == q:
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return s[1:], "" // no closing quote: the rest of the line
}

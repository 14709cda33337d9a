package formats

import (
	"strconv"
	"strings"
)

// embedded is the decoder of a format whose records start with prefix, bare or after a syslog header (whose fields
// are kept): cef and leef.
func embedded(prefix string, body func(d *doc, s string, st *state) bool) func(*doc, string, *state) bool {
	return func(d *doc, line string, st *state) bool {
		s, ok := afterSyslog(d, line, prefix, st)
		if !ok || !body(d, s, st) {
			return false
		}
		d.str("event.original", line)
		return true
	}
}

// afterSyslog finds the record of a format whose lines start with prefix: the line itself, or the message after a
// syslog header, whose fields it writes to d.
func afterSyslog(d *doc, line, prefix string, st *state) (string, bool) {
	if strings.HasPrefix(line, prefix) {
		return line, true
	}
	h, ok := parseSyslog(line, st)
	if !ok {
		return "", false
	}
	if host, rest, _ := strings.Cut(h.msg, " "); h.host == "" && h.app == "" && strings.HasPrefix(rest, prefix) {
		h.host, h.msg = host, rest // "Sep 19 08:26:10 host CEF:0|...": a hostname, no tag
	}
	if strings.HasPrefix(h.msg, prefix) {
		return h.msg, h.write(d)
	}
	return "", false
}

// cefHeaderKeys are the fields of the seven header fields after "CEF:".
var cefHeaderKeys = [7]string{"cef.version", "cef.device.vendor", "cef.device.product", "cef.device.version",
	"cef.device.event_class_id", "cef.name", "cef.severity"}

// cefBody decodes "CEF:Version|Device Vendor|Device Product|Device Version|Device Event Class ID|Name|Severity|
// Extension". In the header, \| and \\ are escapes; in the extension, \= \\ \n and \r are.
func cefBody(d *doc, s string, st *state) bool {
	s = s[len("CEF:"):]
	var hdr [7]string
	for i := range hdr {
		end := headerEnd(s)
		if end < 0 {
			return false
		}
		hdr[i], s = unescapeHeader(s[:end]), s[end+1:]
	}
	if !isDigits(hdr[0]) {
		return false
	}
	writeHeader(d, cefHeaderKeys[:], hdr[:])
	if n, err := strconv.Atoi(hdr[6]); err == nil {
		d.num("event.severity", int64(n))
	}
	d.set("message", hdr[5])
	return extensions(s, func(k, v string) {
		if f, ok := cefECS[k]; !ok || !put(d, f, v, st) {
			d.str("cef.extensions."+k, v)
		}
	})
}

// headerEnd returns the index of the first '|' in s not escaped by a backslash, or -1.
func headerEnd(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '|':
			return i
		}
	}
	return -1
}

// unescapeHeader undoes \| and \\ in a header field.
func unescapeHeader(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return headerUnescaper.Replace(s)
}

// extensions calls fn with each key and unescaped value of a CEF extension: space-separated key=value pairs whose
// values may hold spaces, so a value runs to the space before the next key. An '=' inside a value that is not preceded
// by a space-separated word (a URL's query) belongs to the value. It is false when the text holds no pair but is not
// empty.
func extensions(s string, fn func(key, value string)) bool {
	key, valStart := "", -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
			continue
		case '=':
		default:
			continue
		}
		ks := strings.LastIndexByte(s[:i], ' ') + 1
		if ks <= valStart || !isKey(s[ks:i]) {
			continue // part of the value
		}
		if valStart >= 0 {
			fn(key, unescapeExtension(strings.TrimRight(s[valStart:ks], " ")))
		}
		key, valStart = s[ks:i], i+1
	}
	if valStart < 0 {
		return strings.TrimSpace(s) == ""
	}
	fn(key, unescapeExtension(strings.TrimRight(s[valStart:], " ")))
	return true
}

// isKey says s can be an extension key: letters, digits, and _ . [ ] -.
func isKey(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' ||
			c == '[' || c == ']' || c == '-') {
			return false
		}
	}
	return s != ""
}

// unescapeExtension undoes \= \\ \n and \r in an extension value.
func unescapeExtension(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return extensionUnescaper.Replace(s)
}

var (
	headerUnescaper    = strings.NewReplacer(`\|`, `|`, `\\`, `\`)
	extensionUnescaper = strings.NewReplacer(`\=`, `=`, `\\`, `\`, `\n`, "\n", `\r`, "\r")
)

// writeHeader writes a CEF or LEEF header: each field under its key, and the device (fields 1-3: vendor, product,
// version) and event id (field 4) in their ECS places.
func writeHeader(d *doc, keys, hdr []string) {
	for i, k := range keys {
		d.str(k, hdr[i])
	}
	d.str("observer.vendor", hdr[1])
	d.str("observer.product", hdr[2])
	d.str("observer.version", hdr[3])
	d.str("event.code", hdr[4])
}

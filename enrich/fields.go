package enrich

import (
	"net/netip"
	"strings"

	"github.com/vigilsoc/vigil/fields"
)

// eachStringAt calls fn for every string at a dotted path, descending into lists of objects on the way, as
// Elasticsearch does: "dns.answers.data" reaches the data of every answer.
func eachStringAt(v any, path string, fn func(string)) {
	if t, ok := v.(fields.Value); ok {
		eachTreeStringAt(t, path, fn)
		return
	}
	if path == "" {
		eachString(v, fn)
		return
	}
	key, rest := path, ""
	if i := strings.IndexByte(path, '.'); i >= 0 {
		key, rest = path[:i], path[i+1:]
	}
	switch x := v.(type) {
	case map[string]any:
		if next, ok := x[key]; ok {
			eachStringAt(next, rest, fn)
		}
	case []any:
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				eachStringAt(m, path, fn)
			}
		}
	}
}

// eachTreeStringAt is eachStringAt in a part of the document that is still the event's tree.
func eachTreeStringAt(v fields.Value, path string, fn func(string)) {
	if path == "" {
		if v.Kind() == fields.String {
			fn(v.Str())
		}
		for e := range v.Elements() {
			if e.Kind() == fields.String {
				fn(e.Str())
			}
		}
		return
	}
	key, rest, _ := strings.Cut(path, ".")
	if v.Kind() == fields.Object {
		if m := v.Get(key); m.Exists() {
			eachTreeStringAt(m, rest, fn)
		}
	}
	for e := range v.Elements() {
		if e.Kind() == fields.Object {
			eachTreeStringAt(e, path, fn)
		}
	}
}

// eachString calls fn for a string value, or for every string of a list value.
func eachString(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				fn(s)
			}
		}
	}
}

// firstString is v when it is a string, or the first string of a list.
func firstString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				return s
			}
		}
	}
	return ""
}

// putString sets m[key] to v unless v is empty.
func putString(m map[string]any, key, v string) {
	if v != "" {
		m[key] = v
	}
}

// parseAddr parses an IP address as events carry it: plain, IPv4-mapped IPv6 (unmapped), or with a zone (dropped).
func parseAddr(s string) (netip.Addr, bool) {
	if !maybeAddr(s) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// maybeAddr rejects, without allocating, strings that cannot be addresses (hostnames, mostly), so that parseAddr does
// not build an error for them.
func maybeAddr(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F', c == '.', c == ':':
		case c == '%': // a zone: anything may follow
			return true
		default:
			return false
		}
	}
	return true
}

// validHostname accepts lower-case DNS names (letters, digits, '-', '_' and dots, no empty labels) whose last label is
// not all digits, so a mistyped address such as 300.0.0.1 is not taken for a name.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if last := h[strings.LastIndexByte(h, '.')+1:]; strings.Trim(last, "0123456789") == "" {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// lowerASCII lower-cases ASCII letters, without allocating when there are none to change.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

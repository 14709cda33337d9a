package enrich

import (
	"net/netip"
	"strings"
)

// lookupPath follows a dotted path of object keys in an alert document; nil when a step is missing.
func lookupPath(doc map[string]any, path string) any {
	var v any = doc
	for path != "" {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		key := path
		if i := strings.IndexByte(path, '.'); i >= 0 {
			key, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		v = m[key]
	}
	return v
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

// objectAt returns the object at key in m, creating it (or replacing a non-object) when needed.
func objectAt(m map[string]any, key string) map[string]any {
	obj, ok := m[key].(map[string]any)
	if !ok {
		obj = map[string]any{}
		m[key] = obj
	}
	return obj
}

// parseAddr parses an IP address as events carry it: plain, IPv4-mapped IPv6 (unmapped), or with a zone (dropped).
func parseAddr(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

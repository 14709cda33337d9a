package formats

import (
	"strconv"
	"strings"
)

var leefHeaderKeys = [5]string{"leef.version", "leef.device.vendor", "leef.device.product", "leef.device.version",
	"leef.event_id"}

// leefBody decodes "LEEF:1.0|Vendor|Product|Version|EventID|attributes" with tab-separated attributes, or
// "LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|attributes", where the delimiter is one character or its code in
// hex ("x09", "0x5E"; tab when the field is empty or absent). Attribute values run to the next delimiter and are not
// escaped.
func leefBody(d *doc, s string, st *state) bool {
	s = s[len("LEEF:"):]
	var hdr [5]string
	for i := range hdr {
		var ok bool
		if hdr[i], s, ok = strings.Cut(s, "|"); !ok {
			return false
		}
	}
	if hdr[0] != "1.0" && hdr[0] != "2.0" && hdr[0] != "1" && hdr[0] != "2" {
		return false
	}
	delim := "\t"
	if strings.HasPrefix(hdr[0], "2") {
		if field, rest, ok := strings.Cut(s, "|"); ok && !strings.Contains(field, "=") {
			if delim, ok = leefDelimiter(field); !ok {
				return false
			}
			s = rest
		}
	}
	writeHeader(d, leefHeaderKeys[:], hdr[:])
	for attr := range strings.SplitSeq(s, delim) {
		k, v, ok := strings.Cut(attr, "=")
		if !ok || k == "" {
			continue // an empty attribute (a trailing delimiter) or text without a key
		}
		if f, ok := leefECS[k]; !ok || !put(d, f, v, st) {
			d.str("leef.attributes."+k, v)
		}
	}
	return true
}

// leefDelimiter reads LEEF 2.0's delimiter field: one character, or "xHH"/"0xHH" in hex; empty means tab.
func leefDelimiter(s string) (string, bool) {
	switch {
	case s == "":
		return "\t", true
	case len(s) == 1:
		return s, true
	}
	hex := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(s, "0"), "x"), "X")
	n, err := strconv.ParseUint(hex, 16, 8)
	if err != nil || n == 0 || hex == s {
		return "", false
	}
	return string(rune(n)), true
}

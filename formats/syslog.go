package formats

import (
	"strconv"
	"strings"
	"time"
)

// header is a parsed syslog header (RFC 5424 or RFC 3164) and the message after it.
type header struct {
	pri               int // -1 when the line has no <PRI>
	version           string
	ts                time.Time
	host, app, procid string
	msgid, sd         string // RFC 5424 only; sd is the raw STRUCTURED-DATA
	msg               string
}

// decodeSyslog is the syslog format: RFC 5424 when a version follows the priority, RFC 3164 otherwise.
func decodeSyslog(d *doc, line string, st *state) bool {
	h, ok := parseSyslog(line, st)
	if !ok {
		return false
	}
	if !h.write(d) {
		return false
	}
	d.str("message", h.msg)
	d.str("event.original", line)
	return true
}

// parseSyslog parses the header of a syslog line.
func parseSyslog(line string, st *state) (header, bool) {
	h := header{pri: -1}
	rest := line
	if strings.HasPrefix(rest, "<") {
		end := strings.IndexByte(rest, '>')
		if end < 2 || end > 4 {
			return h, false
		}
		pri, err := strconv.Atoi(rest[1:end])
		if err != nil || pri < 0 || pri > 191 {
			return h, false
		}
		h.pri, rest = pri, rest[end+1:]
		if v, after, ok := strings.Cut(rest, " "); ok && len(v) > 0 && len(v) <= 2 && isDigits(v) {
			h.version = v
			return h, h.parse5424(after)
		}
	}
	return h, h.parse3164(rest, st)
}

// parse5424 parses what follows "<PRI>VERSION ": TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG].
func (h *header) parse5424(s string) bool {
	var f [5]string
	for i := range f {
		var ok bool
		if f[i], s, ok = strings.Cut(s, " "); !ok || f[i] == "" {
			return false
		}
	}
	if f[0] != "-" {
		t, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil {
			return false
		}
		h.ts = t
	}
	h.host, h.app, h.procid, h.msgid = nilValue(f[1]), nilValue(f[2]), nilValue(f[3]), nilValue(f[4])
	switch {
	case strings.HasPrefix(s, "-"):
		s = s[1:]
	case strings.HasPrefix(s, "["):
		n := sdLength(s)
		if n < 0 {
			return false
		}
		h.sd, s = s[:n], s[n:]
	default:
		return false
	}
	if s != "" && s[0] != ' ' {
		return false
	}
	if s != "" {
		s = s[1:]
	}
	h.msg = strings.TrimPrefix(s, "\ufeff")
	return true
}

func nilValue(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// sdLength returns the length of the STRUCTURED-DATA elements at the start of s, or -1 when they are malformed.
func sdLength(s string) int {
	i := 0
	for i < len(s) && s[i] == '[' {
		j := sdElementEnd(s, i+1)
		if j < 0 {
			return -1
		}
		i = j + 1
	}
	return i
}

// sdElementEnd returns the index of the ']' that closes the element whose content starts at s[i], or -1.
func sdElementEnd(s string, i int) int {
	inQuote := false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ']':
			return i
		}
	}
	return -1
}

// parse3164 parses what follows the optional <PRI> of a BSD syslog line: TIMESTAMP HOSTNAME TAG[PID]: MSG. Lines
// without a hostname (a local syslog's file) or without a tag keep what they have. A line with neither a priority
// nor a timestamp is not syslog.
func (h *header) parse3164(s string, st *state) bool {
	ts, rest, ok := parseBSDTime(s, st)
	switch {
	case ok:
		h.ts, s = ts, rest
	case h.pri < 0:
		return false
	}
	if host, after, found := strings.Cut(s, " "); found && host != "" && !strings.HasSuffix(host, ":") &&
		!strings.Contains(host, "[") && looksLikeTag(after) {
		h.host, s = host, after
	}
	h.app, h.procid, h.msg = parseTag(s)
	return true
}

// looksLikeTag says s starts with a tag: a word ending with ':' or "[pid]:", as the token after a hostname does.
func looksLikeTag(s string) bool {
	word, _, _ := strings.Cut(s, " ")
	return strings.HasSuffix(word, ":") || strings.Contains(word, "[")
}

// parseTag splits "app[pid]: message" or "app: message"; without such a tag the whole text is the message.
func parseTag(s string) (app, pid, msg string) {
	word, _, _ := strings.Cut(s, " ")
	if i := strings.IndexByte(word, '['); i > 0 && strings.HasSuffix(word, "]:") {
		return word[:i], word[i+1 : len(word)-2], strings.TrimPrefix(s[len(word):], " ")
	}
	if strings.HasSuffix(word, ":") && len(word) > 1 {
		return word[:len(word)-1], "", strings.TrimPrefix(s[len(word):], " ")
	}
	return "", "", s
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseBSDTime parses "Mmm dd hh:mm:ss" (the day space-padded or not, optional fractional seconds), or an RFC 3339
// timestamp as rsyslog's high-precision template writes it, followed by a space. The year is the record time's, or
// the year before when that puts the date more than a month after the record (December's lines read in January).
func parseBSDTime(s string, st *state) (time.Time, string, bool) {
	if len(s) > 0 && s[0] >= '0' && s[0] <= '9' {
		word, rest, _ := strings.Cut(s, " ")
		t, err := time.Parse(time.RFC3339Nano, word)
		return t, rest, err == nil
	}
	if len(s) < 15 || s[3] != ' ' {
		return time.Time{}, "", false
	}
	mon := 0
	for i, m := range months {
		if s[:3] == m {
			mon = i + 1
		}
	}
	p := 4
	if s[p] == ' ' {
		p++
	}
	day, p := digits(s, p, 2)
	hour, p2 := digits(s, p+1, 2)
	minute, p3 := digits(s, p2+1, 2)
	sec, end := digits(s, p3+1, 2)
	if mon == 0 || day < 1 || day > 31 || s[p] != ' ' || p2 != p+3 || p3 != p2+3 || end != p3+3 || s[p2] != ':' ||
		s[p3] != ':' || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, "", false
	}
	nsec := 0
	if end < len(s) && s[end] == '.' {
		start := end + 1
		var frac int
		frac, end = digits(s, start, 9)
		for i := end - start; i < 9; i++ {
			frac *= 10
		}
		nsec = frac
	}
	if end >= len(s) || s[end] != ' ' {
		return time.Time{}, "", false
	}
	rt := st.now()
	t := time.Date(rt.Year(), time.Month(mon), day, hour, minute, sec, nsec, st.loc)
	if t.After(rt.AddDate(0, 1, 0)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t, s[end+1:], true
}

// digits reads up to max decimal digits of s from p; it returns the number and the position after them.
func digits(s string, p, max int) (int, int) {
	n, start := 0, p
	for p < len(s) && p-start < max && s[p] >= '0' && s[p] <= '9' {
		n = n*10 + int(s[p]-'0')
		p++
	}
	if p == start {
		return -1, p
	}
	return n, p
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

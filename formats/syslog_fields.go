package formats

import (
	"strconv"
	"strings"
)

// facilityNames are the syslog(3) keywords of the facility codes (RFC 5424 table 1).
var facilityNames = [24]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
	"authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// severityNames are the severity levels (RFC 5424 table 2), named as ECS's examples and Elastic's syslog processor.
var severityNames = [8]string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

// write adds the header's fields to d: log.syslog.*, @timestamp, host.hostname, process.name and process.pid. It is
// false when the structured data is malformed.
func (h *header) write(d *doc) bool {
	if h.pri >= 0 {
		d.num("log.syslog.priority", int64(h.pri))
		d.num("log.syslog.facility.code", int64(h.pri>>3))
		d.str("log.syslog.facility.name", facilityNames[h.pri>>3])
		d.num("log.syslog.severity.code", int64(h.pri&7))
		d.str("log.syslog.severity.name", severityNames[h.pri&7])
	}
	if h.version != "" {
		d.str("log.syslog.version", h.version)
	}
	if !h.ts.IsZero() {
		d.time("@timestamp", h.ts)
	}
	if h.host != "" {
		d.str("host.hostname", h.host)
	}
	if h.app != "" {
		d.str("process.name", h.app)
	}
	if pid, err := strconv.ParseInt(h.procid, 10, 64); err == nil {
		d.num("process.pid", pid)
	} else if h.procid != "" {
		d.str("log.syslog.procid", h.procid)
	}
	if h.msgid != "" {
		d.str("log.syslog.msgid", h.msgid)
	}
	return writeSD(d, h.sd)
}

// writeSD adds the structured data elements as log.syslog.structured_data.<SD-ID>.<PARAM-NAME>. A parameter given
// twice in an element keeps its last value.
func writeSD(d *doc, sd string) bool {
	for sd != "" {
		end := sdElementEnd(sd, 1)
		elem := sd[1:end]
		sd = sd[end+1:]
		id, params, _ := strings.Cut(elem, " ")
		if id == "" || strings.ContainsAny(id, "=\"") {
			return false
		}
		prefix := "log.syslog.structured_data." + id + "."
		if params == "" {
			d.raw("log.syslog.structured_data."+id, []byte("{}"))
		}
		for params != "" {
			name, rest, ok := strings.Cut(params, `="`)
			if !ok || name == "" || strings.ContainsAny(name, " ]") {
				return false
			}
			value, n := sdValue(rest)
			if n < 0 {
				return false
			}
			d.set(prefix+name, value)
			params = strings.TrimLeft(rest[n:], " ")
		}
	}
	return true
}

// sdValue reads a PARAM-VALUE up to its closing quote, undoing the escapes \" \\ and \] (a backslash before any other
// character stays, RFC 5424 section 6.3.3). It returns the value and the length read including the quote, or -1.
func sdValue(s string) (string, int) {
	i := strings.IndexAny(s, `"\`)
	if i >= 0 && s[i] == '"' {
		return s[:i], i + 1 // no escapes: no copy
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), i + 1
		case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\' || s[i+1] == ']'):
			b.WriteByte(s[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return "", -1
}

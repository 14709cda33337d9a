package formats

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// conv says how an extension value becomes its ECS field's value.
type conv uint8

const (
	asString conv = iota
	asIP
	asInt
	asTime
	asLower
)

// ecsField is the ECS field of a CEF extension key or LEEF attribute, and its type.
type ecsField struct {
	name string
	conv conv
}

// cefECS maps CEF extension keys (short and full names, from the ArcSight CEF specification) to ECS fields, as
// Elastic's CEF decoder does. Keys not listed go under cef.extensions.
var cefECS = map[string]ecsField{
	"act": {"event.action", asString}, "deviceAction": {"event.action", asString},
	"app": {"network.protocol", asLower}, "applicationProtocol": {"network.protocol", asLower},
	"dhost": {"destination.domain", asString}, "destinationHostName": {"destination.domain", asString},
	"dmac": {"destination.mac", asString}, "destinationMacAddress": {"destination.mac", asString},
	"dpt": {"destination.port", asInt}, "destinationPort": {"destination.port", asInt},
	"dst": {"destination.ip", asIP}, "destinationAddress": {"destination.ip", asIP},
	"duid": {"destination.user.id", asString}, "destinationUserId": {"destination.user.id", asString},
	"duser": {"destination.user.name", asString}, "destinationUserName": {"destination.user.name", asString},
	"dvc": {"observer.ip", asIP}, "deviceAddress": {"observer.ip", asIP},
	"dvchost": {"observer.hostname", asString}, "deviceHostName": {"observer.hostname", asString},
	"end": {"event.end", asTime}, "endTime": {"event.end", asTime},
	"start": {"event.start", asTime}, "startTime": {"event.start", asTime},
	"rt": {"@timestamp", asTime}, "deviceReceiptTime": {"@timestamp", asTime},
	"fname": {"file.name", asString}, "fileName": {"file.name", asString},
	"filePath": {"file.path", asString}, "fsize": {"file.size", asInt}, "fileSize": {"file.size", asInt},
	"in": {"source.bytes", asInt}, "bytesIn": {"source.bytes", asInt},
	"out": {"destination.bytes", asInt}, "bytesOut": {"destination.bytes", asInt},
	"msg": {"message", asString}, "message": {"message", asString},
	"outcome": {"event.outcome", asLower}, "eventOutcome": {"event.outcome", asLower},
	"proto": {"network.transport", asLower}, "transportProtocol": {"network.transport", asLower},
	"reason":  {"event.reason", asString},
	"request": {"url.original", asString}, "requestUrl": {"url.original", asString},
	"requestMethod":            {"http.request.method", asString},
	"requestClientApplication": {"user_agent.original", asString},
	"shost":                    {"source.domain", asString}, "sourceHostName": {"source.domain", asString},
	"smac": {"source.mac", asString}, "sourceMacAddress": {"source.mac", asString},
	"spt": {"source.port", asInt}, "sourcePort": {"source.port", asInt},
	"src": {"source.ip", asIP}, "sourceAddress": {"source.ip", asIP},
	"suid": {"source.user.id", asString}, "sourceUserId": {"source.user.id", asString},
	"suser": {"source.user.name", asString}, "sourceUserName": {"source.user.name", asString},
	"sourceTranslatedAddress":      {"source.nat.ip", asIP},
	"sourceTranslatedPort":         {"source.nat.port", asInt},
	"destinationTranslatedAddress": {"destination.nat.ip", asIP},
	"destinationTranslatedPort":    {"destination.nat.port", asInt},
	"deviceProcessName":            {"process.name", asString}, "dvcpid": {"process.pid", asInt},
}

// leefECS maps LEEF predefined attributes (IBM QRadar LEEF guide) to ECS fields. Others go under leef.attributes.
var leefECS = map[string]ecsField{
	"src": {"source.ip", asIP}, "dst": {"destination.ip", asIP},
	"srcPort": {"source.port", asInt}, "dstPort": {"destination.port", asInt},
	"srcPostNAT": {"source.nat.ip", asIP}, "dstPostNAT": {"destination.nat.ip", asIP},
	"srcPostNATPort": {"source.nat.port", asInt}, "dstPostNATPort": {"destination.nat.port", asInt},
	"srcMAC": {"source.mac", asString}, "dstMAC": {"destination.mac", asString},
	"srcBytes": {"source.bytes", asInt}, "dstBytes": {"destination.bytes", asInt},
	"srcPackets": {"source.packets", asInt}, "dstPackets": {"destination.packets", asInt},
	"usrName": {"user.name", asString}, "accountName": {"user.name", asString},
	"proto": {"network.transport", asLower}, "sev": {"event.severity", asInt},
	"devTime": {"@timestamp", asTime}, "url": {"url.original", asString},
	"action": {"event.action", asString}, "identHostName": {"host.hostname", asString},
	"domain": {"user.domain", asString}, "policy": {"rule.name", asString},
}

// put writes value to the ECS field f; when the value does not convert (an address that is not one), it is false
// and nothing is written.
func put(d *doc, f ecsField, value string, st *state) bool {
	switch f.conv {
	case asIP:
		if _, err := netip.ParseAddr(value); err != nil {
			return false
		}
		d.set(f.name, value)
	case asInt:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return false
		}
		d.num(f.name, n)
	case asTime:
		t, ok := parseDeviceTime(value, st)
		if !ok {
			return false
		}
		d.time(f.name, t)
	case asLower:
		d.set(f.name, strings.ToLower(value))
	default:
		d.set(f.name, value)
	}
	return true
}

// deviceTimeLayouts are the date formats of CEF's rt/start/end and LEEF's devTime (besides milliseconds since the
// epoch): the CEF specification's "MMM dd yyyy HH:mm:ss" family, and ISO 8601.
var deviceTimeLayouts = []string{
	"Jan 02 2006 15:04:05", "Jan 02 2006 15:04:05.000", "Jan 02 2006 15:04:05 MST", "Jan 02 2006 15:04:05.000 MST",
	"Jan 02 2006 15:04:05 -0700", "Jan 02 15:04:05", "Jan 02 15:04:05.000", time.RFC3339Nano,
}

// parseDeviceTime parses a device timestamp; one without a zone is in the source's time zone.
func parseDeviceTime(s string, st *state) (time.Time, bool) {
	if isDigits(s) {
		ms, err := strconv.ParseInt(s, 10, 64)
		return time.UnixMilli(ms), err == nil
	}
	for _, layout := range deviceTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, st.loc); err == nil {
			return st.withYear(t), true
		}
	}
	return time.Time{}, false
}

package formats

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/vigilsoc/vigil/fields"
)

// decodeHEC is the hec format: one Splunk HTTP Event Collector event object, envelope included, as HEC clients send
// it and as `vigil intake` writes it to Kafka (with the record header format: hec). The envelope's `event` would
// otherwise sit where ECS keeps its event.* fields, so it is unwrapped as Vector's splunk_hec source does:
//
//	event (object)   its members are the event's fields: {"event":{"process.name":"sshd"}} gives process.name
//	event (string)   message (a message parser reads it from there)
//	time             @timestamp (epoch seconds, fractions allowed), unless the event object has its own
//	host             host.name, unless the event object sets it
//	source, sourcetype, index
//	                 splunk.source, splunk.sourcetype, splunk.index (a parser's or a rule's condition can select
//	                 on the sourcetype)
//	fields           labels.* (HEC's indexed fields are key-value metadata, as ECS labels are)
//
// and event.original is the record. A record that is not a JSON object with an event is not HEC: it fails as a line
// of another format does (message, event.original, vigil.parse.failed: hec).
func decodeHEC(d *doc, line string, _ *state) bool {
	env, err := fields.Parse(unsafe.Slice(unsafe.StringData(line), len(line)))
	if err != nil {
		return false
	}
	defer env.Release()
	ev := env.Get("event")
	if k := ev.Kind(); k != fields.String && k != fields.Object {
		return false
	}
	// The envelope first: the event's own members come later and win where both give a field.
	if sec, ok := epochSeconds(env.Get("time")); ok {
		d.time("@timestamp", time.UnixMicro(int64(sec*1e6)))
	}
	if h := env.Get("host"); h.Kind() == fields.String {
		d.str("host.name", h.Str())
	}
	for _, k := range [...]string{"source", "sourcetype", "index"} {
		if v := env.Get(k); v.Kind() == fields.String {
			d.str("splunk."+k, v.Str())
		}
	}
	if !d.members("labels.", env.Get("fields")) {
		return false
	}
	if ev.Kind() == fields.String {
		d.str("message", ev.Str())
	} else if !d.members("", ev) {
		return false
	}
	d.str("event.original", line)
	return true
}

// members adds the members of an object under prefix, each as a new key (later keys win when the tree is built).
func (d *doc) members(prefix string, obj fields.Value) bool {
	for k, v := range obj.Members() {
		b, err := v.MarshalJSON()
		if err != nil {
			return false
		}
		d.inVals(prefix+k, false, jsonEntry, func(vals []byte) []byte { return append(vals, b...) })
	}
	return true
}

// epochSeconds reads HEC's time: seconds since the epoch, a number or a numeric string ("1712345678.123"). A
// missing or unreadable time sets no @timestamp, as a JSON record without one.
func epochSeconds(v fields.Value) (float64, bool) {
	var f float64
	switch v.Kind() {
	case fields.Int:
		f = float64(v.Int())
	case fields.Float:
		f = v.Float()
	case fields.String:
		var err error
		if f, err = strconv.ParseFloat(v.Str(), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, f > 0 && f < 1e11
}

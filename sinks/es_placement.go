package sinks

import (
	"maps"
	"sync/atomic"
	"time"

	"github.com/vigilsoc/vigil"
)

// An alert's daily index is named after its own time (vigil.Alert.Time: the event's time), so that replaying the
// same records writes the same documents into the same index. That time comes from the partner's data and has no
// bound of its own: a clock at year 1 or 9999, or a stream of made-up dates, would create an index per day named,
// and a cluster's shard limit is shared by every tenant. So the event time chooses the index only within
// EventTimeWindow around the alert's reference time; an alert outside it goes to the index of its reference day
// and carries vigil.alert.time_out_of_range: true (its vigil.alert.original_time is kept).
//
// The reference time is fixed per alert, never the clock of the write, so that an alert near the edge of the
// window cannot move between indices from one write to the next:
//   - the time its record reached Kafka (vigil.Origin.Time, the record timestamp), when that lies in the window
//     around the alert's creation: a replay of the same records, even days later, then decides the same way;
//   - otherwise the alert's creation time, its @timestamp. A growing alert (vigil.Alert.Update) keeps both its Time
//     and its @timestamp from version to version, so all its versions land in one index;
//   - only a document without a readable @timestamp falls back to the time of the write.

// indexOf returns the index of a, and whether a's time was outside the window.
func (s *Elasticsearch) indexOf(a *vigil.Alert) (index string, outOfRange bool) {
	day, out := s.cfg.EventTimeWindow.indexTime(a, s.now)
	prefix := s.cfg.IndexPrefix
	if a.Shadow {
		prefix = s.cfg.ShadowIndexPrefix
	}
	return IndexName(prefix, a.Tenant, day), out
}

// indexTime returns the time whose UTC day names a's index: a.Time when it lies in the window around the reference
// time, else the reference time (out is then true). A zero a.Time is always out of the window.
func (w EventTimeWindow) indexTime(a *vigil.Alert, now func() time.Time) (t time.Time, out bool) {
	ref := w.reference(a, now)
	if w.contains(ref, a.Time) {
		return a.Time, false
	}
	return ref, true
}

// reference is the time a's window is centred on (see above).
func (w EventTimeWindow) reference(a *vigil.Alert, now func() time.Time) time.Time {
	created, ok := docTime(a.Doc["@timestamp"])
	if !ok {
		created = now()
	}
	if a.Event != nil && w.contains(created, a.Event.Origin.Time) {
		return a.Event.Origin.Time
	}
	return created
}

// contains says whether t lies in the window around ref, bounds included.
func (w EventTimeWindow) contains(ref, t time.Time) bool {
	return !t.IsZero() && !t.Before(ref.Add(-w.Past)) && !t.After(ref.Add(w.Future))
}

// docTime reads a time of an alert document: an RFC 3339 string (what rules.NewAlert writes) or a time.Time.
func docTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case string:
		parsed, err := time.Parse(time.RFC3339Nano, t)
		return parsed, err == nil
	case time.Time:
		return t, !t.IsZero()
	}
	return time.Time{}, false
}

// markOutOfRange returns doc with vigil.alert.time_out_of_range set, and vigil.alert.original_time set to t when the
// document has none. doc is shared with other sinks and is not modified: the top level, vigil and vigil.alert are
// copied, shallowly.
func markOutOfRange(doc map[string]any, t time.Time) map[string]any {
	v, _ := members(doc["vigil"])
	if v == nil {
		v = map[string]any{}
	}
	alert, _ := members(v["alert"])
	if alert == nil {
		alert = map[string]any{}
	}
	alert["time_out_of_range"] = true
	if _, ok := alert["original_time"]; !ok && !t.IsZero() {
		alert["original_time"] = t.UTC().Format(time.RFC3339Nano)
	}
	v["alert"] = alert
	out := maps.Clone(doc)
	out["vigil"] = v
	return out
}

// every lets one event through per interval: for log lines that would otherwise repeat per alert or per request.
type every struct {
	interval time.Duration
	next     atomic.Int64 // Unix nanoseconds before which nothing passes
}

// allow says whether an event at now may pass, and if so closes the gate for an interval.
func (e *every) allow(now time.Time) bool {
	n := e.next.Load()
	if now.UnixNano() < n {
		return false
	}
	return e.next.CompareAndSwap(n, now.Add(e.interval).UnixNano())
}

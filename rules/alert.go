package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
)

// NewAlert builds the alert document (docs/alerts.md) for a match of rule c on ev, created at now. The alert owns
// every map and slice in its document (none is shared with the event, the rule or another alert), because enrichers
// and sinks change the document afterwards.
func NewAlert(c *Compiled, ev *vigil.Event, now time.Time) *vigil.Alert {
	id := AlertID(ev.Tenant, c.ID, ev)
	evTime := EventTime(ev)
	doc := eventDoc(ev.Fields, alertKeys)
	vig := objectAt(doc, "vigil", 2)
	var event map[string]any
	if original, ok := doc["event"].(map[string]any); ok {
		// The copy just made is still the event's own event.*: it moves to vigil.original_event, and the alert's
		// event.* is a second copy with room for the three keys it adds.
		vig["original_event"] = original
		event = copyMap(original, 3)
	} else {
		event = make(map[string]any, 3)
	}
	doc["event"] = event
	event["kind"] = "alert"
	event["severity"] = int64(c.SeverityLevel()) // 1-4 and 0-100: boxing a value below 256 does not allocate
	event["risk_score"] = int64(c.Risk())
	doc["@timestamp"] = formatTime(now)
	doc["rule"] = copyRule(c.ruleDoc)
	if c.threatDoc != nil {
		doc["threat"] = mergeMaps(asMap(doc["threat"]), copyThreat(c.threatDoc))
	}
	if tags := mergeTags(doc["tags"], c.Tags); len(tags) > 0 {
		doc["tags"] = tags
	}
	var tenant any = ev.Tenant // boxed once and stored twice: a string cannot be changed
	objectAt(doc, "organization", 1)["id"] = tenant
	vig["alert"] = map[string]any{
		"id":            id,
		"status":        "open",
		"severity":      c.Severity,
		"tenant":        tenant,
		"reason":        reason(c, ev.Fields),
		"original_time": formatTime(evTime),
		"origin":        ev.Origin.Doc(),
	}
	return &vigil.Alert{ID: id, Tenant: ev.Tenant, RuleID: c.ID, Time: evTime, Doc: doc, Event: ev}
}

// alertKeys is how many top-level keys an alert may add to the event's: @timestamp, event, rule, threat, tags,
// organization and vigil. Room for them up front saves growing the document's map, which rehashes every key.
const alertKeys = 7

// AlertID is deterministic: a hash of the tenant, the rule id and the event's identity, which is event.id when the
// event has one and the hash of its raw bytes otherwise. Replaying the same records gives the same ids.
func AlertID(tenant, ruleID string, ev *vigil.Event) string {
	var buf [192]byte // the hash input; a longer one moves to the heap
	b := append(buf[:0], tenant...)
	b = append(b, 0)
	b = append(b, ruleID...)
	b = append(b, 0)
	if id := ev.Fields.Lookup("event", "id"); id.Kind() == fields.String && id.Str() != "" {
		b = append(b, "event.id:"...)
		b = append(b, id.Str()...)
	} else {
		raw := sha256.Sum256(ev.Raw)
		b = append(b, "raw:"...)
		b = append(b, raw[:]...)
	}
	sum := sha256.Sum256(b)
	var hexID [32]byte
	hex.Encode(hexID[:], sum[:16])
	return string(hexID[:])
}

// EventTime is the event's own time: its @timestamp when that parses as RFC 3339, else the record's time at the
// source (the Kafka timestamp), else when Vigil received it.
func EventTime(ev *vigil.Event) time.Time {
	if ts := ev.Fields.Get("@timestamp"); ts.Kind() == fields.String {
		s := ts.Str()
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t
		}
	}
	if !ev.Origin.Time.IsZero() {
		return ev.Origin.Time
	}
	return ev.Received
}

func ruleFields(c *Compiled) map[string]any {
	d := map[string]any{"id": c.ID, "name": c.Name, "version": c.Version}
	if c.Description != "" {
		d["description"] = c.Description
	}
	if c.Author != "" {
		d["author"] = c.Author
	}
	if len(c.References) > 0 {
		d["reference"] = stringsToAny(c.References)
	}
	return d
}

// copyRule copies what ruleFields built. Knowing its shape saves walking it.
func copyRule(r map[string]any) map[string]any {
	out := maps.Clone(r)
	if ref, ok := r["reference"].([]any); ok {
		out["reference"] = slices.Clone(ref)
	}
	return out
}

func threatFields(ma []MitreAttack) map[string]any {
	if len(ma) == 0 {
		return nil
	}
	var tactics, techniques, subs []string
	for _, m := range ma {
		tactics = appendUnique(tactics, m.Tactic)
		techniques = appendUnique(techniques, m.Technique)
		subs = appendUnique(subs, m.Subtechnique)
	}
	d := map[string]any{"framework": "MITRE ATT&CK"}
	if len(tactics) > 0 {
		d["tactic"] = map[string]any{"id": stringsToAny(tactics)}
	}
	if len(techniques) > 0 || len(subs) > 0 {
		tech := map[string]any{}
		if len(techniques) > 0 {
			tech["id"] = stringsToAny(techniques)
		}
		if len(subs) > 0 {
			tech["subtechnique"] = map[string]any{"id": stringsToAny(subs)}
		}
		d["technique"] = tech
	}
	return d
}

// copyThreat copies what threatFields built. Knowing its shape saves walking it.
func copyThreat(t map[string]any) map[string]any {
	out := maps.Clone(t)
	if tactic, ok := t["tactic"].(map[string]any); ok {
		out["tactic"] = copyIDs(tactic)
	}
	if tech, ok := t["technique"].(map[string]any); ok {
		techCopy := copyIDs(tech)
		if sub, ok := tech["subtechnique"].(map[string]any); ok {
			techCopy["subtechnique"] = copyIDs(sub)
		}
		out["technique"] = techCopy
	}
	return out
}

// copyIDs copies an object of threatFields and its id list.
func copyIDs(m map[string]any) map[string]any {
	out := maps.Clone(m)
	if ids, ok := m["id"].([]any); ok {
		out["id"] = slices.Clone(ids)
	}
	return out
}

// reason is one sentence an analyst reads in the alert list, in the style of Elastic Security:
// "authentication event with source 203.0.113.9, by root on web-01 created high alert SSH brute force.".
func reason(c *Compiled, f fields.Value) string {
	var b strings.Builder
	b.Grow(128)
	if cat := firstString(f.Lookup("event", "category")); cat != "" {
		b.WriteString(cat)
		b.WriteString(" ")
	}
	b.WriteString("event")
	for _, part := range [...]struct {
		prefix string
		path   [2]string
	}{
		{" with process ", [2]string{"process", "name"}},
		{" with source ", [2]string{"source", "ip"}},
		{" to ", [2]string{"destination", "ip"}},
		{", by ", [2]string{"user", "name"}},
		{" on ", [2]string{"host", "name"}},
	} {
		if v := firstString(f.Lookup(part.path[0], part.path[1])); v != "" {
			b.WriteString(part.prefix)
			b.WriteString(v)
		}
	}
	b.WriteString(" created ")
	b.WriteString(c.Severity)
	b.WriteString(" alert ")
	b.WriteString(c.Name)
	b.WriteString(".")
	return b.String()
}

func firstString(v fields.Value) string {
	if v.Kind() == fields.Array {
		v = v.First()
	}
	if v.Kind() == fields.String {
		return v.Str()
	}
	return ""
}

// objectAt returns the object at key in m, creating it with room for size keys (or replacing a non-object value).
func objectAt(m map[string]any, key string, size int) map[string]any {
	obj, ok := m[key].(map[string]any)
	if !ok {
		obj = make(map[string]any, size)
		m[key] = obj
	}
	return obj
}

// formatTime is how the document writes times: RFC 3339 in UTC, with as many fractional digits as needed.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// mergeMaps copies src into dst recursively (src wins) and returns dst.
func mergeMaps(dst, src map[string]any) map[string]any {
	if dst == nil {
		return src
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeMaps(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// copyMap deep-copies a decoded JSON object with room for extra keys, so an alert can be changed without touching
// the event or other alerts. (Inserting every key is faster here than maps.Clone, which would have to be walked
// anyway to copy the nested objects and lists.)
// eventDoc returns the event's fields as a new map with room for extra keys.
func eventDoc(f fields.Value, extra int) map[string]any {
	out := make(map[string]any, f.Len()+extra)
	for k, v := range f.Members() {
		out[k] = v.Interface()
	}
	return out
}

func copyMap(m map[string]any, extra int) map[string]any {
	out := make(map[string]any, len(m)+extra)
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return copyMap(x, 0)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

// mergeTags is the event's string tags followed by the rule's, without empty strings and duplicates, or nil when
// there are none.
func mergeTags(existing any, add []string) []any {
	var have []any
	switch x := existing.(type) {
	case string:
		have = []any{x}
	case []any:
		have = x
	}
	if len(have)+len(add) == 0 {
		return nil
	}
	out := make([]any, 0, len(have)+len(add))
	var seen map[string]bool // only for long lists; a short one is searched
	if cap(out) > 16 {
		seen = make(map[string]bool, cap(out))
	}
	push := func(s string, v any) {
		if s == "" {
			return
		}
		if seen != nil {
			if seen[s] {
				return
			}
			seen[s] = true
		} else if slices.Contains(out, v) {
			return
		}
		out = append(out, v)
	}
	for _, t := range have {
		if s, ok := t.(string); ok {
			push(s, t)
		}
	}
	for _, t := range add {
		push(t, t)
	}
	return out
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	if s == "" {
		return list
	}
	return append(list, s)
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
)

// NewAlert builds the alert document (docs/alerts.md) for a match of rule c on ev, created at now. Enrichers and sinks
// change the document afterwards, so the alert owns every map and slice in it (none is shared with the rule or another
// alert); the objects and lists copied from the event stay fields.Value trees, which cannot be changed, until an
// enricher writes into one (vigil.Object copies it into a map then). Building maps dominates the cost of an alert, and
// most of the event's objects are only ever encoded.
func NewAlert(c *Compiled, ev *vigil.Event, now time.Time) *vigil.Alert {
	id := AlertID(ev.Tenant, c.ID, ev)
	evTime := EventTime(ev)
	doc := eventDoc(ev.Fields, alertKeys)
	// vigil.*, organization.* and tags belong to Vigil: the event's own are kept under vigil.original_event, beside
	// its event.* values, so an event cannot forge an alert's status or tenant, or tag itself a false positive.
	var owned map[string]any
	for _, k := range ownedKeys {
		if v, ok := doc[k]; ok {
			if owned == nil {
				owned = make(map[string]any, len(ownedKeys))
			}
			owned[k] = v
			delete(doc, k)
		}
	}
	vig := make(map[string]any, 2)
	doc["vigil"] = vig
	var event map[string]any
	original := ev.Fields.Get("event")
	if original.Kind() == fields.Object {
		// The event's own event.* is kept as it was; the alert's is a copy with room for the three keys it adds.
		event = eventDoc(original, 3)
		if owned == nil {
			vig["original_event"] = original
		} else {
			vig["original_event"] = mergeMaps(eventDoc(original, len(owned)), owned)
		}
	} else {
		event = make(map[string]any, 3)
		if owned != nil {
			vig["original_event"] = owned
		}
	}
	doc["event"] = event
	event["kind"] = "alert"
	event["severity"] = int64(c.SeverityLevel()) // 1-4 and 0-100: boxing a value below 256 does not allocate
	event["risk_score"] = int64(c.Risk())
	doc["@timestamp"] = formatTime(now)
	doc["rule"] = c.ruleDoc
	if c.threatDoc.Exists() {
		if own := asMap(doc["threat"]); own != nil {
			doc["threat"] = mergeMaps(own, c.threatDoc.Map())
		} else {
			doc["threat"] = c.threatDoc
		}
	}
	if c.tagsDoc != nil {
		doc["tags"] = c.tagsDoc // the rule's own tags, deduplicated once: a read-only tree
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
	a := &vigil.Alert{ID: id, Tenant: ev.Tenant, RuleID: c.ID, Time: evTime, Doc: doc, Event: ev, Internal: c.Internal}
	if c.IsShadow() {
		MarkShadow(a)
	}
	return a
}

// MarkShadow makes a a shadow alert: Shadow set, and vigil.alert.mode "shadow" in its document, so that a shadow
// alert read back from a file or an index says what it is.
func MarkShadow(a *vigil.Alert) {
	a.Shadow = true
	if al, ok := asMap(a.Doc["vigil"])["alert"].(map[string]any); ok {
		al["mode"] = ModeShadow
	}
}

// ownedKeys are the event's top-level keys that an alert takes from Vigil only.
var ownedKeys = [...]string{"vigil", "organization", "tags"}

// alertKeys is how many top-level keys an alert may add to the event's: @timestamp, event, rule, threat, tags,
// organization and vigil. Room for them up front saves growing the document's map, which rehashes every key.
const alertKeys = 7

// AlertID is deterministic: a hash of the tenant, the rule id and the event's identity. The identity is the hash of
// the record's raw bytes, so the same record delivered twice gives the same id and two different records never share
// one; it is event.id only when the source trusts it (Event.TrustEventID) and the event has one, since partners'
// event ids are not unique across hosts and products (docs/alerts.md, "Alert ids").
func AlertID(tenant, ruleID string, ev *vigil.Event) string {
	var buf [192]byte // the hash input; a longer one moves to the heap
	b := append(buf[:0], tenant...)
	b = append(b, 0)
	b = append(b, ruleID...)
	b = append(b, 0)
	if id := ev.Fields.Lookup("event", "id"); ev.TrustEventID && id.Kind() == fields.String && id.Str() != "" {
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
	if len(c.FalsePositives) > 0 {
		d["false_positives"] = stringsToAny(c.FalsePositives)
	}
	return d
}

// threatFields is the alert's threat object of a rule's ATT&CK mapping: the framework, and the ids of its tactics,
// techniques and sub-techniques with the names of those Vigil knows (AttackName), in ECS places. The id and name
// lists are not parallel when an id is unknown (`vigil rules validate` warns about it).
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
		d["tactic"] = attackObject(tactics)
	}
	if len(techniques) > 0 || len(subs) > 0 {
		tech := map[string]any{}
		if len(techniques) > 0 {
			tech = attackObject(techniques)
		}
		if len(subs) > 0 {
			tech["subtechnique"] = attackObject(subs)
		}
		d["technique"] = tech
	}
	return d
}

// attackObject is {id: [...], name: [...]} for ATT&CK ids; name is left out when Vigil knows none of them.
func attackObject(ids []string) map[string]any {
	obj := map[string]any{"id": stringsToAny(ids)}
	var names []string
	for _, id := range ids {
		if n := AttackName(id); n != "" {
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		obj["name"] = stringsToAny(names)
	}
	return obj
}

// reason is one sentence an analyst reads in the alert list, in the style of Elastic Security:
// "authentication event with source 203.0.113.9, by root on web-01 created high alert SSH brute force.". The
// entities are ECS fields, or in flat Windows events their Windows fields (eventEntities).
func reason(c *Compiled, f fields.Value) string {
	var b strings.Builder
	b.Grow(128)
	if cat := firstString(f.Lookup("event", "category")); cat != "" {
		b.WriteString(cat)
		b.WriteString(" ")
	}
	b.WriteString("event")
	prefixes := [len(entities)]string{" with process ", " with source ", " to ", ", by ", " on "}
	for i, v := range eventEntities(f) {
		if v != "" {
			b.WriteString(prefixes[i])
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

// objectAt returns the object at key in m for writing: as vigil.Object, with room for size keys in a new one.
func objectAt(m map[string]any, key string, size int) map[string]any {
	if _, ok := m[key]; ok {
		return vigil.Object(m, key)
	}
	obj := make(map[string]any, size)
	m[key] = obj
	return obj
}

// formatTime is how the document writes times: RFC 3339 in UTC, with as many fractional digits as needed.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// asMap returns v when it is an object, as a map of its own, or nil.
func asMap(v any) map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return x
	case fields.Value:
		if x.Kind() == fields.Object {
			return x.Map()
		}
	}
	return nil
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

// eventDoc returns the members of an event's object as a new map with room for extra keys: leaves as Go values,
// objects and lists as the event's (read-only) trees.
func eventDoc(f fields.Value, extra int) map[string]any {
	out := make(map[string]any, f.Len()+extra)
	for k, v := range f.Members() {
		if v.Kind() >= fields.Array {
			out[k] = v
		} else {
			out[k] = v.Interface()
		}
	}
	return out
}

// mergeTags is the event's string tags followed by the rule's, without empty strings and duplicates, or nil when
// there are none.
func mergeTags(existing any, add []string) []any {
	if v, ok := existing.(fields.Value); ok {
		existing = v.Interface()
	}
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

// NewCorrelationAlert builds the alert document of a correlation rule c (docs/alerts.md, "Correlation alerts"): the
// rule's fields as for any alert, the group-by values at their own places, and correlation under vigil.correlation.
// evTime is the time of the match that completed it, created when it was first raised.
func NewCorrelationAlert(c *Compiled, tenant, id string, evTime, created time.Time, correlation map[string]any, reason string) *vigil.Alert {
	doc := make(map[string]any, alertKeys+len(c.Correlation.GroupBy))
	group, _ := correlation["group"].(map[string]any)
	for _, name := range c.Correlation.GroupBy {
		setPath(doc, name, group[name])
	}
	doc["@timestamp"] = formatTime(created)
	doc["event"] = map[string]any{"kind": "alert", "severity": int64(c.SeverityLevel()), "risk_score": int64(c.Risk())}
	doc["rule"] = c.ruleDoc
	if c.threatDoc.Exists() {
		doc["threat"] = c.threatDoc
	}
	if c.tagsDoc != nil {
		doc["tags"] = c.tagsDoc
	}
	objectAt(doc, "organization", 1)["id"] = tenant
	vig := objectAt(doc, "vigil", 2)
	vig["alert"] = map[string]any{
		"id":            id,
		"status":        "open",
		"severity":      c.Severity,
		"tenant":        tenant,
		"reason":        reason,
		"original_time": formatTime(evTime),
	}
	vig["correlation"] = correlation
	return &vigil.Alert{ID: id, Tenant: tenant, RuleID: c.ID, Time: evTime, Doc: doc, Internal: c.Internal}
}

// setPath stores v at a dotted path of nested objects, creating them as needed.
func setPath(doc map[string]any, path string, v any) {
	for {
		head, rest, nested := strings.Cut(path, ".")
		if !nested {
			doc[path] = v
			return
		}
		doc = objectAt(doc, head, 1)
		path = rest
	}
}

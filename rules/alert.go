package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/vigilsoc/vigil"
)

// NewAlert builds the alert document (docs/alerts.md) for a match of rule c on ev, created at now.
func NewAlert(c *Compiled, ev *vigil.Event, now time.Time) *vigil.Alert {
	id := AlertID(ev.Tenant, c.ID, ev)
	evTime := EventTime(ev)
	doc := copyMap(ev.Fields)
	event, _ := doc["event"].(map[string]any)
	if event != nil {
		setPath(doc, copyMap(event), "vigil", "original_event")
	} else {
		event = map[string]any{}
		doc["event"] = event
	}
	event["kind"] = "alert"
	event["severity"] = int64(c.SeverityLevel())
	event["risk_score"] = int64(c.Risk())
	doc["@timestamp"] = now.UTC().Format(time.RFC3339Nano)
	doc["rule"] = copyMap(c.ruleDoc)
	if c.threatDoc != nil {
		doc["threat"] = mergeMaps(asMap(doc["threat"]), copyMap(c.threatDoc))
	}
	if tags := mergeTags(doc["tags"], c.Tags); len(tags) > 0 {
		doc["tags"] = tags
	}
	setPath(doc, ev.Tenant, "organization", "id")
	setPath(doc, map[string]any{
		"id":            id,
		"status":        "open",
		"severity":      c.Severity,
		"tenant":        ev.Tenant,
		"reason":        reason(c, ev.Fields),
		"original_time": evTime.UTC().Format(time.RFC3339Nano),
		"origin":        ev.Origin.Doc(),
	}, "vigil", "alert")
	return &vigil.Alert{ID: id, Tenant: ev.Tenant, RuleID: c.ID, Time: evTime, Doc: doc, Event: ev}
}

// AlertID is deterministic: a hash of the tenant, the rule id and the event's identity, which is event.id when the
// event has one and the hash of its raw bytes otherwise. Replaying the same records gives the same ids.
func AlertID(tenant, ruleID string, ev *vigil.Event) string {
	h := sha256.New()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(ruleID))
	h.Write([]byte{0})
	if id, ok := vigil.Get(ev.Fields, "event", "id").(string); ok && id != "" {
		h.Write([]byte("event.id:"))
		h.Write([]byte(id))
	} else {
		raw := sha256.Sum256(ev.Raw)
		h.Write([]byte("raw:"))
		h.Write(raw[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// EventTime is the event's own time: its @timestamp when that parses as RFC 3339, else the record's time at the
// source (the Kafka timestamp), else when Vigil received it.
func EventTime(ev *vigil.Event) time.Time {
	if s, ok := ev.Fields["@timestamp"].(string); ok {
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

// reason is one sentence an analyst reads in the alert list, in the style of Elastic Security:
// "authentication event with source 203.0.113.9, by root on web-01 created high alert SSH brute force.".
func reason(c *Compiled, f map[string]any) string {
	var b strings.Builder
	b.Grow(128)
	if cat := firstString(vigil.Get(f, "event", "category")); cat != "" {
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
		if v := firstString(vigil.Get(f, part.path[0], part.path[1])); v != "" {
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

func firstString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		if len(x) > 0 {
			return firstString(x[0])
		}
	}
	return ""
}

// setPath stores v at the path, creating (or replacing non-object values with) objects on the way.
func setPath(m map[string]any, v any, path ...string) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

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

// copyMap deep-copies a decoded JSON object, so an alert can be changed without touching the event or other alerts.
func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return copyMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

func mergeTags(existing any, add []string) []any {
	var out []any
	seen := map[string]bool{}
	push := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	switch x := existing.(type) {
	case string:
		push(x)
	case []any:
		for _, t := range x {
			if s, ok := t.(string); ok {
				push(s)
			}
		}
	}
	for _, t := range add {
		push(t)
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

package sinks

import (
	"bytes"
	"fmt"
	"maps"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
)

// An Update alert (vigil.Alert.Update: a correlation alert that grows while its burst lasts) is written with the
// bulk `update` operation and an upsert:
//
//	{"update":{"_index":"<index>","_id":"<id>","retry_on_conflict":3}}
//	{"doc":<the document without the triage fields>,"upsert":<the whole document>}
//
// The first version inserts the whole document, with vigil.alert.status "open". Later versions merge "doc" into the
// stored document: every field Vigil writes is replaced, while the triage fields (vigil.alert.status, assignee,
// closed_reason and history, see es_triage.go) and any other field an analyst added are not in "doc" and survive. A 201 is a new document, a 200 an updated (or unchanged)
// one; a 409 means another writer changed the document more often than retry_on_conflict allows, so the alert is sent
// again, unlike a create's 409.

// encodeUpdate makes the bulk lines of an Update alert whose document is doc (a.Doc, or a copy with more fields).
func encodeUpdate(a *vigil.Alert, doc map[string]any, index string, op *writeOp) (*bulkItem, *vigil.DeadLetter) {
	var buf bytes.Buffer
	buf.WriteString(`{"update":{"_index":`)
	writeJSONString(&buf, index)
	buf.WriteString(`,"_id":`)
	writeJSONString(&buf, a.ID)
	buf.WriteString(`,"retry_on_conflict":3}}` + "\n" + `{"doc":`)
	enc := newJSONEncoder(&buf)
	if err := enc.Encode(ownedFields(doc)); err != nil {
		return nil, alertLetter(a, nil, "encode", fmt.Sprintf("alert document cannot be encoded: %v", err))
	}
	buf.Truncate(buf.Len() - 1) // the encoder's newline
	buf.WriteString(`,"upsert":`)
	start := buf.Len()
	if err := enc.Encode(doc); err != nil {
		return nil, alertLetter(a, nil, "encode", fmt.Sprintf("alert document cannot be encoded: %v", err))
	}
	buf.Truncate(buf.Len() - 1)
	end := buf.Len()
	buf.WriteString("}\n")
	lines := buf.Bytes()
	return &bulkItem{alert: a, index: index, lines: lines, doc: lines[start:end], update: true, op: op}, nil
}

// ownedFields is the "doc" of an update: doc without the triage fields (TriageFields: vigil.alert.status, assignee,
// closed_reason, history), which belong to the analyst once the alert exists. Only the objects on the way to them
// (the top level, vigil and vigil.alert) are copied, shallowly; everything else, fields.Value trees included, is
// shared with doc, which is not modified. A doc without any triage field is returned as it is.
func ownedFields(doc map[string]any) map[string]any {
	v, ok := members(doc["vigil"])
	if !ok {
		return doc
	}
	alert, ok := members(v["alert"])
	if !ok {
		return doc
	}
	n := len(alert)
	for _, f := range TriageFields {
		delete(alert, f)
	}
	if len(alert) == n {
		return doc
	}
	v["alert"] = alert
	out := maps.Clone(doc)
	out["vigil"] = v
	return out
}

// members is a shallow copy of an object: of a map, or of a fields.Value object, whose members stay trees (they
// encode to the same JSON). ok is false for anything that is not an object.
func members(x any) (m map[string]any, ok bool) {
	switch o := x.(type) {
	case map[string]any:
		return maps.Clone(o), o != nil
	case fields.Value:
		if o.Kind() != fields.Object {
			return nil, false
		}
		m = make(map[string]any, o.Len())
		for k, mv := range o.Members() {
			m[k] = mv
		}
		return m, true
	}
	return nil, false
}

// latestVersions drops the versions of an Update alert that a later version in the same Write replaces. Sent
// together, they could be applied out of order (an earlier version retried after a 429 would land after the later
// one and undo it); dropped, they are settled with the Write, since the version that replaces them is stored.
// Without two versions of one document, alerts is returned as it is.
func (s *Elasticsearch) latestVersions(alerts []*vigil.Alert) []*vigil.Alert {
	type key struct{ index, id string }
	var last map[key]int
	updates := 0
	for i, a := range alerts {
		if a.Update {
			if last == nil {
				last = map[key]int{}
			}
			index, _ := s.indexOf(a)
			last[key{index, a.ID}] = i
			updates++
		}
	}
	if len(last) == updates {
		return alerts
	}
	out := make([]*vigil.Alert, 0, len(alerts)-updates+len(last))
	for i, a := range alerts {
		if !a.Update {
			out = append(out, a)
		} else if index, _ := s.indexOf(a); last[key{index, a.ID}] == i {
			out = append(out, a)
		}
	}
	return out
}

package correlate

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// Suppression (a rule's `suppress:`, docs/rules.md "Suppression") runs on the correlation engine, so that it is as
// deterministic as correlation under redelivery, crashes and rebalances: a suppressing rule's match is not written by
// the pipeline but becomes a match record that carries the alert document (Record.Doc), grouped by the tenant and the
// suppress.by values. In event-time order, a group's first match opens a window of suppress.for and raises its alert
// under its own id, with vigil.suppression.count 1; each later match within the window adds one to the count and moves
// vigil.suppression.end, a new version of the same alert (vigil.Alert.Update); the first match at or after the
// window's end opens the next window. A window keeps the first match's document, not the later ones'.

// suppression is a group's open window.
type suppression struct {
	id      alertID // the alert's id: its first match's
	start   int64   // the first match
	last    int64   // the latest match
	end     int64   // start + suppress.for: matches from then on open a new window
	count   int64
	doc     []byte // the first match's alert document, JSON
	created int64
	written bool // a version has been handed out
}

// missingValue stands for a suppress.by field that a match lacks: a byte no decoded text holds (they are UTF-8).
const missingValue = "\xff"

// suppressionRecord makes the match record of a suppressing rule's alert, or returns ok false when the alert is not
// suppressed (a suppress.by field is missing and the rule says missing: skip, or the document cannot be encoded, in
// which case the sink reports it).
func suppressionRecord(a *vigil.Alert, c *rules.Compiled) (Record, bool) {
	r := Record{Tenant: a.Tenant, Rule: c.ID, Input: c.ID, AlertID: a.ID, Time: a.Time, Group: make([]string, len(c.Suppress.By))}
	for i, name := range c.Suppress.By {
		v, _, ok := valueText(vigil.Get(a.Doc, strings.Split(name, ".")...))
		if !ok && c.Suppress.SkipsMissing() {
			return Record{}, false
		}
		if !ok {
			v = missingValue
		}
		r.Group[i] = v
	}
	doc, err := json.Marshal(a.Doc)
	if err != nil {
		return Record{}, false
	}
	r.Doc = doc
	return r, true
}

// applySuppress counts the match en into the group's window, or opens a new window with it.
func (p *Partition) applySuppress(g *group, en entry) {
	x := g.extra()
	doc := x.docs[en.id]
	delete(x.docs, en.id)
	if s := x.sup; s != nil && en.time < s.end {
		s.count++
		s.last = max(s.last, en.time)
		p.e.Stats.Suppressed.Add(1)
	} else {
		x.sup = &suppression{id: en.id, start: en.time, last: en.time, end: en.time + g.corr.span, count: 1, doc: doc,
			created: p.e.now().UnixNano()}
		p.e.Stats.Alerts.Add(1)
	}
	// A record older than the partition's watermark is late, and the watermark is at least en's time less the
	// lateness: the ids of older matches cannot come again, so they need not be kept to recognize duplicates.
	old := en.time - int64(p.e.cfg.AllowedLateness)
	drop := 0
	for drop < int(g.applied)-1 && g.ev[drop].time < old {
		drop++
	}
	g.ev = slices.Delete(g.ev, 0, drop)
	g.applied -= int32(drop)
	p.touchSuppression(g)
}

// fields is vigil.suppression of the window's alert.
func (s *suppression) fields(group map[string]any) map[string]any {
	return map[string]any{"count": s.count, "start": formatTime(s.start), "end": formatTime(s.last), "group": group}
}

// foldCorrelation applies a correlation's own suppress to a new alert of group g at time t, whose id would be id: when
// the group raised an alert less than suppress.for before, the new one is a new version of that alert (its id, one
// more in vigil.suppression.count); otherwise it opens the group's suppression window. Without suppress it returns
// id and nil.
func (p *Partition) foldCorrelation(g *group, id alertID, t int64) (alertID, *suppression) {
	c := g.corr.c
	if c.Suppress == nil {
		return id, nil
	}
	x := g.extra()
	if s := x.sup; s != nil && t < s.end {
		s.count++
		s.last = max(s.last, t)
		p.e.Stats.Suppressed.Add(1)
	} else {
		x.sup = &suppression{id: id, start: t, last: t, end: t + int64(c.SuppressFor), count: 1,
			created: p.e.now().UnixNano()}
	}
	return x.sup.id, new(*x.sup)
}

// endCorrelationSuppression ends a correlation group's suppression window at t, unless the burst of its alert is still
// growing: then the window lasts as long as the burst, so that the burst's versions keep their suppression fields.
func (g *group) endCorrelationSuppression(t int64) {
	if b := g.burst(); b != nil && b.id == g.x.sup.id && b.end > t {
		g.x.sup.end = b.end
		return
	}
	g.x.sup = nil
}

// closeSuppression ends the group's window when its time is up.
func (g *group) closeSuppression() {
	g.x.sup = nil
	g.ev = slices.Delete(g.ev, 0, int(g.applied))
	g.applied = 0
}

// touchSuppression records the window's current version for the end of this Advance, once however often it changed.
func (p *Partition) touchSuppression(g *group) {
	s := *g.x.sup
	o := p.byID[s.id]
	if o == nil {
		o = &output{corr: g.corr, key: g.key, id: s.id}
		p.byID[s.id] = o
		p.out = append(p.out, o)
	}
	o.sup = &s
	o.rewrite = s.written
	g.x.sup.written = true
}

// suppressedAlert is the alert of a suppression window: the first match's document with vigil.suppression.
// The document was checked when its record was decoded; should it still not parse, the alert says so rather than
// vanish.
func (o *output) suppressedAlert() *vigil.Alert {
	s := o.sup
	doc := map[string]any{}
	if tree, err := fields.Parse(s.doc); err == nil {
		for k, v := range tree.Members() { // read-only trees, as in any alert: vigil.Object copies what it changes
			doc[k] = v
		}
	} else {
		doc["error"] = map[string]any{"message": fmt.Sprintf("the suppressed alert's document does not parse: %v", err)}
	}
	tenant, values := splitKey(o.key)
	group := make(map[string]any, len(values))
	for i, name := range o.corr.c.Suppress.By {
		if values[i] != missingValue {
			group[name] = values[i]
		} else {
			group[name] = nil
		}
	}
	vigil.Object(doc, "vigil")["suppression"] = s.fields(group)
	return &vigil.Alert{ID: s.id.String(), Tenant: tenant, RuleID: o.corr.c.ID, Time: time.Unix(0, s.start).UTC(),
		Doc: doc, Update: true, Enriched: true}
}

// appendSuppression appends the group's window and waiting documents to its checkpointed state.
func (g *group) appendSuppression(b []byte) []byte {
	var s *suppression
	var docs map[alertID][]byte
	if g.x != nil {
		s, docs = g.x.sup, g.x.docs
	}
	if s == nil {
		b = append(b, 0)
	} else {
		b = append(append(b, 1), s.id[:]...)
		for _, t := range [...]int64{s.start, s.last, s.end, s.created} {
			b = binary.LittleEndian.AppendUint64(b, uint64(t))
		}
		b = binary.AppendUvarint(b, uint64(s.count))
		b = append(b, map[bool]byte{false: 0, true: 1}[s.written])
		b = appendString(b, string(s.doc))
	}
	b = binary.AppendUvarint(b, uint64(len(docs)))
	for id, doc := range docs {
		b = appendString(append(b, id[:]...), string(doc))
	}
	return b
}

// decodeSuppression reads what appendSuppression wrote; size bounds the counts a corrupt record could claim.
// The group has no correlation yet: its extra state is made here, not by extra(), and only when there is some.
func (g *group) decodeSuppression(d *decoder, size int) {
	x := func() *extra {
		if g.x == nil {
			g.x = &extra{}
		}
		return g.x
	}
	readID := func() (id alertID) {
		for j := range id {
			id[j] = d.byte()
		}
		return id
	}
	if d.byte() == 1 {
		s := &suppression{id: readID()}
		s.start, s.last, s.end, s.created = int64(d.uint64()), int64(d.uint64()), int64(d.uint64()), int64(d.uint64())
		s.count, s.written, s.doc = int64(d.uvarint()), d.byte() == 1, []byte(d.string())
		x().sup = s
	}
	n := d.uvarint()
	if n == 0 || n > uint64(size) {
		return
	}
	x().docs = make(map[alertID][]byte, n)
	for range n {
		if d.err != nil {
			return
		}
		id := readID()
		g.x.docs[id] = []byte(d.string())
	}
}

package correlate

import (
	"crypto/sha256"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/rules"
)

// MaxAlertIDs bounds the contributing alert ids a correlation alert lists; beyond it vigil.correlation.truncated is
// true.
const MaxAlertIDs = 100

// output is one version of a correlation alert, as the engine decided it; alert turns it into the document.
type output struct {
	corr      *corr
	key       string
	id        alertID
	count     int
	start     int64 // first contributing match
	last      int64 // last contributing match
	end       int64 // end of the window: the burst's end, the closing time, the absence deadline
	match     int64 // the match that completed the condition: the alert's event time
	ids       []alertID
	truncated bool
	inputs    []int32
	value     *float64
	values    []string
	created   int64
	update    bool
	rewrite   bool // an earlier version was handed out
	// stale is the group whose burst changed since this version was taken.
	stale *group
	// sup, for a suppressing rule, is its window as this version shows it.
	sup *suppression
}

// alertID is the id of the group's alert whose first contributing match is first: a hash of the tenant, the rule
// and the group (the group key holds all three) and that match's id.
func (g *group) alertID(first alertID) alertID {
	h := sha256.New()
	h.Write([]byte(g.key))
	h.Write(first[:])
	var id alertID
	copy(id[:], h.Sum(nil))
	return id
}

// touch notes that the group's burst is new or grew: its alert is written at the end of this Advance (or when the
// burst ends, if that comes first), once however often it grew.
func (p *Partition) touch(g *group) {
	b := g.burst()
	if o := p.byID[b.id]; o != nil {
		o.stale = g
		return
	}
	o := &output{key: g.key, id: b.id, stale: g}
	p.byID[b.id] = o
	p.out = append(p.out, o)
}

// snapshot records the current version of the group's burst alert, if it changed since the last one.
func (p *Partition) snapshot(g *group) {
	b := g.burst()
	o := p.byID[b.id]
	if o == nil || o.stale == nil {
		return
	}
	x, _ := g.aggregate()
	*o = *g.describe(g.ev[:g.applied], x)
	o.id, o.start, o.end, o.match, o.created, o.update = b.id, b.start, b.end, b.match, b.created, true
	o.rewrite, b.written = b.written, true
	if s := g.x.sup; s != nil && s.id == b.id {
		o.sup = new(*s)
		o.rewrite = o.rewrite || s.count > 1
	}
}

// describe summarizes the matches of a window: count, last time, contributing rules and alert ids, the value.
func (g *group) describe(window []entry, x float64) *output {
	o := &output{corr: g.corr, key: g.key, count: len(window)}
	for i, e := range window {
		if i < MaxAlertIDs {
			o.ids = append(o.ids, e.id)
		}
		if !slices.Contains(o.inputs, e.input) {
			o.inputs = append(o.inputs, e.input)
		}
		o.last = max(o.last, e.time)
	}
	o.truncated = len(window) > MaxAlertIDs
	switch g.corr.c.Correlation.Type {
	case rules.ValueCount, rules.ValueSum, rules.ValueAvg, rules.ValuePercentile:
		o.value = &x
	}
	if g.corr.c.Correlation.Type == rules.ValuePercentile {
		counts := distinct(window, func(e entry) uint64 { return math.Float64bits(e.num) })
		for h, n := range counts {
			if 100*float64(n)/float64(len(window)) == x {
				o.values = append(o.values, g.x.names[h])
			}
		}
		slices.Sort(o.values)
	}
	return o
}

// emit records a final alert (a closed window or an absence) and chains it.
func (p *Partition) emit(g *group, o *output) {
	o.corr, o.key, o.created = g.corr, g.key, p.e.now().UnixNano()
	id := o.id
	o.id, o.sup = p.foldCorrelation(g, id, o.end) // when the alert is decided: the window's end, the wait's
	o.update = o.sup != nil                       // a suppressed alert may get later versions
	o.rewrite = o.sup != nil && o.sup.count > 1
	p.out = append(p.out, o)
	p.chain(g, id, o.match, o.count)
}

// chain hands a new alert of g's correlation, as a match at time t, to the correlations that name it.
func (p *Partition) chain(g *group, id alertID, t int64, count int) {
	p.e.Stats.Alerts.Add(1)
	c := g.corr.c
	if len(c.NamedBy) == 0 {
		return
	}
	tenant, values := splitKey(g.key)
	for _, next := range c.NamedBy {
		k := next.Correlation
		r := Record{Tenant: tenant, Rule: next.ID, Input: c.ID, AlertID: id.String(), Time: time.Unix(0, t),
			Num: float64(count), Group: make([]string, len(k.GroupBy))}
		for i, name := range k.GroupBy {
			r.Group[i] = values[slices.Index(c.Correlation.GroupBy, k.Field(name, c.ID))] // checked by the rule set
		}
		if i := slices.Index(c.Correlation.GroupBy, k.Field(k.Condition.Field, c.ID)); i >= 0 {
			r.Value = values[i]
		}
		if p.route == nil || p.route(&r) {
			p.add(&r, true)
		} else {
			p.chains = append(p.chains, r)
		}
	}
}

// splitKey returns the tenant and group values of a group key.
func splitKey(key string) (tenant string, values []string) {
	parts := strings.Split(strings.TrimSuffix(key, "\x00"), "\x00")
	return parts[0], parts[2:]
}

// alert builds the alert document of o.
func (o *output) alert() *vigil.Alert {
	if o.corr.kind == suppressing {
		return o.suppressedAlert()
	}
	c := o.corr.c
	k := c.Correlation
	tenant, values := splitKey(o.key)
	group := make(map[string]any, len(values))
	for i, name := range k.GroupBy {
		group[name] = values[i]
	}
	ids := make([]any, len(o.ids))
	for i, id := range o.ids {
		ids[i] = id.String()
	}
	inputs := make([]any, len(o.inputs))
	for i, in := range o.inputs {
		inputs[i] = o.corr.inputs[in]
	}
	doc := map[string]any{
		"type":   k.Type,
		"group":  group,
		"count":  int64(o.count),
		"window": map[string]any{"start": formatTime(o.start), "end": formatTime(o.end)},
		"rules":  inputs,
		"alerts": ids,
	}
	if o.truncated {
		doc["truncated"] = true
	}
	if o.value != nil {
		doc["value"] = *o.value
	}
	if o.values != nil {
		doc["values"] = stringsToAny(o.values)
	}
	a := rules.NewCorrelationAlert(c, tenant, o.id.String(), time.Unix(0, o.match), time.Unix(0, o.created), doc,
		o.reason(values))
	a.Update = o.update
	if o.sup != nil {
		vigil.Object(a.Doc, "vigil")["suppression"] = o.sup.fields(group)
	}
	return a
}

// reason says in one line why the alert was raised, as vigil.alert.reason.
func (o *output) reason(values []string) string {
	k := o.corr.c.Correlation
	var group []string
	for i, name := range k.GroupBy {
		group = append(group, name+"="+values[i])
	}
	var b strings.Builder
	switch {
	case k.Type == rules.Absence && o.corr.triggers == len(o.corr.inputs):
		fmt.Fprintf(&b, "no %s within %s after the last one", strings.Join(k.Rules, ", "), k.Timespan)
	case k.Type == rules.Absence:
		fmt.Fprintf(&b, "no %s within %s after %s", strings.Join(k.FollowedBy, ", "), k.Timespan,
			strings.Join(k.Rules, ", "))
	default:
		fmt.Fprintf(&b, "%d matches of %s within %s", o.count, strings.Join(k.Rules, ", "), k.Timespan)
		if o.value != nil {
			fmt.Fprintf(&b, ", %s of %s %s", strings.TrimPrefix(k.Type, "value_"), k.Condition.Field,
				strconv.FormatFloat(*o.value, 'f', -1, 64))
		}
	}
	if len(group) > 0 {
		b.WriteString(" for " + strings.Join(group, " "))
	}
	return b.String()
}

func formatTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

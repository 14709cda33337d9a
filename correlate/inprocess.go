package correlate

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/vigilsoc/vigil"
)

// Records appends the match records of alert a: one for each correlation that names a's rule, with the group-by
// values and the condition's field read from the alert document (so enrichment fields can be grouped by), and one
// for the rule's suppression when it suppresses, which makes a Internal: the engine raises it (suppress.go). A
// correlation whose group-by field the alert lacks gets no record from it; that is counted as Ungrouped.
func (e *Engine) Records(a *vigil.Alert, dst []Record) []Record {
	if a.Shadow {
		return dst // a shadow rule's matches never reach live correlations or suppressions
	}
	c := e.RuleSet().Rule(a.RuleID)
	if c == nil {
		return dst
	}
	if c.Suppress != nil {
		if r, ok := suppressionRecord(a, c); ok {
			dst = append(dst, r)
			a.Internal = true
		}
	}
	for _, next := range c.NamedBy {
		k := next.Correlation
		r := Record{Tenant: a.Tenant, Rule: next.ID, Input: a.RuleID, AlertID: a.ID, Time: a.Time,
			Group: make([]string, len(k.GroupBy))}
		ok := true
		for i, name := range k.GroupBy {
			r.Group[i], _, ok = valueText(vigil.Get(a.Doc, strings.Split(k.Field(name, a.RuleID), ".")...))
			if !ok {
				break
			}
		}
		if ok && k.Condition.Field != "" {
			r.Value, r.Num, ok = valueText(vigil.Get(a.Doc, strings.Split(k.Field(k.Condition.Field, a.RuleID), ".")...))
		}
		if !ok {
			e.Stats.Ungrouped.Add(1)
			continue
		}
		dst = append(dst, r)
	}
	return dst
}

// valueText renders a field value as the text a group compares, and as a number when it is one (or a numeric
// string). Objects and lists render as JSON. A missing value is not ok.
func valueText(v any) (text string, num float64, ok bool) {
	switch x := v.(type) {
	case nil:
		return "", 0, false
	case string:
		n, err := strconv.ParseFloat(x, 64)
		if err != nil {
			n = math.NaN()
		}
		return strings.ReplaceAll(x, "\x00", "\uFFFD"), n, true // a zero byte would end the value in a group key
	case int64:
		return strconv.FormatInt(x, 10), float64(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), x, true
	case bool:
		return strconv.FormatBool(x), 0, true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", 0, false
	}
	return string(b), math.NaN(), true
}

// InProcess is the vigil.Correlator of pipelines without a match topic (file sources, `vigil replay`, rule tests):
// one Partition fed straight from the batches. Several pipelines may share it (one per file source); it decides
// what is left open only once the last of them has flushed.
type InProcess struct {
	e       *Engine
	mu      sync.Mutex
	p       *Partition
	running int
}

// NewInProcess returns a Correlator running e on one partition for the given number of pipelines (at least 1).
func NewInProcess(e *Engine, pipelines int) *InProcess {
	return &InProcess{e: e, p: e.NewPartition(nil), running: max(pipelines, 1)}
}

// Correlate implements vigil.Correlator.
func (c *InProcess) Correlate(_ context.Context, alerts []*vigil.Alert) ([]*vigil.Alert, error) {
	var recs []Record
	for _, a := range alerts {
		recs = c.e.Records(a, recs)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range recs {
		c.p.Add(&recs[i])
	}
	out, _ := c.p.Advance()
	return out, nil
}

// Flush implements vigil.Correlator: the last pipeline to flush decides every open window.
func (c *InProcess) Flush(context.Context) ([]*vigil.Alert, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running--; c.running > 0 {
		return nil, nil
	}
	out, _ := c.p.Flush()
	return out, nil
}

package correlate

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/rules"
)

// RunTests runs the inline tests of correlation rule c, or the suppression tests of suppressing rule c (those with
// events and alerts): each test's events go through every single-event rule of set and through an in-process engine,
// as `vigil replay` would take them (enriched by enrichers), and the alerts c raises (their last versions, in the
// order first raised) are compared with the test's expectation. An event's `_tenant` key sets its tenant.
func RunTests(set *rules.RuleSet, c *rules.Compiled, cfg Config, enrichers []vigil.Enricher) []rules.TestResult {
	section := "correlation"
	if c.Correlation == nil {
		section = "suppression"
	}
	out := make([]rules.TestResult, 0, len(c.Tests))
	for _, t := range c.Tests {
		if t.Events == nil {
			continue // a suppressing rule's single-event test: rules.RunTests runs it
		}
		res := rules.TestResult{Rule: c.Rule, Test: t}
		got, err := Replay(set, cfg, enrichers, t.Events, t.Tenant)
		if err == nil {
			err = checkAlerts(only(got, c.ID), t.Alerts, section)
		}
		res.Err = err
		out = append(out, res)
	}
	return out
}

// Replay evaluates set over events in order, enriching the alerts, correlations included, and returns the last version of every alert
// raised, in the order each was first raised (internal ones included). An event's `_tenant` key overrides tenant.
func Replay(set *rules.RuleSet, cfg Config, enrichers []vigil.Enricher, events []map[string]any, tenant string) ([]*vigil.Alert, error) {
	detector := rules.NewEngine(set)
	corr := NewInProcess(New(set, cfg), 1)
	var all []*vigil.Alert
	for i, raw := range events {
		ev := maps.Clone(raw)
		evTenant := tenant
		if t, ok := ev["_tenant"].(string); ok {
			evTenant = t
			delete(ev, "_tenant")
		}
		e, err := rules.TestEvent(ev, evTenant)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
		e.Received = time.Now()
		alerts := detector.Detect(e, nil)
		for _, a := range alerts {
			for _, en := range enrichers {
				en.Enrich(context.Background(), a) // fail-open, as in the pipeline
			}
		}
		more, err := corr.Correlate(context.Background(), alerts)
		if err != nil {
			return nil, err
		}
		all = append(append(all, alerts...), more...)
	}
	more, err := corr.Flush(context.Background())
	if err != nil {
		return nil, err
	}
	return Latest(append(all, more...)), nil
}

// Latest keeps the last version of each alert id, in the order the ids first appear.
func Latest(alerts []*vigil.Alert) []*vigil.Alert {
	at := map[string]int{}
	var out []*vigil.Alert
	for _, a := range alerts {
		if i, ok := at[a.ID]; ok {
			out[i] = a
			continue
		}
		at[a.ID] = len(out)
		out = append(out, a)
	}
	return out
}

// only keeps the alerts of ruleID that are written (not Internal).
func only(alerts []*vigil.Alert, ruleID string) []*vigil.Alert {
	var out []*vigil.Alert
	for _, a := range alerts {
		if a.RuleID == ruleID && !a.Internal {
			out = append(out, a)
		}
	}
	return out
}

// checkAlerts compares correlation or suppressed alerts with a test's expectation; section is where their count and
// group are (vigil.correlation or vigil.suppression).
func checkAlerts(got []*vigil.Alert, want *rules.TestAlerts, section string) error {
	if len(got) != want.N {
		return fmt.Errorf("got %d alerts, want %d%s", len(got), want.N, describeAlerts(got, section))
	}
	for i, w := range want.List {
		a := got[i]
		if n := vigil.Get(a.Doc, "vigil", section, "count"); w.Count != 0 && n != int64(w.Count) {
			return fmt.Errorf("alert %d: got count %v, want %d%s", i+1, n, w.Count, describeAlerts(got, section))
		}
		for name, v := range w.Group {
			if g := vigil.Get(a.Doc, "vigil", section, "group", name); g != v {
				return fmt.Errorf("alert %d: got group %s=%v, want %s%s", i+1, name, g, v, describeAlerts(got, section))
			}
		}
	}
	return nil
}

func describeAlerts(alerts []*vigil.Alert, section string) string {
	if len(alerts) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(" (got:")
	for _, a := range alerts {
		fmt.Fprintf(&b, " [count %v group %v]", vigil.Get(a.Doc, "vigil", section, "count"),
			vigil.Get(a.Doc, "vigil", section, "group"))
	}
	b.WriteString(")")
	return b.String()
}

package rules

import (
	"cmp"
	"encoding/json"
	"fmt"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
)

// TestResult is the outcome of one inline rule test.
type TestResult struct {
	Rule *Rule
	Test RuleTest
	// Err is nil when the test passed.
	Err error
}

// Pos is the test's place in its file.
func (r TestResult) Pos() Position { return Position{File: r.Rule.Source.File, Line: r.Test.Line} }

// DefaultTenant is the tenant of test events and replayed events when none is given.
const DefaultTenant = "default"

// RunTests runs the inline tests of c. The test event is encoded to JSON and decoded exactly as the pipeline decodes
// records, so tests see the same field types as production. Exceptions and tenant restrictions apply. The tests of
// correlations and the suppression tests of suppressing rules (events and alerts) need the correlation engine:
// package correlate runs them.
func RunTests(c *Compiled) []TestResult { return RunTestsWith(c, nil) }

// RawDecoder decodes a test's raw record (RuleTest.Raw) in its format and with its parsers; file is the rule file,
// which parser paths are relative to. Package formats provides it (through cmd/vigil), since it depends on rules.
type RawDecoder func(t RuleTest, file string) (fields.Value, error)

// RunTestsWith is RunTests with a decoder for the tests that give a raw record; without one they fail.
func RunTestsWith(c *Compiled, decode RawDecoder) []TestResult {
	if c.Correlation != nil {
		return nil // package correlate runs them: they need the rule set and the correlation engine
	}
	out := make([]TestResult, 0, len(c.Tests))
	for _, t := range c.Tests {
		if t.Events != nil {
			continue // a suppression test: package correlate runs it
		}
		res := TestResult{Rule: c.Rule, Test: t}
		ev, err := testEvent(t, c.Rule.Source.File, decode)
		if err != nil {
			res.Err = err
		} else {
			got := "no_match"
			if c.Match(ev) {
				got = "match"
			}
			if got != t.Expect {
				res.Err = fmt.Errorf("got %s, want %s", got, t.Expect)
			}
		}
		out = append(out, res)
	}
	return out
}

// testEvent makes the event of test t: from its event, or its raw record through decode.
func testEvent(t RuleTest, file string, decode RawDecoder) (*vigil.Event, error) {
	if t.Raw == "" {
		return TestEvent(t.Event, t.Tenant)
	}
	if decode == nil {
		return nil, fmt.Errorf("raw test event: no decoder for format %s here (run vigil rules test)", t.Format)
	}
	tree, err := decode(t, file)
	if err != nil {
		return nil, fmt.Errorf("raw test event: %w", err)
	}
	return &vigil.Event{Raw: []byte(t.Raw), Fields: tree, Tenant: cmp.Or(t.Tenant, DefaultTenant)}, nil
}

// TestEvent makes the event of a rule test: encoded to JSON and decoded as the pipeline decodes records. An empty
// tenant is DefaultTenant.
func TestEvent(event map[string]any, tenant string) (*vigil.Event, error) {
	raw, err := json.Marshal(event)
	if err != nil {
		return nil, fmt.Errorf("encode test event: %w", err)
	}
	tree, err := fields.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("decode test event: %w", err)
	}
	if tenant == "" {
		tenant = DefaultTenant
	}
	return &vigil.Event{Raw: raw, Fields: tree, Tenant: tenant}, nil
}

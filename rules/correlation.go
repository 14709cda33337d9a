package rules

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Correlation is a rule's `correlation:` section (docs/rules.md, "Correlation rules"): a detection over several
// matches of other rules, grouped by field values within a timespan. Its types and conditions are those of the Sigma
// correlation specification, plus Vigil's absence. Package correlate evaluates it.
type Correlation struct {
	// Type is one of CorrelationTypes.
	Type string `yaml:"type"`
	// Rules are the ids of the rules whose matches count: single-event rules or other correlations. For absence they
	// are the rules that open a wait.
	Rules []string `yaml:"rules"`
	// GroupBy names the fields (or aliases) whose values form a group; matches only count together within a group,
	// and always within one tenant.
	GroupBy []string `yaml:"group_by,omitempty"`
	// Aliases maps a group-by name to the field that stands for it in each named rule's matches.
	Aliases map[string]map[string]string `yaml:"aliases,omitempty"`
	// Timespan is the window length: a number and s, m, h or d.
	Timespan string `yaml:"timespan"`
	// Condition compares the window's count (or value) with thresholds.
	Condition CorrelationCondition `yaml:"condition,omitempty"`
	// FollowedBy, for absence, are the rules whose match within the timespan after an opening match cancels it.
	// Empty means the opening rules themselves: the group went silent.
	FollowedBy []string `yaml:"followed_by,omitempty"`
	// Generate keeps the alerts of the named rules: without it, rules that correlations name are correlation input
	// only (Sigma's meaning).
	Generate bool `yaml:"generate,omitempty"`
}

// CorrelationCondition is the threshold part of a correlation: every bound given must hold (`gt: 100, lte: 200` is a
// range). Field names the value that value_count, value_sum, value_avg and value_percentile read.
type CorrelationCondition struct {
	Field string   `yaml:"field,omitempty"`
	GT    *float64 `yaml:"gt,omitempty"`
	GTE   *float64 `yaml:"gte,omitempty"`
	LT    *float64 `yaml:"lt,omitempty"`
	LTE   *float64 `yaml:"lte,omitempty"`
	EQ    *float64 `yaml:"eq,omitempty"`
	NEQ   *float64 `yaml:"neq,omitempty"`
}

// Correlation types.
const (
	EventCount      = "event_count"
	ValueCount      = "value_count"
	Temporal        = "temporal"
	TemporalOrdered = "temporal_ordered"
	ValueSum        = "value_sum"
	ValueAvg        = "value_avg"
	ValuePercentile = "value_percentile"
	Absence         = "absence"
)

// CorrelationTypes lists the correlation types in the order docs/rules.md describes them.
var CorrelationTypes = []string{EventCount, ValueCount, Temporal, TemporalOrdered, ValueSum, ValueAvg, ValuePercentile, Absence}

var knownCorrelationKeys = map[string]bool{"type": true, "rules": true, "group_by": true, "aliases": true,
	"timespan": true, "condition": true, "followed_by": true, "generate": true}

var knownConditionKeys = map[string]bool{"field": true, "gt": true, "gte": true, "lt": true, "lte": true, "eq": true, "neq": true}

// Holds reports whether x meets every bound of the condition. A condition without bounds holds for any x.
func (c *CorrelationCondition) Holds(x float64) bool {
	ok := func(b *float64, f func(float64) bool) bool { return b == nil || f(*b) }
	return ok(c.GT, func(b float64) bool { return x > b }) && ok(c.GTE, func(b float64) bool { return x >= b }) &&
		ok(c.LT, func(b float64) bool { return x < b }) && ok(c.LTE, func(b float64) bool { return x <= b }) &&
		ok(c.EQ, func(b float64) bool { return x == b }) && ok(c.NEQ, func(b float64) bool { return x != b })
}

// Monotone reports whether the condition has only lower bounds (gt, gte): once it holds for a growing count it keeps
// holding, so it can be decided the moment it first holds rather than when the window closes.
func (c *CorrelationCondition) Monotone() bool {
	return (c.GT != nil || c.GTE != nil) && c.LT == nil && c.LTE == nil && c.EQ == nil && c.NEQ == nil
}

func (c *CorrelationCondition) empty() bool {
	return c.GT == nil && c.GTE == nil && c.LT == nil && c.LTE == nil && c.EQ == nil && c.NEQ == nil
}

// String renders the bounds as `gte 5`, `gt 100 and lte 200`.
func (c *CorrelationCondition) String() string {
	var parts []string
	add := func(op string, b *float64) {
		if b != nil {
			parts = append(parts, op+" "+strconv.FormatFloat(*b, 'f', -1, 64))
		}
	}
	add("gt", c.GT)
	add("gte", c.GTE)
	add("lt", c.LT)
	add("lte", c.LTE)
	add("eq", c.EQ)
	add("neq", c.NEQ)
	return strings.Join(parts, " and ")
}

var timespanPattern = regexp.MustCompile(`^([1-9][0-9]*)([smhd])$`)

// ParseTimespan reads a Sigma timespan: a positive number and s, m, h or d ("30s", "5m", "2h", "1d").
func ParseTimespan(s string) (time.Duration, error) {
	m := timespanPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("timespan %q must be a positive number followed by s, m, h or d (for example 5m)", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	if err != nil || n > int64(math.MaxInt64/unit) || n*int64(unit) > int64(366*24*time.Hour) {
		return 0, fmt.Errorf("timespan %q is too long: at most 366d", s)
	}
	return time.Duration(n) * unit, nil
}

// needsField reports whether the type reads a value from the matches.
func needsField(typ string) bool {
	return typ == ValueCount || typ == ValueSum || typ == ValueAvg || typ == ValuePercentile
}

// checkCorrelation validates a correlation section on its own; references to other rules are checked by the set.
func (r *Rule) checkCorrelation(add func(key, format string, args ...any)) {
	c := r.Correlation
	if strings.TrimSpace(r.Condition) != "" {
		add("condition", "a rule has either condition or correlation, not both")
	}
	if len(r.Exceptions) > 0 {
		add("exceptions", "exceptions apply to single-event rules; put them on the rules the correlation names")
	}
	if len(r.ExceptionsFrom) > 0 {
		add("exceptions_from", "exceptions apply to single-event rules; put them on the rules the correlation names")
	}
	if !slices.Contains(CorrelationTypes, c.Type) {
		add("correlation", "correlation type %q must be one of %s", c.Type, strings.Join(CorrelationTypes, ", "))
	}
	if len(c.Rules) == 0 {
		add("correlation", "correlation needs rules: the ids of the rules whose matches it correlates")
	}
	if slices.Contains(c.Rules, r.ID) || slices.Contains(c.FollowedBy, r.ID) {
		add("correlation", "a correlation cannot name itself")
	}
	for _, list := range [][]string{c.Rules, c.FollowedBy, c.GroupBy} {
		seen := map[string]bool{}
		for _, x := range list {
			if seen[x] {
				add("correlation", "correlation names %s %q twice", map[bool]string{true: "field", false: "rule"}[slices.Equal(list, c.GroupBy)], x)
			}
			seen[x] = true
		}
	}
	if _, err := ParseTimespan(c.Timespan); err != nil {
		add("correlation", "%v", err)
	}
	if len(c.FollowedBy) > 0 && c.Type != Absence {
		add("correlation", "followed_by is for absence correlations")
	}
	cond := &c.Condition
	switch {
	case needsField(c.Type) && cond.Field == "":
		add("correlation", "%s needs condition.field: the field whose values it reads", c.Type)
	case !needsField(c.Type) && cond.Field != "":
		add("correlation", "condition.field is for value_count, value_sum, value_avg and value_percentile")
	}
	switch {
	case c.Type == Absence && !cond.empty():
		add("correlation", "absence takes no condition: it matches when no followed_by match comes within the timespan")
	case c.Type == TemporalOrdered && !cond.empty():
		add("correlation", "temporal_ordered takes no condition: it matches when all its rules match in their order")
	case cond.empty() && c.Type != Absence && c.Type != Temporal && c.Type != TemporalOrdered:
		add("correlation", "%s needs a condition: one or more of gt, gte, lt, lte, eq, neq", c.Type)
	}
	for name, byRule := range c.Aliases {
		if !slices.Contains(c.GroupBy, name) {
			add("correlation", "alias %q is not used in group_by", name)
		}
		for id := range byRule {
			if !slices.Contains(c.Rules, id) && !slices.Contains(c.FollowedBy, id) {
				add("correlation", "alias %q names rule %q, which the correlation does not name", name, id)
			}
		}
	}
	for i, t := range r.Tests {
		if t.Event != nil || t.Expect != "" {
			add("tests", "test %d (%q): a correlation rule's test gives events and alerts, not event and expect", i+1, t.Name)
		}
		if len(t.Events) == 0 || t.Alerts == nil {
			add("tests", "test %d (%q): a correlation rule's test needs events and alerts", i+1, t.Name)
		}
	}
}

// Field returns the field that stands for the group-by name in the matches of rule id: its alias, or the name itself.
func (c *Correlation) Field(name, id string) string {
	if f, ok := c.Aliases[name][id]; ok {
		return f
	}
	return name
}

// Inputs returns every rule id the correlation reads: rules, then followed_by.
func (c *Correlation) Inputs() []string {
	out := slices.Clone(c.Rules)
	for _, id := range c.FollowedBy {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// TestAlerts is the expectation of a correlation rule's test: a number of alerts (`alerts: 2`), or a list of the
// alerts with their count and group (`alerts: [{count: 10, group: {user.name: bob}}]`), in the order they were
// first raised.
type TestAlerts struct {
	N    int
	List []TestAlert
}

// TestAlert is one expected correlation alert; a zero Count or a nil Group is not checked.
type TestAlert struct {
	Count int               `yaml:"count,omitempty"`
	Group map[string]string `yaml:"group,omitempty"`
}

// UnmarshalYAML reads a number or a list.
func (t *TestAlerts) UnmarshalYAML(unmarshal func(any) error) error {
	if err := unmarshal(&t.N); err == nil {
		if t.N < 0 {
			return fmt.Errorf("alerts must be a number of alerts (0 or more) or a list of alerts")
		}
		return nil
	}
	if err := unmarshal(&t.List); err != nil {
		return fmt.Errorf("alerts must be a number of alerts or a list of {count, group}: %w", err)
	}
	t.N = len(t.List)
	return nil
}

package rules

import (
	"slices"
	"strings"
)

// Suppress is a rule's `suppress:` section (docs/rules.md, "Suppression"): the first match of a group raises an
// alert, and the group's later matches within For update that alert (vigil.suppression.*) instead of raising new
// ones. Groups are per tenant and the By values; a correlation's are its own groups (By is its group_by). Package
// correlate keeps the groups.
type Suppress struct {
	// By names the fields whose values form a group; none: all the rule's matches of a tenant are one group.
	By []string `yaml:"by,omitempty"`
	// For is how long after a group's first match its later matches are suppressed: a timespan (30s, 5m, 2h, 1d).
	For string `yaml:"for"`
	// Missing says what a match without one of the By fields does: "group" (the default) suppresses it with the
	// other matches that lack it; "skip" raises its alert as if the rule did not suppress.
	Missing string `yaml:"missing,omitempty"`
}

// Suppress.Missing values.
const (
	MissingGroup = "group"
	MissingSkip  = "skip"
)

var knownSuppressKeys = map[string]bool{"by": true, "for": true, "missing": true}

// SkipsMissing reports whether a match lacking a By field raises its own alert.
func (s *Suppress) SkipsMissing() bool { return s.Missing == MissingSkip }

// checkSuppress validates a suppress section on its own.
func (r *Rule) checkSuppress(add func(key, format string, args ...any)) {
	s := r.Suppress
	if c := r.Correlation; c != nil && len(s.By) > 0 && !sameSet(s.By, c.GroupBy) {
		add("suppress", "suppress.by of a correlation must be its group_by (%s), or left out: its alerts are per group",
			strings.Join(c.GroupBy, ", "))
	}
	window, err := ParseTimespan(s.For)
	if err != nil {
		add("suppress", "suppress.for: %v", err)
	}
	if c := r.Correlation; c != nil && err == nil {
		if span, err := ParseTimespan(c.Timespan); err == nil && window <= span {
			add("suppress", "suppress.for (%s) must be longer than the correlation's timespan (%s): within the timespan "+
				"after its match, a burst takes the group's matches already", s.For, c.Timespan)
		}
	}
	if s.Missing != "" && s.Missing != MissingGroup && s.Missing != MissingSkip {
		add("suppress", "suppress.missing %q must be group or skip", s.Missing)
	}
	for i, f := range s.By {
		switch {
		case strings.TrimSpace(f) == "" || strings.HasPrefix(f, ".") || strings.HasSuffix(f, ".") || strings.Contains(f, ".."):
			add("suppress", "suppress.by %q is not a field name (dotted, like user.name)", f)
		case slices.Contains(s.By[:i], f):
			add("suppress", "suppress.by names %q twice", f)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

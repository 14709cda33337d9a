package rules

import (
	"slices"
	"strings"
)

// Suppress is a rule's `suppress:` section (docs/rules.md, "Suppression"): the first match of a group raises an
// alert, and the group's later matches within For update that alert (vigil.suppression.*) instead of raising new
// ones. Groups are per tenant and the By values. Package correlate keeps the groups.
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
	if r.Correlation != nil {
		add("suppress", "suppress is for single-event rules: a correlation raises one alert per burst already, and "+
			"its timespan is its suppression window")
	}
	if _, err := ParseTimespan(s.For); err != nil {
		add("suppress", "suppress.for: %v", err)
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

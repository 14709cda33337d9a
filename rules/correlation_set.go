package rules

import (
	"fmt"
	"slices"
	"strings"
)

// linkCorrelations checks what the correlations of the set name, and records who reads whose matches: NamedBy, and
// Internal for the rules whose alerts only feed correlations. It returns an error per problem, at the rule's line.
func (s *RuleSet) linkCorrelations(disabled map[string]bool) []error {
	var errs []error
	for _, c := range s.correlations {
		fail := func(format string, args ...any) {
			errs = append(errs, &Error{Pos: Position{File: c.Source.File, Line: c.line("correlation")}, RuleID: c.ID,
				Msg: fmt.Sprintf(format, args...)})
		}
		corr := c.Correlation
		for _, id := range corr.Inputs() {
			in := s.byID[id]
			switch {
			case in == nil && disabled[id]:
				fail("correlation names rule %q, which is disabled (enabled: false)", id)
				continue
			case in == nil:
				fail("correlation names unknown rule %q%s", id, s.suggest(id))
				continue
			}
			if !slices.Contains(in.NamedBy, c) {
				in.NamedBy = append(in.NamedBy, c)
			}
			if in.Correlation == nil {
				continue
			}
			// The matches of a correlation are its alerts, which have its group-by values and nothing else of the
			// events: a field outside those can never be there.
			for _, name := range corr.GroupBy {
				if f := corr.Field(name, id); !slices.Contains(in.Correlation.GroupBy, f) {
					fail("group_by %q: correlation %q has no field %q (its alerts carry only its group_by: %s)",
						name, id, f, strings.Join(in.Correlation.GroupBy, ", "))
				}
			}
		}
	}
	if cycle := s.correlationCycle(); cycle != nil {
		c := s.byID[cycle[0]]
		errs = append(errs, &Error{Pos: Position{File: c.Source.File, Line: c.line("correlation")}, RuleID: c.ID,
			Msg: "correlations form a cycle: " + strings.Join(cycle, " -> ")})
	}
	for _, c := range append(slices.Clone(s.rules), s.correlations...) {
		c.Internal = c.Alert != nil && !*c.Alert
		if len(c.NamedBy) > 0 && !slices.ContainsFunc(c.NamedBy, func(n *Compiled) bool { return n.Correlation.Generate }) {
			c.Internal = true
		}
		if c.Internal && c.Suppress != nil {
			errs = append(errs, &Error{Pos: Position{File: c.Source.File, Line: c.line("suppress")}, RuleID: c.ID,
				Msg: "suppress: the rule raises no alerts of its own (alert: false, or only correlation input), so there is nothing to suppress"})
		}
	}
	return errs
}

// Stateful lists the rules that need the correlation engine's state: the correlations and the suppressing rules.
func (s *RuleSet) Stateful() []string {
	var ids []string
	for _, c := range s.correlations {
		ids = append(ids, c.ID)
	}
	for _, c := range s.rules {
		if c.Suppress != nil {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// correlationCycle returns a cycle of correlations naming each other (its first id repeated at its end), or nil.
func (s *RuleSet) correlationCycle() []string {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(id string) []string
	visit = func(id string) []string {
		c := s.byID[id]
		if c == nil || c.Correlation == nil || state[id] == done {
			return nil
		}
		if state[id] == onPath {
			return append(slices.Clone(path[slices.Index(path, id):]), id)
		}
		state[id] = onPath
		path = append(path, id)
		for _, in := range c.Correlation.Inputs() {
			if cycle := visit(in); cycle != nil {
				return cycle
			}
		}
		path = path[:len(path)-1]
		state[id] = done
		return nil
	}
	for _, c := range s.correlations {
		if cycle := visit(c.ID); cycle != nil {
			return cycle
		}
	}
	return nil
}

// suggest names the known rule id closest to id, as " (did you mean ...?)", or returns "".
func (s *RuleSet) suggest(id string) string {
	best, bestDist := "", max(2, len(id)/3)+1
	for known := range s.byID {
		if d := editDistance(id, known); d < bestDist || d == bestDist && known < best {
			best, bestDist = known, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

package rules

import "github.com/vigilsoc/vigil"

// Candidates returns the IDs of the rules the prefilter index selects for an event: those evaluated on it, in rule
// order. Tests and benchmarks use it to show what the index narrows; the engine does not.
func (s *RuleSet) Candidates(ev *vigil.Event) []string {
	sc := s.index.pool.Get().(*scratch)
	defer s.index.pool.Put(sc)
	var ids []string
	for _, i := range s.index.candidates(ev.Fields, sc) {
		ids = append(ids, s.rules[i].ID)
	}
	return ids
}

// CountCandidates returns how many rules the prefilter index selects for an event, without allocating: the index's
// work alone, for benchmarks.
func (s *RuleSet) CountCandidates(ev *vigil.Event) int {
	sc := s.index.pool.Get().(*scratch)
	defer s.index.pool.Put(sc)
	return len(s.index.candidates(ev.Fields, sc))
}

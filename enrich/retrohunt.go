package enrich

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vigilsoc/vigil/fields"
)

// RetrohuntConfig turns on the IOC retro-hunt (docs/hunting.md): when the threat-intel table gains indicators, the
// new ones are searched over the records the Kafka sources retain for Window.
type RetrohuntConfig struct {
	// Window is how far back the retained records are searched, e.g. 168h (7 days); 0 (the default) turns the
	// retro-hunt off.
	Window time.Duration `yaml:"window"`
	// CPUShare is the share of the instance's CPUs the retro-hunt may use, in (0, 1]; default 0.25. It runs on one
	// goroutine, busy for at most CPUShare × the number of CPUs (capped at 1) of its time.
	CPUShare float64 `yaml:"cpu_share"`
}

// DefaultRetrohuntCPUShare is RetrohuntConfig.CPUShare's default.
const DefaultRetrohuntCPUShare = 0.25

// WithDefaults returns c with its defaults filled in.
func (c RetrohuntConfig) WithDefaults() RetrohuntConfig {
	if c.CPUShare == 0 {
		c.CPUShare = DefaultRetrohuntCPUShare
	}
	return c
}

func (c RetrohuntConfig) validate() error {
	var errs []error
	if c.Window < 0 {
		errs = append(errs, errors.New("threat_intel.retrohunt.window: must not be negative"))
	}
	if c.CPUShare < 0 || c.CPUShare > 1 {
		errs = append(errs, fmt.Errorf("threat_intel.retrohunt.cpu_share: %g is not in (0, 1]", c.CPUShare))
	}
	return errors.Join(errs...)
}

// Added returns the indicators of s whose type and value old does not hold (all of them when old is nil), as a set
// of their own, with their metadata; those already expired at now are left out.
func (s *IndicatorSet) Added(old *IndicatorSet, now time.Time) *IndicatorSet {
	type key struct {
		t IndicatorType
		v string
	}
	seen := map[key]bool{}
	if old != nil {
		for i := range old.recs {
			seen[key{old.recs[i].typ, old.value(int32(i))}] = true
		}
	}
	b := newIndicatorBuilder(now)
	for i := range s.recs {
		r, v := &s.recs[i], s.value(int32(i))
		if seen[key{r.typ, v}] {
			continue
		}
		b.addCanonical(r.typ, v, int64(r.expires), b.meta(*s.metas[r.meta]))
	}
	set, _ := b.finish() // the values are a subset of s's, which fit
	return set
}

// NewThreatIntelOf returns a ThreatIntel over the fixed set s, searching fields (nil: the defaults) as
// ThreatIntelConfig.Fields does.
func NewThreatIntelOf(s *IndicatorSet, fieldsByKind map[string][]string) *ThreatIntel {
	t := &ThreatIntel{fields: DefaultThreatFields(), now: time.Now, Table: NewTable[IndicatorSet]("threat_intel", nil, nil)}
	for k, v := range fieldsByKind {
		t.fields[k] = v
	}
	t.Table.Set(s)
	return t
}

// Match is an indicator found in an event.
type Match struct {
	Indicator Indicator
	// Field is where it was found and Atomic the value there.
	Field, Atomic string
}

// MatchFields returns every live indicator found in the searched fields of an event's tree, once per indicator (the
// first field it was found in).
func (t *ThreatIntel) MatchFields(ev fields.Value) []Match {
	s := t.set()
	if s == nil {
		return nil
	}
	clk := &clock{now: t.now}
	var out []Match
	var seen []int32
	for _, kind := range threatKinds {
		for _, field := range t.fields[kind] {
			eachStringAt(ev, field, func(atomic string) {
				for i := s.match(kind, atomic, clk); i >= 0; i = s.nextLive(s.recs[i].next, s.value(i), clk) {
					if !slices.Contains(seen, i) {
						seen = append(seen, i)
						out = append(out, Match{Indicator: s.indicator(i), Field: field, Atomic: atomic})
					}
				}
			})
		}
	}
	return out
}

package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/vigilsoc/vigil/fields"
)

// Compiled is a rule ready to be evaluated. Its evaluators are shared by all goroutines: they are stateless.
type Compiled struct {
	*Rule
	// Version is a hash of the rule's text; alerts carry it as rule.version.
	Version string
	// Cost is the condition's estimated worst-case cost.
	Cost uint64
	// Span is a correlation rule's timespan; zero for a single-event rule.
	Span time.Duration
	// SuppressFor is a suppressing rule's suppress.for; zero when the rule does not suppress.
	SuppressFor time.Duration
	// Internal is set when the rule's matches are correlation input only (see vigil.Alert.Internal).
	Internal bool
	// NamedBy lists the enabled correlations that read this rule's matches.
	NamedBy []*Compiled

	cond       *evaluator
	exceptions []exception
	requires   [][]group // for building the prefilter index: branches of groups; nil when the condition has none, or once the index is built
	tenants    map[string]bool
	stats      *Stats
	// ruleDoc and threatDoc are the alert fields that depend only on the rule, built once as read-only trees that
	// every alert of the rule shares (vigil.Object copies one into a map of the alert's own before a change).
	// ruleDoc is held boxed, so storing it in an alert does not box it again.
	ruleDoc   any
	threatDoc fields.Value
	tagsDoc   any // the rule's tags as the alert's tags when the event has none: a boxed fields.Value, or nil
}

// RuleSet is an immutable set of compiled rules with unique ids. A reload builds a new one and swaps it in whole.
type RuleSet struct {
	rules        []*Compiled // single-event rules, the ones the index and the engine evaluate
	correlations []*Compiled
	byID         map[string]*Compiled
	disabled     int
	index        *index
}

// Rules returns the enabled single-event rules in load order.
func (s *RuleSet) Rules() []*Compiled { return s.rules }

// Correlations returns the enabled correlation rules in load order.
func (s *RuleSet) Correlations() []*Compiled { return s.correlations }

// Rule returns the rule with the given id, or nil.
func (s *RuleSet) Rule(id string) *Compiled { return s.byID[id] }

// Disabled counts the rules that were loaded but are switched off.
func (s *RuleSet) Disabled() int { return s.disabled }

// Compile compiles one rule. Errors carry the rule's file and line.
func (e *Env) Compile(r *Rule) (*Compiled, error) {
	return e.compile(r, nil)
}

// compile compiles r, taking the programs of expressions it already holds from cache (nil: none) and adding the
// others to it.
func (e *Env) compile(r *Rule, cache *exprCache) (*Compiled, error) {
	var errs []error
	c := &Compiled{Rule: r, Version: version(r.Text)}
	if r.Suppress != nil {
		c.SuppressFor, _ = ParseTimespan(r.Suppress.For) // Parse checked it
	}
	if r.Correlation != nil {
		c.Span, _ = ParseTimespan(r.Correlation.Timespan)
	} else if x, err := e.compiledExpr(r.Condition, cache); err != nil {
		errs = append(errs, r.exprErrors("condition", "condition", r.Condition, err)...)
	} else {
		c.cond, c.Cost, c.requires = x.prg, x.cost, x.requires
	}
	for i, expr := range r.Exceptions {
		x, err := e.compiledExpr(expr, cache)
		if err != nil {
			errs = append(errs, r.exprErrors(fmt.Sprint("exceptions.", i), fmt.Sprint("exception ", i+1), expr, err)...)
			continue
		}
		c.exceptions = append(c.exceptions, exception{prg: x.prg})
	}
	if fromLists, err := r.listExceptions(); err != nil {
		errs = append(errs, err)
	} else {
		c.exceptions = append(c.exceptions, fromLists...)
	}
	if len(r.Tenants) > 0 {
		c.tenants = make(map[string]bool, len(r.Tenants))
		for _, t := range r.Tenants {
			c.tenants[t] = true
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.ruleDoc = fields.MustFromMap(ruleFields(c))
	if tags := mergeTags(nil, r.Tags); len(tags) > 0 {
		c.tagsDoc = fields.MustFromMap(map[string]any{"tags": tags}).Get("tags")
	}
	if threat := threatFields(r.MitreAttack); threat != nil {
		c.threatDoc = fields.MustFromMap(threat)
	}
	return c, nil
}

// CompileSet compiles rules into a set, rejecting duplicate ids. It reports every error it finds; the set is nil when
// there are any, so a bad file never yields a partial rule set.
func (e *Env) CompileSet(rules []*Rule) (*RuleSet, error) {
	set := &RuleSet{byID: make(map[string]*Compiled, len(rules))}
	first := make(map[string]*Rule, len(rules))
	disabled := map[string]bool{}
	var errs []error
	compiled, compileErrs := e.compileAll(rules)
	for i, r := range rules {
		if prev, dup := first[r.ID]; dup {
			errs = append(errs, &Error{Pos: Position{File: r.Source.File, Line: r.line("id")}, RuleID: r.ID,
				Msg: fmt.Sprintf("duplicate rule id (first defined at %s)", prev.Source)})
			continue
		}
		first[r.ID] = r
		c, err := compiled[i], compileErrs[i]
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !r.IsEnabled() {
			set.disabled++
			disabled[r.ID] = true
			continue
		}
		if r.Correlation != nil {
			set.correlations = append(set.correlations, c)
		} else {
			set.rules = append(set.rules, c)
		}
		set.byID[r.ID] = c
	}
	errs = append(errs, set.linkCorrelations(disabled)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	set.index = buildIndex(set.rules)
	for _, c := range set.rules {
		// The index holds what it needs. Requirements are a sixth of a compiled set's pointers, which every garbage
		// collection would otherwise mark for as long as the set is loaded.
		c.requires = nil
	}
	return set, nil
}

// Unindexed returns the same rules without the prefilter index: every rule is evaluated on every event. It is the
// reference the index is tested against, and a baseline for benchmarks.
func (s *RuleSet) Unindexed() *RuleSet {
	plain := *s
	plain.index = &index{}
	for i := range s.rules {
		plain.index.always = append(plain.index.always, int32(i))
	}
	plain.index.pool.New = func() any { return &scratch{} }
	return &plain
}

// IndexStats describes the prefilter index: how many rules are indexed, how many are evaluated on every event, and
// on how many distinct fields.
func (s *RuleSet) IndexStats() (indexed, always, fields int) {
	return len(s.rules) - len(s.index.always), len(s.index.always), len(s.index.fields)
}

// version is the first 16 hex digits of the SHA-256 of the rule text.
func version(text []byte) string {
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:8])
}

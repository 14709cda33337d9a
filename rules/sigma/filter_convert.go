package sigma

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsoc/vigil/rules"
)

// filterState gathers, while rules convert, the exception entries of the Converter's filters: one per filter and
// log source of the rules it applies to, since the profile maps the filter's fields per log source.
type filterState struct {
	mu      sync.Mutex
	entries map[string]map[string]rules.ExceptionEntry // list name → log source → entry
	rules   int                                        // rules that name a filter's list
}

// FilteredRules counts the converted rules that name a filter's exception list.
func (c *Converter) FilteredRules() int {
	c.filters.mu.Lock()
	defer c.filters.mu.Unlock()
	return c.filters.rules
}

// filterExceptions returns the exception lists (by name) that r's converted rule uses: those of the Converter's
// filters that apply to r. Each gets an entry for r's log source: `not (condition)` of the filter with r's field
// names, behind r's log source guard. A filter on a rule whose log source the profile does not map is left out,
// with a note: without a guard its entry would apply to the list's other rules too.
func (c *Converter) filterExceptions(r *Rule) (names []string, notes []Note, err error) {
	for _, f := range c.Filters {
		if !f.AppliesTo(r) {
			continue
		}
		det := f.Detection
		det.Conditions = []string{"not (" + f.Detection.Conditions[0] + ")"}
		expr, guarded, err := c.condition(&Rule{File: f.File, Line: f.Line, ID: f.ID, Title: f.Title, Logsource: r.Logsource, Detection: det})
		if err != nil {
			return nil, nil, fmt.Errorf("filter %s (%s:%d): %w", f.ListName(), f.File, f.Line, err)
		}
		if !guarded {
			notes = append(notes, Note{Reason: "filter on a log source not mapped by the profile: not applied", Subject: f.ListName(),
				Text: fmt.Sprintf("filter %s is not applied: log source %s is not mapped by profile %s", f.ListName(), r.Logsource, c.Profile.Name)})
			continue
		}
		c.filters.mu.Lock()
		if c.filters.entries == nil {
			c.filters.entries = map[string]map[string]rules.ExceptionEntry{}
		}
		if c.filters.entries[f.ListName()] == nil {
			c.filters.entries[f.ListName()] = map[string]rules.ExceptionEntry{}
		}
		c.filters.entries[f.ListName()][r.Logsource.String()] = rules.ExceptionEntry{Expr: expr,
			Reason: fmt.Sprintf("Sigma filter %q (%s), for log source %s", f.Title, f.File, r.Logsource)}
		c.filters.mu.Unlock()
		names = append(names, f.ListName())
	}
	if len(names) > 0 {
		c.filters.mu.Lock()
		c.filters.rules++
		c.filters.mu.Unlock()
	}
	return names, notes, nil
}

// FilterLists returns the exception lists of the filters applied so far, as an exception list file (YAML, one
// list per document, in the order of Filters; entries by log source), and how many there are. Load it with the
// converted rules: `vigil sigma convert --filters` writes it to the folder `exceptions` beside them.
func (c *Converter) FilterLists() ([]byte, int, error) {
	lists := c.filterLists(nil)
	var b bytes.Buffer
	b.WriteString("# Converted from Sigma filters by `vigil sigma convert --filters`; edit the filters, not this file.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	for _, l := range lists {
		if err := enc.Encode(l); err != nil {
			return nil, 0, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, 0, err
	}
	return b.Bytes(), len(lists), nil
}

// filterLists builds the lists named in only (all when nil).
func (c *Converter) filterLists(only []string) []*rules.ExceptionList {
	c.filters.mu.Lock()
	defer c.filters.mu.Unlock()
	var out []*rules.ExceptionList
	for _, f := range c.Filters {
		byLS := c.filters.entries[f.ListName()]
		if len(byLS) == 0 || only != nil && !slices.Contains(only, f.ListName()) ||
			slices.ContainsFunc(out, func(l *rules.ExceptionList) bool { return l.Name == f.ListName() }) {
			continue
		}
		l := &rules.ExceptionList{Name: f.ListName(), Description: f.Title, Tenants: f.Tenants}
		for _, k := range slices.Sorted(mapKeys(byLS)) {
			l.Entries = append(l.Entries, byLS[k])
		}
		out = append(out, l)
	}
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// compileWithFilters compiles vr, whose exceptions_from names filter lists, with those lists.
func (c *Converter) compileWithFilters(vr *rules.Rule) (*rules.Compiled, error) {
	ls, err := rules.NewExceptionLists(c.filterLists(vr.ExceptionsFrom)...)
	if err == nil {
		err = c.Env.CompileExceptions(ls)
	}
	if err == nil {
		err = ls.Apply([]*rules.Rule{vr})
	}
	if err != nil {
		return nil, err
	}
	return c.Env.Compile(vr)
}

package rules

import (
	"errors"
	"fmt"
	"slices"
)

// exception is a compiled exception of a rule: inline (tenants nil) or an entry of an exception list, which applies
// only to its list's tenants when the list names any.
type exception struct {
	prg     *evaluator
	tenants map[string]bool
}

// applies reports whether the exception suppresses a match for tenant's event.
func (x *exception) applies(act *activation, tenant string) bool {
	return (x.tenants == nil || x.tenants[tenant]) && x.prg.eval(act) == truthy
}

// CompileExceptions compiles every entry of ls in e's environment; errors carry the entry's file:line.
func (e *Env) CompileExceptions(ls *ExceptionLists) error {
	var errs []error
	for _, l := range ls.Lists() {
		l.tenants = nil
		if len(l.Tenants) > 0 {
			l.tenants = make(map[string]bool, len(l.Tenants))
			for _, t := range l.Tenants {
				l.tenants[t] = true
			}
		}
		for i := range l.Entries {
			x := &l.Entries[i]
			text, err := x.celText()
			if err == nil {
				x.prg, _, _, err = e.program(text)
			}
			if err != nil {
				errs = append(errs, &Error{Pos: Position{File: l.Source.File, Line: x.Line},
					Msg: fmt.Sprintf("exception list %s, entry %d: %v", l.Name, i+1, err)})
			}
		}
	}
	return errors.Join(errs...)
}

// Apply gives each rule the lists it uses: those named in its exceptions_from, and the list named like its id, if
// there is one (so `vigil alerts close --except` can add exceptions to a rule without editing it). A name that is
// no list is an error at the rule's exceptions_from line. ls may be nil (no lists).
func (ls *ExceptionLists) Apply(rs []*Rule) error {
	var errs []error
	for _, r := range rs {
		r.lists, r.listsApplied = nil, true
		for _, name := range r.ExceptionsFrom {
			if l := ls.List(name); l != nil {
				r.lists = append(r.lists, l)
				continue
			}
			errs = append(errs, &Error{Pos: Position{File: r.Source.File, Line: r.line("exceptions_from")}, RuleID: r.ID,
				Msg: fmt.Sprintf("exceptions_from: unknown exception list %q", name)})
		}
		if l := ls.List(r.ID); l != nil && r.Correlation == nil && !slices.Contains(r.lists, l) {
			r.lists = append(r.lists, l)
		}
	}
	return errors.Join(errs...)
}

// Lists returns the exception lists the rule uses (after ExceptionLists.Apply).
func (r *Rule) Lists() []*ExceptionList { return r.lists }

// listExceptions are the compiled entries of the rule's lists. A rule that names lists needs them applied first.
func (r *Rule) listExceptions() ([]exception, error) {
	if len(r.ExceptionsFrom) > 0 && !r.listsApplied {
		return nil, &Error{Pos: Position{File: r.Source.File, Line: r.line("exceptions_from")}, RuleID: r.ID,
			Msg: "exceptions_from: no exception lists were loaded"}
	}
	var out []exception
	for _, l := range r.lists {
		for _, x := range l.Entries {
			if x.prg != nil { // an entry that does not compile is reported by CompileExceptions
				out = append(out, exception{prg: x.prg, tenants: l.tenants})
			}
		}
	}
	return out, nil
}

// LoadExceptionLists loads and compiles the exception lists under paths; with paths nil, under
// DefaultExceptionPaths(rulePaths...).
func (e *Env) LoadExceptionLists(rulePaths, paths []string) (*ExceptionLists, error) {
	if paths == nil {
		paths = DefaultExceptionPaths(rulePaths...)
	}
	ls, err := LoadExceptions(paths...)
	if err != nil {
		return nil, err
	}
	return ls, e.CompileExceptions(ls)
}

// LoadSetWith loads the rules under rulePaths and the exception lists under exceptionPaths (nil: the default
// folders beside the rules), and compiles them into one set. Any error leaves the set nil.
func (e *Env) LoadSetWith(rulePaths, exceptionPaths []string) (*RuleSet, error) {
	rs, err := Load(rulePaths...)
	if err != nil {
		return nil, err
	}
	ls, err := e.LoadExceptionLists(rulePaths, exceptionPaths)
	if err != nil {
		return nil, err
	}
	if err := ls.Apply(rs); err != nil {
		return nil, err
	}
	return e.CompileSet(rs)
}

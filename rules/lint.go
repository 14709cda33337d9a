package rules

import (
	"fmt"
	"sort"
	"strings"
)

// Warning is something about a rule that loads but probably does not work as meant: a field that no known schema
// has (a misspelt field never matches, so the rule never fires), an ATT&CK id Vigil does not know. Warnings never
// stop a rule from loading; `vigil rules validate --strict` treats them as errors.
type Warning struct {
	Pos    Position
	RuleID string
	Msg    string
}

// String renders the warning as `vigil rules validate` prints it: "file:line:col: warning: rule ID: message".
func (w *Warning) String() string {
	return fmt.Sprintf("%s: warning: rule %s: %s", w.Pos, w.RuleID, w.Msg)
}

// Err is the warning as an error, for --strict.
func (w *Warning) Err() *Error { return &Error{Pos: w.Pos, RuleID: w.RuleID, Msg: w.Msg} }

// Lint checks enabled rules for what loads but probably does not work as meant, and returns the warnings in the
// order of their places in the files. It is for `vigil rules validate` and `vigil rules test`, not for loading: it parses the
// expressions again, and a rule whose expressions do not parse is skipped (Compile reports it).
//
// A field a condition or an exception reads is known when schema has it, or when one of the rule's own test
// events has it (the events show what the rule's log source sends). A correlation's group-by fields and
// condition.field are checked the same way, against its test events, for the single-event rules it reads.
// Disabled rules are not checked: the Sigma converter disables on purpose the rules of log sources it cannot map.
func (e *Env) Lint(rules []*Rule, schema *Schema) []*Warning {
	isCorrelation := make(map[string]bool, len(rules))
	for _, r := range rules {
		isCorrelation[r.ID] = r.Correlation != nil
	}
	var out []*Warning
	for _, r := range rules {
		if !r.IsEnabled() {
			continue
		}
		out = append(out, r.lintAttack()...)
		local := testEventFields(r)
		if r.Correlation == nil {
			out = append(out, e.lintExpr(r, "condition", r.Condition, schema, local)...)
			for i, x := range r.Exceptions {
				out = append(out, e.lintExpr(r, fmt.Sprint("exceptions.", i), x, schema, local)...)
			}
		} else {
			out = append(out, r.lintCorrelation(isCorrelation, schema, local)...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return out
}

func (r *Rule) lintAttack() []*Warning {
	var out []*Warning
	for i, m := range r.MitreAttack {
		for _, p := range checkAttack(m) {
			out = append(out, r.warn(fmt.Sprintf("mitre_attack.%d.%s", i, p.key), "mitre_attack", "mitre_attack: "+p.msg))
		}
	}
	return out
}

// lintExpr warns about the fields the expression at key reads that are in neither schema nor local.
func (e *Env) lintExpr(r *Rule, key, text string, schema *Schema, local map[string]bool) []*Warning {
	parsed, iss := e.base.Parse(text)
	if iss.Err() != nil {
		return nil
	}
	info := parsed.NativeRep().SourceInfo()
	var out []*Warning
	for _, ref := range e.fieldRefs(parsed.NativeRep().Expr()) {
		if schema.Known(ref.path) || local[ref.path] {
			continue
		}
		w := &Warning{Pos: Position{File: r.Source.File, Line: r.line(strings.Split(key, ".")[0])}, RuleID: r.ID,
			Msg: unknownField(ref.path, schema, local)}
		if loc, ok := r.exprs[key]; ok {
			at := info.GetStartLocation(ref.id)
			w.Pos.Line, w.Pos.Col = loc.at(text, at.Line(), at.Column()+1)
		}
		out = append(out, w)
	}
	return out
}

func unknownField(path string, schema *Schema, local map[string]bool) string {
	msg := fmt.Sprintf("field %q is in no known schema", path)
	if s := schema.Suggest(path, local); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg
}

// lintCorrelation warns about the group-by fields and condition.field of a correlation that no known schema has,
// in the matches of the single-event rules it reads (the matches of a correlation carry its group-by names, which
// the set checks).
func (r *Rule) lintCorrelation(isCorrelation map[string]bool, schema *Schema, local map[string]bool) []*Warning {
	c := r.Correlation
	var out []*Warning
	seen := map[string]bool{}
	check := func(field, key string) {
		if seen[field] || schema.Known(field) || local[field] {
			return
		}
		seen[field] = true
		out = append(out, r.warn(key, "correlation", "correlation: "+unknownField(field, schema, local)))
	}
	for i, name := range c.GroupBy {
		for _, id := range c.Inputs() {
			if isCorrelation[id] {
				continue
			}
			key := fmt.Sprint("correlation.group_by.", i)
			if _, aliased := c.Aliases[name][id]; aliased {
				key = "correlation.aliases." + name + "." + id
			}
			check(c.Field(name, id), key)
		}
	}
	if f := c.Condition.Field; f != "" {
		check(f, "correlation.condition.field")
	}
	return out
}

// warn makes a warning at the value located under key, or at the line of the rule's top-level key.
func (r *Rule) warn(key, topKey, msg string) *Warning {
	w := &Warning{Pos: Position{File: r.Source.File, Line: r.line(topKey)}, RuleID: r.ID, Msg: msg}
	if loc, ok := r.exprs[key]; ok {
		w.Pos.Line, w.Pos.Col = loc.line, loc.col
	}
	return w
}

// testEventFields returns every field of the rule's test events, and every object above one, as paths: dotted keys
// are nested paths, as the decoder reads them, and the objects in a list are walked as if the list were not there.
func testEventFields(r *Rule) map[string]bool {
	out := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				for q := p; q != prefix && !out[q]; {
					out[q] = true
					i := strings.LastIndexByte(q, '.')
					if i < 0 {
						break
					}
					q = q[:i]
				}
				walk(p, child)
			}
		case []any:
			for _, el := range x {
				walk(prefix, el)
			}
		}
	}
	for _, t := range r.Tests {
		walk("", t.Event)
		for _, ev := range t.Events {
			walk("", ev)
		}
	}
	delete(out, "_tenant")
	return out
}

package sigma

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vigilsoc/vigil/rules"
)

// Converter turns Sigma rules into Vigil rules. It is safe for concurrent use once built.
type Converter struct {
	// Profile maps log sources and field names (required).
	Profile *Profile
	// Placeholders supplies the values of %name% placeholders (the expand modifier); a placeholder without values
	// makes its rule unsupported, as the Sigma specification requires.
	Placeholders map[string][]string
	// Env, when set, compiles every converted rule, so a result is known to load.
	Env *rules.Env
	// EnableUnguarded keeps rules enabled whose log source the profile does not map. By default they are converted
	// disabled: without a guard, a rule for (say) Cisco logs would run on every event, and a negated selection or a
	// keyword search in it would fire on unrelated events.
	EnableUnguarded bool
	// Filters are Sigma filters (ParseFilters): each rule they apply to names their exception list in
	// exceptions_from, and FilterLists returns the lists once the rules are converted.
	Filters []*Filter

	filters filterState
}

// Result is one converted rule.
type Result struct {
	Source *Rule
	// Rule is the generated rule file as rules.Parse reads it: exactly what `vigil rules validate` accepts.
	Rule *rules.Rule
	// Compiled is set when the Converter has an Env.
	Compiled *rules.Compiled
	// YAML is the rule file.
	YAML []byte
	// Notes are what a reviewer should know about the conversion, such as a log source the profile does not map.
	Notes []Note
	// Unguarded says the profile does not map the rule's log source, so its condition has no guard.
	Unguarded bool
}

// Note is something a reviewer should know about one converted rule.
type Note struct {
	// Reason is the kind of note, the same text for every rule it concerns, so that a run's notes can be counted
	// by it: "log source not mapped by the profile: converted without a guard, disabled".
	Reason string
	// Subject is what the note is about in this rule: the log source, the rule it reads, the alias.
	Subject string
	// Text is the whole note, as one sentence.
	Text string
}

func (n Note) String() string { return n.Text }

// Convert converts one rule. A construct it cannot express is an *UnsupportedError. A correlation rule names other
// rules, which Convert does not know: convert it with them through ConvertAll.
func (c *Converter) Convert(r *Rule) (*Result, error) {
	if r.Correlation != nil {
		results, errs := c.ConvertAll([]*Rule{r})
		if len(errs) > 0 {
			return nil, errs[0]
		}
		return results[0], nil
	}
	res := &Result{Source: r}
	cond, guarded, err := c.condition(r)
	if err != nil {
		return nil, r.unsupported(err)
	}
	if !guarded {
		res.Unguarded = true
		what := "converted without a guard"
		if !c.EnableUnguarded {
			what += ", disabled"
		}
		res.Notes = append(res.Notes, Note{
			Reason:  fmt.Sprintf("log source not mapped by profile %s: %s", c.Profile.Name, what),
			Subject: r.Logsource.String(),
			Text:    fmt.Sprintf("log source %s is not mapped by profile %s: %s", r.Logsource, c.Profile.Name, what),
		})
	}
	vr := header(r)
	vr.Condition = cond
	var notes []Note
	if vr.ExceptionsFrom, notes, err = c.filterExceptions(r); err != nil {
		return nil, r.unsupported(err)
	}
	res.Notes = append(res.Notes, notes...)
	if res.Unguarded && !c.EnableUnguarded {
		vr.Enabled = new(false)
	}
	if res.Unguarded {
		vr.Tags = append(vr.Tags, "sigma.unguarded")
	}
	if err := c.finish(res, vr); err != nil {
		return nil, r.unsupported(err)
	}
	return res, nil
}

// unsupported makes err an *UnsupportedError of rule r, at the rule's line unless err says where.
func (r *Rule) unsupported(err error) *UnsupportedError {
	var ue *UnsupportedError
	if !errors.As(err, &ue) {
		ue = &UnsupportedError{Reason: "invalid rule", Detail: err.Error()}
	}
	ue.File, ue.RuleID = r.File, r.ID
	if ue.Line == 0 {
		ue.Line = r.Line
	}
	return ue
}

// header is the Vigil rule's metadata, from the Sigma rule's; deprecated and unsupported rules are disabled.
func header(r *Rule) *rules.Rule {
	vr := &rules.Rule{
		ID:             ruleID(r),
		Name:           strings.TrimSpace(r.Title),
		Description:    strings.TrimSpace(r.Description),
		Author:         strings.TrimSpace(r.Author),
		Severity:       severity(r.Level),
		Tags:           ruleTags(r),
		References:     r.References,
		FalsePositives: r.FalsePositives,
		MitreAttack:    mitreAttack(r.Tags),
	}
	if s := strings.ToLower(r.Status); s == "deprecated" || s == "unsupported" {
		vr.Enabled = new(false)
	}
	return vr
}

// finish writes the rule file of vr into res, reads it back as `vigil rules validate` would, and compiles it when
// the converter has an Env.
func (c *Converter) finish(res *Result, vr *rules.Rule) error {
	var err error
	if res.YAML, err = c.encode(res.Source, vr); err != nil {
		return err
	}
	parsed, err := rules.Parse(res.Source.File, res.YAML)
	if err != nil || len(parsed) != 1 {
		return &UnsupportedError{Reason: "generated rule invalid", Detail: fmt.Sprint(err)}
	}
	res.Rule = parsed[0]
	if c.Env != nil && len(res.Rule.ExceptionsFrom) > 0 {
		if res.Compiled, err = c.compileWithFilters(res.Rule); err != nil {
			return &UnsupportedError{Reason: "generated rule does not compile", Detail: err.Error()}
		}
	} else if c.Env != nil {
		if res.Compiled, err = c.Env.Compile(res.Rule); err != nil {
			return &UnsupportedError{Reason: "generated rule does not compile", Detail: err.Error()}
		}
	}
	return nil
}

// condition is the rule's CEL condition: the log source guard and the detection. When the profile maps the log
// source in several ways with different field names, each way gets its own detection. guarded is false when the
// profile does not map the log source.
func (c *Converter) condition(r *Rule) (cond string, guarded bool, err error) {
	alts := c.Profile.match(r.Logsource)
	if len(alts) == 0 {
		det, err := c.detection(r, nil)
		if err != nil {
			return "", false, err
		}
		return layout(det), false, nil
	}
	var guards orNode
	var dets []node
	same := true
	for _, l := range alts {
		det, err := c.detection(r, l)
		if err != nil {
			return "", false, err
		}
		guards = append(guards, l.guard())
		dets = append(dets, det)
		same = same && emit(det, false) == emit(dets[0], false)
	}
	if same {
		return layout(flatten(andNode{guards, dets[0]})), true, nil
	}
	var out orNode
	for i := range alts {
		out = append(out, flatten(andNode{guards[i], dets[i]}))
	}
	return layout(out), true, nil
}

// detection builds the detection of r with the field names of mapping l.
func (c *Converter) detection(r *Rule, l *LogsourceMapping) (node, error) {
	ic := &itemCompiler{
		fields:       func(name string) []fieldPath { return c.Profile.fields(l, r.Logsource, name) },
		placeholders: c.Placeholders,
	}
	searches := map[string]node{}
	var conds orNode
	for _, text := range r.Detection.Conditions {
		cn, err := parseCondition(text, &r.Detection)
		if err != nil {
			var ce *errCondition
			if errors.As(err, &ce) {
				return nil, &UnsupportedError{Reason: ce.reason, Detail: ce.detail}
			}
			return nil, err
		}
		n, err := c.resolve(cn, r, ic, searches)
		if err != nil {
			return nil, err
		}
		conds = append(conds, n)
	}
	return flatten(conds), nil
}

func (c *Converter) resolve(cn condNode, r *Rule, ic *itemCompiler, searches map[string]node) (node, error) {
	var kids []condNode
	switch x := cn.(type) {
	case condSearch:
		if n, ok := searches[string(x)]; ok {
			return n, nil
		}
		n, err := search(r.Detection.Searches[string(x)], ic)
		if err != nil {
			return nil, err
		}
		searches[string(x)] = n
		return n, nil
	case condNot:
		n, err := c.resolve(x.x, r, ic, searches)
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	case condAnd:
		kids = x
	case condOr:
		kids = x
	}
	var out []node
	for _, k := range kids {
		n, err := c.resolve(k, r, ic, searches)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if _, ok := cn.(condAnd); ok {
		return andNode(out), nil
	}
	return orNode(out), nil
}

// search builds one search: an OR of terms, each an AND of items.
func search(s *Search, ic *itemCompiler) (node, error) {
	var terms orNode
	for _, term := range s.Terms {
		if len(term) == 0 {
			return nil, &UnsupportedError{Line: s.Line, Reason: "invalid rule", Detail: fmt.Sprintf("search %s has an empty mapping", s.Name)}
		}
		var items andNode
		for _, item := range term {
			n, err := ic.compile(item)
			if err != nil {
				var ue *UnsupportedError
				if errors.As(err, &ue) {
					ue.Line = item.Line
					ue.Detail = fmt.Sprintf("%s: %s: %s", s.Name, itemKey(item), ue.Detail)
				}
				return nil, err
			}
			items = append(items, n)
		}
		terms = append(terms, items)
	}
	return flatten(terms), nil
}

func itemKey(item *FieldItem) string {
	return strings.Join(append([]string{item.Field}, item.Modifiers...), "|")
}

package sigma

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vigilsoc/vigil/rules"
)

// ConvertAll converts rules read together, from one file or many. Detection rules convert as Convert does. A
// correlation rule's references (in rules and in aliases, each a Sigma id or name) are resolved among all of rs, and
// it becomes a Vigil correlation over the Vigil ids of the rules it names, with its field names mapped by the
// profile as those rules' fields are. A correlation that names no rule of rs, several, or one that did not convert
// is an *UnsupportedError; the other rules convert regardless. Results and errors keep the order of rs.
func (c *Converter) ConvertAll(rs []*Rule) ([]*Result, []error) {
	b := &batch{conv: c, index: newRuleIndex(rs), done: map[*Rule]*outcome{}, open: map[*Rule]bool{}}
	for _, r := range rs {
		b.convert(r)
	}
	b.silenceInputs(rs)
	var results []*Result
	var errs []error
	for _, r := range rs {
		if o := b.done[r]; o.err != nil {
			errs = append(errs, o.err)
		} else {
			results = append(results, o.res)
		}
	}
	return results, errs
}

// silenceInputs writes `alert: false` on the rules that converted correlations name, unless one of those
// correlations says generate: true. In Sigma the rules a correlation names are not queries of their own; Vigil
// already treats them so while an enabled correlation names them, and the rule file says it too, so that they stay
// silent while the correlation is disabled (deprecated, or reading a disabled rule) or not loaded.
func (b *batch) silenceInputs(rs []*Rule) {
	named, generated := map[*Rule]bool{}, map[*Rule]bool{}
	for _, r := range rs {
		if o := b.done[r]; o.err == nil && r.Correlation != nil {
			for _, in := range o.inputs {
				named[in] = true
				generated[in] = generated[in] || r.Correlation.Generate
			}
		}
	}
	for _, r := range rs {
		if !named[r] || generated[r] {
			continue
		}
		o := b.done[r]
		vr := *o.res.Rule
		vr.Alert = new(false)
		if err := b.conv.finish(o.res, &vr); err != nil {
			o.res, o.err = nil, r.unsupported(err)
		}
	}
}

// batch is one ConvertAll: every rule is converted once, a correlation after the rules it names.
type batch struct {
	conv  *Converter
	index ruleIndex
	done  map[*Rule]*outcome
	// open are the correlations being converted: naming one of them again is a cycle.
	open map[*Rule]bool
}

type outcome struct {
	res *Result
	err *UnsupportedError
	// inputs are the rules a converted correlation names.
	inputs []*Rule
}

func (b *batch) convert(r *Rule) *outcome {
	if o := b.done[r]; o != nil {
		return o
	}
	o := &outcome{}
	if r.Correlation == nil {
		var err error
		if o.res, err = b.conv.Convert(r); err != nil {
			o.err = r.unsupported(err)
		}
	} else {
		b.open[r] = true
		o.res, o.inputs, o.err = b.correlation(r)
		delete(b.open, r)
	}
	b.done[r] = o
	return o
}

// ruleIndex finds rules by Sigma id (in any case) and by name.
type ruleIndex struct{ byID, byName map[string][]*Rule }

func newRuleIndex(rs []*Rule) ruleIndex {
	x := ruleIndex{byID: map[string][]*Rule{}, byName: map[string][]*Rule{}}
	for _, r := range rs {
		if id := strings.ToLower(strings.TrimSpace(r.ID)); id != "" {
			x.byID[id] = append(x.byID[id], r)
		}
		if name := strings.TrimSpace(r.Name); name != "" {
			x.byName[name] = append(x.byName[name], r)
		}
	}
	return x
}

// resolve finds the rule ref names for the correlation rule from. The specification makes names unique per
// correlation, not globally: when several files define a name, the one in from's own file is meant.
func (x ruleIndex) resolve(from *Rule, ref Ref) (*Rule, *UnsupportedError) {
	found := x.byID[strings.ToLower(strings.TrimSpace(ref.Name))]
	if len(found) == 0 {
		found = x.byName[strings.TrimSpace(ref.Name)]
	}
	if len(found) > 1 {
		local := slices.DeleteFunc(slices.Clone(found), func(r *Rule) bool { return r.File != from.File })
		if len(local) == 1 {
			found = local
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, &UnsupportedError{File: from.File, Line: ref.Line, RuleID: from.ID, Reason: "unknown rule",
			Detail: fmt.Sprintf("correlation names %q: no rule converted with it has that id or name", ref.Name)}
	}
	var where []string
	for _, r := range found {
		where = append(where, fmt.Sprintf("%s:%d", r.File, r.Line))
	}
	return nil, &UnsupportedError{File: from.File, Line: ref.Line, RuleID: from.ID, Reason: "ambiguous rule",
		Detail: fmt.Sprintf("correlation names %q, the id or name of %d rules (%s)", ref.Name, len(found), strings.Join(where, ", "))}
}

// input is a rule a correlation reads, with its conversion.
type input struct {
	rule *Rule
	res  *Result
}

// correlation converts the correlation rule r after the rules it names.
func (b *batch) correlation(r *Rule) (*Result, []*Rule, *UnsupportedError) {
	sc := r.Correlation
	fail := func(line int, reason, format string, args ...any) *UnsupportedError {
		return &UnsupportedError{File: r.File, Line: line, RuleID: r.ID, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	var ins []input
	for _, ref := range sc.Rules {
		t, err := b.index.resolve(r, ref)
		switch {
		case err != nil:
			return nil, nil, err
		case b.open[t]:
			return nil, nil, fail(ref.Line, "invalid correlation", "%q: correlations name each other in a cycle", ref.Name)
		case slices.ContainsFunc(ins, func(in input) bool { return in.rule == t }):
			return nil, nil, fail(ref.Line, "invalid correlation", "%q names a rule the correlation already names", ref.Name)
		}
		o := b.convert(t)
		if o.err != nil {
			return nil, nil, fail(ref.Line, "correlation input unsupported", "%q (%s:%d) was not converted: %s", ref.Name, t.File, t.Line, o.err.Reason)
		}
		ins = append(ins, input{t, o.res})
	}
	res := &Result{Source: r}
	vc := &rules.Correlation{Type: sc.Type, Timespan: sc.Timespan, Condition: sc.Condition, Generate: sc.Generate}
	for _, in := range ins {
		vc.Rules = append(vc.Rules, in.res.Rule.ID)
	}
	aliases, err := b.aliases(r, ins, res)
	if err != nil {
		return nil, nil, err
	}
	if err := b.conv.groupBy(vc, sc.GroupBy, aliases, ins); err != nil {
		return nil, nil, fail(sc.Line, err.Reason, "%s", err.Detail)
	}
	if err := b.conv.conditionField(vc, sc.Fields, ins); err != nil {
		return nil, nil, fail(sc.Line, err.Reason, "%s", err.Detail)
	}
	vr := header(r)
	vr.Correlation = vc
	for _, in := range ins {
		if !in.res.Rule.IsEnabled() && vr.IsEnabled() {
			vr.Enabled = new(false)
			res.Notes = append(res.Notes, Note{Reason: "reads a rule converted disabled: converted disabled",
				Subject: in.res.Rule.ID,
				Text:    fmt.Sprintf("it reads %s, which is converted disabled: converted disabled", in.res.Rule.ID)})
		}
	}
	if err := b.conv.finish(res, vr); err != nil {
		return nil, nil, r.unsupported(err)
	}
	var inputs []*Rule
	for _, in := range ins {
		inputs = append(inputs, in.rule)
	}
	return res, inputs, nil
}

// aliases resolves the rules of r's aliases among its inputs: alias name -> input index -> Sigma field. An alias
// that group-by does not use is dropped with a note (Vigil rejects it; Sigma gives it no meaning).
func (b *batch) aliases(r *Rule, ins []input, res *Result) (map[string]map[int]string, *UnsupportedError) {
	out := map[string]map[int]string{}
	for _, a := range r.Correlation.Aliases {
		byInput := map[int]string{}
		for _, af := range a.Fields {
			t, err := b.index.resolve(r, af.Rule)
			if err != nil {
				return nil, err
			}
			i := slices.IndexFunc(ins, func(in input) bool { return in.rule == t })
			if i < 0 {
				return nil, &UnsupportedError{File: r.File, Line: af.Rule.Line, RuleID: r.ID, Reason: "invalid correlation",
					Detail: fmt.Sprintf("alias %s: %q is not one of the rules the correlation names", a.Name, af.Rule.Name)}
			}
			byInput[i] = af.Field
		}
		if !slices.Contains(r.Correlation.GroupBy, a.Name) {
			res.Notes = append(res.Notes, Note{Reason: "alias not used in group-by: dropped", Subject: a.Name,
				Text: fmt.Sprintf("alias %s is not used in group-by: dropped", a.Name)})
			continue
		}
		out[a.Name] = byInput
	}
	return out, nil
}

// groupBy maps Sigma's group-by into vc. A name that every input maps to the same field becomes that field; an
// alias, or a name the inputs map to different fields, stays a name with a Vigil alias giving each input's field.
func (c *Converter) groupBy(vc *rules.Correlation, groupBy []string, aliases map[string]map[int]string, ins []input) *UnsupportedError {
	for _, g := range groupBy {
		byInput, isAlias := aliases[g]
		mapped := make([]string, len(ins))
		for i, in := range ins {
			name := g
			if f, ok := byInput[i]; ok {
				name = f
			}
			f, err := c.inputField(in, name)
			if err != nil {
				return err
			}
			mapped[i] = f
		}
		if !isAlias && !slices.ContainsFunc(mapped, func(f string) bool { return f != mapped[0] }) {
			vc.GroupBy = append(vc.GroupBy, mapped[0])
			continue
		}
		vc.GroupBy = append(vc.GroupBy, g)
		if vc.Aliases == nil {
			vc.Aliases = map[string]map[string]string{}
		}
		vc.Aliases[g] = map[string]string{}
		for i, in := range ins {
			vc.Aliases[g][in.res.Rule.ID] = mapped[i]
		}
	}
	return nil
}

// conditionField maps condition.field, which Vigil reads under one name in the matches of every input.
func (c *Converter) conditionField(vc *rules.Correlation, fields []string, ins []input) *UnsupportedError {
	switch {
	case len(fields) == 0:
		return nil
	case len(fields) > 1:
		return &UnsupportedError{Reason: "condition field list",
			Detail: fmt.Sprintf("condition.field names %d fields (%s); Vigil reads one", len(fields), strings.Join(fields, ", "))}
	}
	for i, in := range ins {
		f, err := c.inputField(in, fields[0])
		if err != nil {
			return err
		}
		if i > 0 && f != vc.Condition.Field {
			return &UnsupportedError{Reason: "ambiguous field", Detail: fmt.Sprintf("condition.field %s is %s in the events of %s and %s in those of %s",
				fields[0], vc.Condition.Field, ins[0].res.Rule.ID, f, in.res.Rule.ID)}
		}
		vc.Condition.Field = f
	}
	return nil
}

// inputField maps a Sigma field name for the matches of one input: through the profile, as the input's detection
// maps it (every log source mapping of the rule must agree), or, for a correlation, to its Vigil group-by name,
// since a correlation's matches carry only its group-by fields.
func (c *Converter) inputField(in input, name string) (string, *UnsupportedError) {
	if sc := in.rule.Correlation; sc != nil {
		i := slices.Index(sc.GroupBy, name)
		if i < 0 {
			return "", &UnsupportedError{Reason: "invalid correlation", Detail: fmt.Sprintf(
				"%s is a correlation grouped by %s: its matches carry no field %s", in.res.Rule.ID, strings.Join(sc.GroupBy, ", "), name)}
		}
		return in.res.Rule.Correlation.GroupBy[i], nil
	}
	alts := c.Profile.match(in.rule.Logsource)
	if len(alts) == 0 {
		alts = []*LogsourceMapping{nil}
	}
	var fields []string
	for _, l := range alts {
		if f := strings.Join(c.Profile.field(l, in.rule.Logsource, name), "."); !slices.Contains(fields, f) {
			fields = append(fields, f)
		}
	}
	if len(fields) > 1 {
		return "", &UnsupportedError{Reason: "ambiguous field", Detail: fmt.Sprintf(
			"profile %s maps %s to %s in the events of %s (log source %s)", c.Profile.Name, name,
			strings.Join(fields, " or "), in.res.Rule.ID, in.rule.Logsource)}
	}
	return fields[0], nil
}

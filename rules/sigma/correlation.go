package sigma

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsoc/vigil/rules"
)

// Correlation is the correlation section of a Sigma correlation rule (Sigma correlation specification v2.1) as
// written: the names in Rules and Aliases are resolved, and the field names mapped, when the rule is converted.
type Correlation struct {
	// Type is one of sigmaCorrelationTypes.
	Type string
	// Rules are the rules whose matches are correlated, each by Sigma id or name.
	Rules []Ref
	// GroupBy are Sigma field names or alias names.
	GroupBy  []string
	Timespan string
	// Condition holds the bounds; its Field is empty, condition.field is in Fields.
	Condition rules.CorrelationCondition
	// Fields is condition.field: Sigma allows a list, Vigil reads one field.
	Fields  []string
	Aliases []Alias
	// Generate is the rule's generate (or, as pySigma reads it, correlation.generate).
	Generate bool
	// Line is where the correlation section starts.
	Line int
}

// Ref names another rule by Sigma id or name, at the line where it is written.
type Ref struct {
	Name string
	Line int
}

// Alias gives, for the group-by name Name, the field that stands for it in the events of each rule.
type Alias struct {
	Name   string
	Line   int
	Fields []AliasField
}

// AliasField is one rule's field for an alias.
type AliasField struct {
	Rule  Ref
	Field string
}

// sigmaCorrelationTypes are the types of the Sigma specification; Vigil's absence is not among them.
var sigmaCorrelationTypes = []string{rules.EventCount, rules.ValueCount, rules.Temporal, rules.TemporalOrdered,
	rules.ValueSum, rules.ValueAvg, rules.ValuePercentile}

// parseCorrelation reads the correlation section n, whose key is at line. generate is the rule's top-level generate.
func parseCorrelation(n *yaml.Node, line int, generate bool) (*Correlation, *UnsupportedError) {
	if n.Kind != yaml.MappingNode {
		return nil, &UnsupportedError{Line: line, Reason: "invalid correlation", Detail: "correlation must be a mapping"}
	}
	c := &Correlation{Line: line, Generate: generate}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := c.set(k.Value, v); err != nil {
			return nil, &UnsupportedError{Line: k.Line, Reason: "invalid correlation", Detail: fmt.Sprintf("%s: %v", k.Value, err)}
		}
	}
	if err := c.check(); err != nil {
		return nil, &UnsupportedError{Line: line, Reason: "invalid correlation", Detail: err.Error()}
	}
	return c, nil
}

// set reads one key of the correlation section.
func (c *Correlation) set(key string, v *yaml.Node) error {
	switch key {
	case "type":
		return v.Decode(&c.Type)
	case "rules":
		if v.Kind == yaml.ScalarNode {
			c.Rules = []Ref{{v.Value, v.Line}}
			return nil
		}
		if v.Kind != yaml.SequenceNode {
			return fmt.Errorf("want a list of rule ids or names")
		}
		for _, r := range v.Content {
			if r.Kind != yaml.ScalarNode || r.Value == "" {
				return fmt.Errorf("line %d: want a rule id or name", r.Line)
			}
			c.Rules = append(c.Rules, Ref{r.Value, r.Line})
		}
	case "group-by":
		return (*stringList)(&c.GroupBy).UnmarshalYAML(v)
	case "timespan":
		return v.Decode(&c.Timespan)
	case "condition":
		return c.setCondition(v)
	case "aliases":
		return c.setAliases(v)
	case "generate":
		var g bool
		if err := v.Decode(&g); err != nil {
			return err
		}
		c.Generate = c.Generate || g
	default:
		return fmt.Errorf("unknown key (want type, rules, group-by, timespan, condition, aliases)")
	}
	return nil
}

func (c *Correlation) setCondition(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		// pySigma's extended conditions (`condition: a and not b`) are not in the specification.
		return fmt.Errorf("want a mapping of gt, gte, lt, lte, eq, neq and field")
	}
	bounds := map[string]**float64{"gt": &c.Condition.GT, "gte": &c.Condition.GTE, "lt": &c.Condition.LT,
		"lte": &c.Condition.LTE, "eq": &c.Condition.EQ, "neq": &c.Condition.NEQ}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, x := v.Content[i], v.Content[i+1]
		if k.Value == "field" {
			if err := (*stringList)(&c.Fields).UnmarshalYAML(x); err != nil {
				return err
			}
			continue
		}
		b, ok := bounds[k.Value]
		if !ok {
			return fmt.Errorf("line %d: unknown key %q (want gt, gte, lt, lte, eq, neq, field)", k.Line, k.Value)
		}
		var f float64
		if x.Kind != yaml.ScalarNode || (x.Tag != "!!int" && x.Tag != "!!float") || x.Decode(&f) != nil {
			return fmt.Errorf("line %d: %s: want a number, got %q", x.Line, k.Value, x.Value)
		}
		*b = &f
	}
	return nil
}

func (c *Correlation) setAliases(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return fmt.Errorf("want a mapping of alias names to {rule: field}")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, m := v.Content[i], v.Content[i+1]
		if m.Kind != yaml.MappingNode {
			return fmt.Errorf("line %d: alias %s: want a mapping of rule names to fields", m.Line, k.Value)
		}
		a := Alias{Name: k.Value, Line: k.Line}
		for j := 0; j+1 < len(m.Content); j += 2 {
			r, f := m.Content[j], m.Content[j+1]
			if f.Kind != yaml.ScalarNode || f.Value == "" {
				return fmt.Errorf("line %d: alias %s: rule %s: want a field name", f.Line, k.Value, r.Value)
			}
			a.Fields = append(a.Fields, AliasField{Ref{r.Value, r.Line}, f.Value})
		}
		c.Aliases = append(c.Aliases, a)
	}
	return nil
}

// check applies the specification's requirements: what each type needs.
func (c *Correlation) check() error {
	switch {
	case c.Type == "":
		return fmt.Errorf("type: missing")
	case c.Type == rules.Absence:
		return fmt.Errorf("type absence is Vigil's own, not Sigma's: write it as a Vigil rule")
	case !slices.Contains(sigmaCorrelationTypes, c.Type):
		return fmt.Errorf("type %q must be one of %s", c.Type, strings.Join(sigmaCorrelationTypes, ", "))
	case len(c.Rules) == 0:
		return fmt.Errorf("rules: missing: the ids or names of the rules whose matches it correlates")
	case c.Timespan == "":
		return fmt.Errorf("timespan: missing")
	}
	if _, err := rules.ParseTimespan(c.Timespan); err != nil {
		return err
	}
	temporal := c.Type == rules.Temporal || c.Type == rules.TemporalOrdered
	valued := c.Type != rules.EventCount && !temporal
	switch {
	case !temporal && c.Condition.String() == "":
		return fmt.Errorf("%s needs a condition: one or more of gt, gte, lt, lte, eq, neq", c.Type)
	case valued && len(c.Fields) == 0:
		return fmt.Errorf("%s needs condition.field: the field whose values it reads", c.Type)
	case !valued && len(c.Fields) > 0:
		return fmt.Errorf("condition.field is for value_count, value_sum, value_avg and value_percentile")
	}
	return nil
}

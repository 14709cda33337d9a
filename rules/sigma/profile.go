package sigma

import (
	"embed"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed profiles/*.yml
var builtinProfiles embed.FS

// Profile maps Sigma's log sources and field names to the events Vigil receives. It is YAML (the built-in profiles
// are in rules/sigma/profiles/; docs/sigma.md describes the format):
//
//	name: my-profile
//	fields: {Image: process.executable}           # Sigma field -> event field; dots are nested objects
//	                                              # or a list: any of these fields (whichever the event has)
//	prefix: {product: windows, value: winlog.event_data.}   # for fields no mapping names (optional)
//	logsources:
//	  - category: process_creation                # matches rules whose log source has these values
//	    product: windows
//	    conditions: {EventID: 1, Channel: Microsoft-Windows-Sysmon/Operational}
//	    fields: {Image: NewProcessName}           # overrides for this log source
type Profile struct {
	Name        string                  `yaml:"name"`
	Description string                  `yaml:"description"`
	Fields      map[string]FieldTargets `yaml:"fields"`
	Prefix      *FieldPrefix            `yaml:"prefix"`
	Logsources  []*LogsourceMapping     `yaml:"logsources"`
}

// FieldPrefix prepends Value to the fields of rules for Product that no mapping names and that have no dot.
type FieldPrefix struct {
	Product string `yaml:"product"`
	Value   string `yaml:"value"`
}

// LogsourceMapping is one way a Sigma log source appears in events: the conditions (the guard) that select its
// events and the field names it uses. Several mappings matching one rule are alternatives.
type LogsourceMapping struct {
	Category   string                  `yaml:"category"`
	Product    string                  `yaml:"product"`
	Service    string                  `yaml:"service"`
	Conditions Conditions              `yaml:"conditions"`
	Fields     map[string]FieldTargets `yaml:"fields"`
}

// FieldTargets are the event fields a Sigma field is mapped to: one, or several where the shipper puts the value in
// one place for some events and in another for others (Winlogbeat moves the Security log's ProcessName to
// process.executable for logons but leaves it in winlog.event_data for object access). A test of the Sigma field
// holds when it holds for any of them; a test for absence (`field: null`, `|exists: false`) when it holds for all.
type FieldTargets []string

// UnmarshalYAML reads a field name or a list of them.
func (f *FieldTargets) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.Value != "":
		*f = FieldTargets{n.Value}
		return nil
	case n.Kind == yaml.SequenceNode && len(n.Content) > 0:
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || c.Value == "" {
				return fmt.Errorf("line %d: a field mapping lists field names", c.Line)
			}
			*f = append(*f, c.Value)
		}
		return nil
	}
	return fmt.Errorf("line %d: a field mapping is a field name or a list of them", n.Line)
}

// Conditions is an ordered set of field: value(s) tests. A list means any of its values.
type Conditions []Condition

// Condition is one guard test: an integer compares exactly, a string of digits as number or text, another string
// ASCII case-insensitively (see LogsourceMapping.guard).
type Condition struct {
	Field  string
	Values []any
}

// UnmarshalYAML keeps the order the profile wrote, so guards read (and evaluate) cheapest first.
func (c *Conditions) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: conditions must be a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		cond := Condition{Field: n.Content[i].Value}
		vals := []*yaml.Node{n.Content[i+1]}
		if n.Content[i+1].Kind == yaml.SequenceNode {
			vals = n.Content[i+1].Content
		}
		for _, v := range vals {
			x, err := scalarValue(v)
			if err != nil || x == nil {
				return fmt.Errorf("line %d: condition %s: want strings or numbers", v.Line, cond.Field)
			}
			cond.Values = append(cond.Values, x)
		}
		*c = append(*c, cond)
	}
	return nil
}

// ProfileNames lists the built-in profiles.
func ProfileNames() []string {
	entries, _ := builtinProfiles.ReadDir("profiles")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yml"))
	}
	sort.Strings(names)
	return names
}

// LoadProfile returns the built-in profile with that name, or reads a profile file.
func LoadProfile(nameOrFile string) (*Profile, error) {
	data, err := builtinProfiles.ReadFile("profiles/" + nameOrFile + ".yml")
	if err != nil {
		if data, err = os.ReadFile(nameOrFile); err != nil {
			return nil, fmt.Errorf("sigma: profile %q is neither built in (%s) nor a readable file: %w",
				nameOrFile, strings.Join(ProfileNames(), ", "), err)
		}
	}
	return ParseProfile(nameOrFile, data)
}

// ParseProfile reads a profile; unknown keys are errors.
func ParseProfile(file string, data []byte) (*Profile, error) {
	var p Profile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("sigma: profile %s: %w", file, err)
	}
	if p.Name == "" {
		p.Name = file
	}
	for i, l := range p.Logsources {
		if l.Category == "" && l.Product == "" && l.Service == "" {
			return nil, fmt.Errorf("sigma: profile %s: log source %d names no category, product or service", file, i+1)
		}
	}
	return &p, nil
}

// match returns the mappings of a rule's log source: those whose every given key equals the rule's.
func (p *Profile) match(ls Logsource) []*LogsourceMapping {
	var out []*LogsourceMapping
	eq := func(want, got string) bool { return want == "" || strings.EqualFold(want, got) }
	for _, l := range p.Logsources {
		if eq(l.Category, ls.Category) && eq(l.Product, ls.Product) && eq(l.Service, ls.Service) {
			out = append(out, l)
		}
	}
	return mergeMappings(out)
}

// mergeMappings joins alternatives that differ only in the values of one condition (Sysmon's registry events 12,
// 13 and 14, say) into one, so the guard reads `EventID in [12, 13, 14]`.
func mergeMappings(ls []*LogsourceMapping) []*LogsourceMapping {
	var out []*LogsourceMapping
	for _, l := range ls {
		merged := false
		for i, o := range out {
			if k := differingCondition(o, l); k >= 0 {
				c := *o
				c.Conditions = slices.Clone(o.Conditions)
				c.Conditions[k].Values = append(slices.Clone(o.Conditions[k].Values), l.Conditions[k].Values...)
				out[i], merged = &c, true
				break
			}
		}
		if !merged {
			out = append(out, l)
		}
	}
	return out
}

// differingCondition is the index of the only condition in which a and b differ, or -1.
func differingCondition(a, b *LogsourceMapping) int {
	if len(a.Conditions) != len(b.Conditions) || fmt.Sprint(a.Fields) != fmt.Sprint(b.Fields) {
		return -1
	}
	k := -1
	for i := range a.Conditions {
		if a.Conditions[i].Field != b.Conditions[i].Field {
			return -1
		}
		if fmt.Sprint(a.Conditions[i].Values) != fmt.Sprint(b.Conditions[i].Values) {
			if k >= 0 {
				return -1
			}
			k = i
		}
	}
	return k
}

// fields maps a Sigma field name for a rule of log source ls under mapping l (nil when the profile has none): the
// event fields that may hold it, in the profile's order.
func (p *Profile) fields(l *LogsourceMapping, ls Logsource, name string) []fieldPath {
	targets, ok := FieldTargets(nil), false
	if l != nil {
		targets, ok = l.Fields[name]
	}
	if !ok {
		targets, ok = p.Fields[name]
	}
	if !ok {
		if p.Prefix != nil && strings.EqualFold(p.Prefix.Product, ls.Product) && !strings.Contains(name, ".") {
			name = p.Prefix.Value + name
		}
		targets = FieldTargets{name}
	}
	paths := make([]fieldPath, len(targets))
	for i, t := range targets {
		paths[i] = splitField(t)
	}
	return paths
}

// field is the first of fields, for the places that read one field (a fieldref's reference, a correlation's).
func (p *Profile) field(l *LogsourceMapping, ls Logsource, name string) fieldPath {
	return p.fields(l, ls, name)[0]
}

// guard is the node selecting the events of mapping l. It is written with == and in on literals, which the engine's
// prefilter index understands (rules/index.go), so a rule is evaluated only on the events of its log source: an
// integer compares exactly (`EventID == 1`), a string of digits as number or text (`winlog.event_id in [1, "1"]`),
// other strings ASCII case-insensitively, trying the profile's spelling first because lowerAscii() allocates
// (`Channel == "Security" || Channel.lowerAscii() == "security"`).
func (l *LogsourceMapping) guard() node {
	var out andNode
	for _, c := range l.Conditions {
		var exact, spelled, folded []any
		for _, v := range c.Values {
			switch x := v.(type) {
			case int64:
				exact = append(exact, x)
			case string:
				if decimal.MatchString(x) {
					n, _ := strconv.ParseInt(x, 10, 64)
					exact = append(exact, n, x)
				} else {
					folded = append(folded, strings.ToLower(x))
					if x != strings.ToLower(x) {
						spelled = append(spelled, x)
					}
				}
			}
		}
		path := splitField(c.Field)
		var alts orNode
		if len(exact)+len(spelled) > 0 {
			alts = append(alts, eqNode{field: path, values: append(exact, spelled...)})
		}
		if len(folded) > 0 {
			alts = append(alts, eqNode{field: path, values: folded, fold: true})
		}
		out = append(out, flatten(alts))
	}
	return flatten(out)
}

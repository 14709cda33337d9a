// Package sigma compiles Sigma detection rules (https://sigmahq.io, specification v2) into Vigil rules with CEL
// conditions, so imported community detections are validated, tested and deployed like any other rule file.
//
// Parse reads Sigma YAML; a Converter with a field-mapping Profile turns each rule into a *rules.Rule whose condition
// is the rule's log source guard (from the profile) and its detection, written with the functions of
// rules.SigmaFunctions. Correlation rules become Vigil correlations (rules.Correlation) over the rules they name:
// Converter.ConvertAll resolves their names across every file converted together. RunRegression replays SigmaHQ's regression events through converted rules, as
// `vigil sigma test` does. Constructs that cannot be converted are reported as *UnsupportedError with a short,
// countable reason. docs/sigma.md describes the mapping for rule authors.
package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Rule is a Sigma rule as written: a detection rule, or a correlation rule when Correlation is set (then Logsource
// and Detection are empty).
type Rule struct {
	File string
	Line int
	ID   string
	// Name is the rule's optional unique name, by which correlation rules may refer to it.
	Name           string
	Title          string
	Status         string
	Description    string
	Author         string
	Level          string
	References     []string
	FalsePositives []string
	Tags           []string
	Logsource      Logsource
	Detection      Detection
	Correlation    *Correlation
	// RegressionTestsPath is the rule's regression_tests_path: an info.yml relative to the repository root.
	RegressionTestsPath string
}

// Logsource selects the events a rule applies to.
type Logsource struct {
	Category string `yaml:"category"`
	Product  string `yaml:"product"`
	Service  string `yaml:"service"`
}

func (l Logsource) String() string {
	var parts []string
	for _, kv := range [][2]string{{"product", l.Product}, {"category", l.Category}, {"service", l.Service}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "(empty)"
	}
	return strings.Join(parts, " ")
}

// Detection holds the named searches and the condition(s) over them; several conditions are alternatives (OR).
type Detection struct {
	Searches   map[string]*Search
	Order      []string
	Conditions []string
}

// Search is one search identifier: alternatives (OR) of terms, each an AND of field items. A map is one term, a list
// of maps is several, and a list of plain values is one keyword item (Field "").
type Search struct {
	Name  string
	Line  int
	Terms [][]*FieldItem
}

// FieldItem is `field|modifier|...: value(s)`. Values are string, int64, bool or nil.
type FieldItem struct {
	Field     string
	Modifiers []string
	Values    []any
	Line      int
}

// UnsupportedError explains why a rule was not converted. Reason is a short category that summaries count
// ("correlation rule", "placeholder", "modifier hour", ...); Detail says where.
type UnsupportedError struct {
	File   string
	Line   int
	RuleID string
	Reason string
	Detail string
}

func (e *UnsupportedError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.RuleID != "" {
		fmt.Fprintf(&b, ": rule %s", e.RuleID)
	}
	fmt.Fprintf(&b, ": %s", e.Reason)
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	return b.String()
}

// ruleHeader is the metadata part of a Sigma rule.
type ruleHeader struct {
	Title               string     `yaml:"title"`
	ID                  string     `yaml:"id"`
	Name                string     `yaml:"name"`
	Status              string     `yaml:"status"`
	Description         string     `yaml:"description"`
	Author              string     `yaml:"author"`
	Level               string     `yaml:"level"`
	References          stringList `yaml:"references"`
	FalsePositives      stringList `yaml:"falsepositives"`
	Tags                stringList `yaml:"tags"`
	Logsource           Logsource  `yaml:"logsource"`
	RegressionTestsPath string     `yaml:"regression_tests_path"`
	Generate            bool       `yaml:"generate"`
}

// stringList accepts a scalar or a list of scalars.
type stringList []string

func (s *stringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!null" {
			*s = []string{n.Value}
		}
		return nil
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: want a list of strings", c.Line)
			}
			*s = append(*s, c.Value)
		}
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

// Parse reads the Sigma rules of one YAML file (one rule, or several separated by `---`): detection rules and
// correlation rules, in any mix and order. A document that is neither (a filter rule, an old multi-document
// collection) or is malformed yields an *UnsupportedError; the other rules are returned alongside.
func Parse(file string, data []byte) ([]*Rule, []error) {
	return parseDocuments(file, data, parseRule)
}

// parseDocuments parses each non-empty YAML document of data with parse, and returns what it parsed and its errors;
// a YAML error ends the file.
func parseDocuments[T any](file string, data []byte, parse func(file string, n *yaml.Node) (T, error)) ([]T, []error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []T
	var errs []error
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, &UnsupportedError{File: file, Reason: "invalid YAML", Detail: err.Error()})
			break
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue
		}
		x, err := parse(file, doc.Content[0])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, x)
	}
	return out, errs
}

func parseRule(file string, n *yaml.Node) (*Rule, error) {
	fail := func(line int, id, reason, format string, args ...any) error {
		return &UnsupportedError{File: file, Line: line, RuleID: id, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	if n.Kind != yaml.MappingNode {
		return nil, fail(n.Line, "", "invalid rule", "a rule must be a mapping")
	}
	var h ruleHeader
	if err := n.Decode(&h); err != nil {
		return nil, fail(n.Line, "", "invalid rule", "%v", err)
	}
	keys := map[string]*yaml.Node{}
	keyLines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys[n.Content[i].Value] = n.Content[i+1]
		keyLines[n.Content[i].Value] = n.Content[i].Line
	}
	switch {
	case keys["filter"] != nil && keys["detection"] == nil:
		return nil, fail(n.Line, h.ID, "filter rule", "a Sigma filter, not a rule: pass its folder with --filters")
	case keys["action"] != nil:
		return nil, fail(n.Line, h.ID, "rule collection", "multi-document collections (action: %s) are not supported", keys["action"].Value)
	case keys["detection"] == nil && keys["correlation"] == nil:
		return nil, fail(n.Line, h.ID, "not a Sigma rule", "no detection, correlation or filter")
	case keys["detection"] != nil && keys["correlation"] != nil:
		return nil, fail(n.Line, h.ID, "invalid rule", "a rule has a detection or a correlation, not both")
	case strings.TrimSpace(h.Title) == "":
		return nil, fail(n.Line, h.ID, "invalid rule", "missing title")
	}
	r := &Rule{
		File: file, Line: n.Line, ID: h.ID, Name: h.Name, Title: h.Title, Status: h.Status, Description: h.Description,
		Author: h.Author, Level: h.Level, References: h.References, FalsePositives: h.FalsePositives, Tags: h.Tags,
		Logsource: h.Logsource, RegressionTestsPath: h.RegressionTestsPath,
	}
	if keys["correlation"] != nil {
		c, err := parseCorrelation(keys["correlation"], keyLines["correlation"], h.Generate)
		if err != nil {
			err.File, err.RuleID = file, h.ID
			return nil, err
		}
		r.Correlation = c
		return r, nil
	}
	det, err := parseDetection(keys["detection"])
	if err != nil {
		var ue *UnsupportedError
		if errors.As(err, &ue) {
			ue.File, ue.RuleID = file, h.ID
			return nil, ue
		}
		return nil, fail(keys["detection"].Line, h.ID, "invalid rule", "%v", err)
	}
	r.Detection = *det
	return r, nil
}

func parseDetection(n *yaml.Node) (*Detection, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: detection must be a mapping", n.Line)
	}
	d := &Detection{Searches: map[string]*Search{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "condition":
			conds, err := decodeStrings(v)
			if err != nil {
				return nil, fmt.Errorf("line %d: condition: %w", v.Line, err)
			}
			d.Conditions = conds
		case "timeframe":
			// Only meaningful for aggregations, which the condition parser rejects.
		default:
			s, err := parseSearch(k.Value, v)
			if err != nil {
				return nil, err
			}
			d.Searches[k.Value] = s
			d.Order = append(d.Order, k.Value)
		}
	}
	if len(d.Conditions) == 0 {
		return nil, fmt.Errorf("line %d: missing condition", n.Line)
	}
	return d, nil
}

func decodeStrings(n *yaml.Node) ([]string, error) {
	var l stringList
	if err := l.UnmarshalYAML(n); err != nil {
		return nil, err
	}
	return l, nil
}

func parseSearch(name string, n *yaml.Node) (*Search, error) {
	s := &Search{Name: name, Line: n.Line}
	switch n.Kind {
	case yaml.MappingNode:
		term, err := parseTerm(n)
		if err != nil {
			return nil, err
		}
		s.Terms = append(s.Terms, term)
	case yaml.SequenceNode:
		var keywords *FieldItem
		for _, c := range n.Content {
			if c.Kind == yaml.MappingNode {
				term, err := parseTerm(c)
				if err != nil {
					return nil, err
				}
				s.Terms = append(s.Terms, term)
				continue
			}
			v, err := scalarValue(c)
			if err != nil {
				return nil, err
			}
			if keywords == nil {
				keywords = &FieldItem{Line: c.Line}
				s.Terms = append(s.Terms, []*FieldItem{keywords})
			}
			keywords.Values = append(keywords.Values, v)
		}
	case yaml.ScalarNode:
		v, err := scalarValue(n)
		if err != nil {
			return nil, err
		}
		s.Terms = [][]*FieldItem{{{Values: []any{v}, Line: n.Line}}}
	default:
		return nil, fmt.Errorf("line %d: search %q must be a mapping or a list", n.Line, name)
	}
	return s, nil
}

func parseTerm(n *yaml.Node) ([]*FieldItem, error) {
	var term []*FieldItem
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		parts := strings.Split(k.Value, "|")
		item := &FieldItem{Field: parts[0], Modifiers: parts[1:], Line: k.Line}
		switch v.Kind {
		case yaml.SequenceNode:
			for _, c := range v.Content {
				x, err := scalarValue(c)
				if err != nil {
					return nil, err
				}
				item.Values = append(item.Values, x)
			}
			if len(v.Content) == 0 {
				return nil, fmt.Errorf("line %d: %s: empty list of values", v.Line, k.Value)
			}
		default:
			x, err := scalarValue(v)
			if err != nil {
				return nil, err
			}
			item.Values = []any{x}
		}
		term = append(term, item)
	}
	return term, nil
}

var decimal = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,17})$`)

// scalarValue decodes a value. Integers written in decimal are numbers; any other number (0x17, 1.0, 0755) keeps
// its text, since Windows events carry such values as text and YAML would silently change them.
func scalarValue(n *yaml.Node) (any, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, &UnsupportedError{Line: n.Line, Reason: "nested value", Detail: "a value must be a string, number, boolean or null"}
	}
	switch n.Tag {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return b, nil
	case "!!int":
		if decimal.MatchString(n.Value) {
			var i int64
			if err := n.Decode(&i); err == nil {
				return i, nil
			}
		}
	}
	return n.Value, nil
}

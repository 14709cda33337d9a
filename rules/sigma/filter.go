package sigma

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Filter is a Sigma filter (sigma-filters-specification.md): a detection that tunes many rules at once, named by id
// or name in Rules, or every rule of its log source when Rules is "any" or "all" (AllRules). Vigil reads it as
// pySigma, the reference implementation, applies it: a rule it applies to matches only when the filter's condition
// holds too, so a filter that removes matches is written `condition: not selection`. Its conversion is an exception
// of those rules: `not (condition)`, as an exception list (docs/sigma.md, "Sigma filters").
type Filter struct {
	File        string
	Line        int
	ID          string
	Title       string
	Description string
	Logsource   Logsource
	Rules       []string
	AllRules    bool
	// Detection holds the filter's searches and its one condition.
	Detection Detection
	// Tenants is Vigil's extension (a top-level `tenants:` list): the filter applies to those tenants' events only.
	Tenants []string
}

type filterHeader struct {
	Title       string     `yaml:"title"`
	ID          string     `yaml:"id"`
	Description string     `yaml:"description"`
	Logsource   Logsource  `yaml:"logsource"`
	Tenants     stringList `yaml:"tenants"`
}

// ParseFilters reads the Sigma filters of one YAML file (one filter, or several separated by `---`). A document
// that is not a valid filter yields an *UnsupportedError; the other filters are returned alongside.
func ParseFilters(file string, data []byte) ([]*Filter, []error) {
	return parseDocuments(file, data, parseFilter)
}

func parseFilter(file string, n *yaml.Node) (*Filter, error) {
	fail := func(line int, id, format string, args ...any) error {
		return &UnsupportedError{File: file, Line: line, RuleID: id, Reason: "invalid filter", Detail: fmt.Sprintf(format, args...)}
	}
	var h filterHeader
	if n.Kind != yaml.MappingNode {
		return nil, fail(n.Line, "", "a filter must be a mapping")
	}
	if err := n.Decode(&h); err != nil {
		return nil, fail(n.Line, "", "%v", err)
	}
	body := mapNode(n, "filter")
	switch {
	case body == nil || body.Kind != yaml.MappingNode:
		return nil, fail(n.Line, h.ID, "no filter mapping (a Sigma rule? pass filters with --filters, rules as PATH)")
	case strings.TrimSpace(h.Title) == "":
		return nil, fail(n.Line, h.ID, "missing title")
	case h.Logsource == Logsource{}:
		return nil, fail(n.Line, h.ID, "missing logsource")
	}
	f := &Filter{File: file, Line: n.Line, ID: h.ID, Title: h.Title, Description: h.Description, Logsource: h.Logsource, Tenants: h.Tenants}
	det := &yaml.Node{Kind: yaml.MappingNode, Line: body.Line}
	for i := 0; i+1 < len(body.Content); i += 2 {
		if k, v := body.Content[i], body.Content[i+1]; k.Value == "rules" {
			if err := f.parseRules(v); err != nil {
				return nil, fail(v.Line, h.ID, "rules: %v", err)
			}
		} else {
			det.Content = append(det.Content, k, v)
		}
	}
	if f.Rules == nil && !f.AllRules {
		return nil, fail(body.Line, h.ID, "no rules: name the rules it applies to, or write `rules: any`")
	}
	d, err := parseDetection(det)
	if err != nil {
		var ue *UnsupportedError
		if errors.As(err, &ue) {
			ue.File, ue.RuleID = file, h.ID
			return nil, ue
		}
		return nil, fail(body.Line, h.ID, "%v", err)
	}
	if len(d.Conditions) != 1 {
		return nil, fail(body.Line, h.ID, "a filter has exactly one condition, got %d", len(d.Conditions))
	}
	f.Detection = *d
	return f, nil
}

// parseRules reads filter.rules: a list of rule ids or names, one of them, or any/all (so is an empty list, as
// pySigma reads it).
func (f *Filter) parseRules(n *yaml.Node) error {
	var refs stringList
	if err := n.Decode(&refs); err != nil {
		return err
	}
	if len(refs) == 0 || len(refs) == 1 && n.Kind == yaml.ScalarNode && slices.Contains([]string{"any", "all"}, strings.ToLower(refs[0])) {
		f.AllRules = true
		return nil
	}
	f.Rules = refs
	return nil
}

func mapNode(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// AppliesTo reports whether the filter tunes rule r: a detection rule whose log source has every key the filter's
// gives (with the same value), named in Rules by id or name, or any such rule with AllRules.
func (f *Filter) AppliesTo(r *Rule) bool {
	if r.Correlation != nil {
		return false
	}
	eq := func(want, got string) bool { return want == "" || strings.EqualFold(want, got) }
	if !eq(f.Logsource.Category, r.Logsource.Category) || !eq(f.Logsource.Product, r.Logsource.Product) ||
		!eq(f.Logsource.Service, r.Logsource.Service) {
		return false
	}
	return f.AllRules || slices.ContainsFunc(f.Rules, func(ref string) bool {
		return ref != "" && (strings.EqualFold(ref, r.ID) || ref == r.Name)
	})
}

var nonName = regexp.MustCompile(`[^a-z0-9._-]+`)

// ListName is the name of the filter's exception list: sigma-filter.<id>, or after its title without an id.
func (f *Filter) ListName() string {
	name := f.ID
	if name == "" {
		name = f.Title
	}
	return "sigma-filter." + strings.Trim(nonName.ReplaceAllString(strings.ToLower(name), "_"), "_")
}

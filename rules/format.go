package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Rule is one detection rule as written in a rule file (docs/rules.md). It is plain data; Compile turns it into
// something the Engine can evaluate.
type Rule struct {
	ID             string        `yaml:"id"`
	Name           string        `yaml:"name"`
	Description    string        `yaml:"description,omitempty"`
	Author         string        `yaml:"author,omitempty"`
	Severity       string        `yaml:"severity"`
	RiskScore      *int          `yaml:"risk_score,omitempty"`
	Enabled        *bool         `yaml:"enabled,omitempty"`
	Tenants        []string      `yaml:"tenants,omitempty"`
	Tags           []string      `yaml:"tags,omitempty"`
	References     []string      `yaml:"references,omitempty"`
	FalsePositives []string      `yaml:"false_positives,omitempty"`
	MitreAttack    []MitreAttack `yaml:"mitre_attack,omitempty"`
	Condition      string        `yaml:"condition,omitempty"`
	Correlation    *Correlation  `yaml:"correlation,omitempty"`
	Exceptions     []string      `yaml:"exceptions,omitempty"`
	// ExceptionsFrom names the exception lists (ExceptionList) whose entries are exceptions of the rule too.
	ExceptionsFrom []string `yaml:"exceptions_from,omitempty"`
	// Suppress folds a group's later matches into its first alert for a while (see Suppress).
	Suppress *Suppress `yaml:"suppress,omitempty"`
	// Alert false makes the rule correlation input only: its matches feed correlations and raise no alert.
	Alert *bool      `yaml:"alert,omitempty"`
	Tests []RuleTest `yaml:"tests,omitempty"`
	// Mode is "live" (the default) or "shadow": a shadow rule is evaluated on live traffic, but its alerts go only to
	// the shadow indices, are never notified and never feed correlations (vigil.Alert.Shadow; docs/fleet.md).
	Mode string `yaml:"mode,omitempty"`

	// Source locates the rule's text; set by Parse.
	Source Position `yaml:"-"`
	// Text is the rule's YAML document; its hash is the rule version.
	Text []byte `yaml:"-"`
	// lines maps keys to their line numbers inside the document, for error messages.
	lines map[string]int
	// exprs locates the condition's and the exceptions' texts in the file, for positions of CEL errors.
	exprs map[string]exprLoc
	// lists are the exception lists the rule uses, set by ExceptionLists.Apply (listsApplied).
	lists        []*ExceptionList
	listsApplied bool
}

// MitreAttack maps a rule to MITRE ATT&CK.
type MitreAttack struct {
	Tactic       string `yaml:"tactic,omitempty"`
	Technique    string `yaml:"technique,omitempty"`
	Subtechnique string `yaml:"subtechnique,omitempty"`
}

// RuleTest is an inline test. A single-event rule's test gives an event and whether the rule must match it; a
// correlation rule's test gives events, in order of arrival, and the alerts the correlation must raise from them.
type RuleTest struct {
	Name   string         `yaml:"name"`
	Tenant string         `yaml:"tenant,omitempty"`
	Event  map[string]any `yaml:"event,omitempty"`
	// Raw is a raw record (a syslog or CEF line) given instead of Event, decoded in Format (json, syslog, cef, leef,
	// kv or lines) and by the message parser files Parsers (relative to the rule file) as a source would decode it.
	Raw     string   `yaml:"raw,omitempty"`
	Format  string   `yaml:"format,omitempty"`
	Parsers []string `yaml:"parsers,omitempty"`
	Expect  string   `yaml:"expect,omitempty"`
	// Events are a correlation test's input; an event's own `_tenant` key, removed before evaluation, overrides the
	// test's tenant for it.
	Events []map[string]any `yaml:"events,omitempty"`
	Alerts *TestAlerts      `yaml:"alerts,omitempty"`
	Line   int              `yaml:"-"`
}

// Position is a place in a rule file; Col is 0 when only the line is known.
type Position struct {
	File string
	Line int
	Col  int
}

func (p Position) String() string {
	if p.Col > 0 {
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Error is a problem with a rule file, located at file:line.
type Error struct {
	Pos    Position
	RuleID string
	Msg    string
}

func (e *Error) Error() string {
	if e.RuleID != "" {
		return fmt.Sprintf("%s: rule %s: %s", e.Pos, e.RuleID, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
}

// Severities lists the severity words in increasing order; the index plus one is ECS event.severity.
var severities = []string{"low", "medium", "high", "critical"}

// defaultRisk is the risk score a severity implies when the rule sets none (the values Elastic Security uses).
var defaultRisk = map[string]int{"low": 21, "medium": 47, "high": 73, "critical": 99}

var idPattern = regexp.MustCompile(`^[a-z0-9._-]+$`)

var knownKeys = map[string]bool{
	"id": true, "name": true, "description": true, "author": true, "severity": true, "risk_score": true,
	"enabled": true, "tenants": true, "tags": true, "references": true, "false_positives": true,
	"mitre_attack": true, "condition": true, "correlation": true, "exceptions": true, "exceptions_from": true, "tests": true, "alert": true,
	"suppress": true, "mode": true,
}

var knownTestKeys = map[string]bool{"name": true, "tenant": true, "event": true, "expect": true, "events": true, "alerts": true,
	"raw": true, "format": true, "parsers": true}

var knownMitreKeys = map[string]bool{"tactic": true, "technique": true, "subtechnique": true}

// Parse reads every rule of one rule file. Documents are separated by "---"; empty documents are ignored. It checks
// the format (keys, types, required fields, values) but not the CEL expressions: that is Compile's job. All problems
// found are returned, joined, each as an *Error.
func Parse(file string, data []byte) ([]*Rule, error) {
	var out []*Rule
	err := eachDocument(file, data, func(n *yaml.Node) []error {
		r, errs := parseRule(file, n)
		if r != nil {
			r.Text = documentText(data, n)
			r.locateExprs(data, n)
			out = append(out, r)
		}
		return errs
	})
	return out, err
}

// eachDocument calls fn with the root node of every non-empty YAML document of data, and returns the errors fn
// returns, joined; a syntax error ends the walk and is returned as an *Error at its line.
func eachDocument(file string, data []byte, fn func(*yaml.Node) []error) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var errs []error
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, &Error{Pos: Position{File: file, Line: yamlErrorLine(err)}, Msg: yamlErrorText(err)})
			break
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null" {
			continue
		}
		errs = append(errs, fn(doc.Content[0])...)
	}
	return errors.Join(errs...)
}

func parseRule(file string, n *yaml.Node) (*Rule, []error) {
	at := func(line int, format string, args ...any) error {
		return &Error{Pos: Position{File: file, Line: line}, Msg: fmt.Sprintf(format, args...)}
	}
	if n.Kind != yaml.MappingNode {
		return nil, []error{at(n.Line, "a rule must be a mapping of keys to values")}
	}
	var errs []error
	r := &Rule{Source: Position{File: file, Line: n.Line}, lines: map[string]int{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		r.lines[k.Value] = k.Line
		if !knownKeys[k.Value] {
			errs = append(errs, at(k.Line, "unknown key %q", k.Value))
		}
	}
	errs = append(errs, checkNestedKeys(file, n)...)
	if err := n.Decode(r); err != nil {
		errs = append(errs, at(yamlErrorLine(err, n.Line), "%s", yamlErrorText(err)))
		return nil, errs
	}
	for i := range r.Tests {
		r.Tests[i].Line = testLine(n, i)
	}
	for _, e := range r.check() {
		errs = append(errs, at(r.line(e.key), "%s", e.msg))
	}
	for i := range errs {
		var re *Error
		if errors.As(errs[i], &re) && r.ID != "" {
			re.RuleID = r.ID
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

// checkNestedKeys rejects unknown keys inside mitre_attack entries, tests and the correlation section.
func checkNestedKeys(file string, n *yaml.Node) []error {
	var errs []error
	check := func(item *yaml.Node, known map[string]bool, where string) {
		for j := 0; item.Kind == yaml.MappingNode && j+1 < len(item.Content); j += 2 {
			if k := item.Content[j]; !known[k.Value] {
				errs = append(errs, &Error{Pos: Position{File: file, Line: k.Line}, Msg: fmt.Sprintf("unknown key %q in %s", k.Value, where)})
			}
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		if key == "suppress" {
			check(val, knownSuppressKeys, key)
		}
		if key == "correlation" {
			check(val, knownCorrelationKeys, key)
			for j := 0; val.Kind == yaml.MappingNode && j+1 < len(val.Content); j += 2 {
				if val.Content[j].Value == "condition" {
					check(val.Content[j+1], knownConditionKeys, "correlation condition")
				}
			}
		}
		known := map[string]map[string]bool{"tests": knownTestKeys, "mitre_attack": knownMitreKeys}[key]
		if known == nil || val.Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range val.Content {
			check(item, known, key)
		}
	}
	return errs
}

func testLine(n *yaml.Node, i int) int {
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == "tests" && i < len(n.Content[j+1].Content) {
			return n.Content[j+1].Content[i].Line
		}
	}
	return n.Line
}

type fieldError struct{ key, msg string }

// check validates the values of a parsed rule.
func (r *Rule) check() []fieldError {
	var errs []fieldError
	add := func(key, format string, args ...any) {
		errs = append(errs, fieldError{key, fmt.Sprintf(format, args...)})
	}
	switch {
	case r.ID == "":
		add("id", "missing required key \"id\"")
	case !idPattern.MatchString(r.ID):
		add("id", "id %q must match [a-z0-9._-]+", r.ID)
	}
	if strings.TrimSpace(r.Name) == "" {
		add("name", "missing required key \"name\"")
	}
	if r.Severity == "" {
		add("severity", "missing required key \"severity\"")
	} else if !slices.Contains(severities, r.Severity) {
		add("severity", "severity %q must be one of %s", r.Severity, strings.Join(severities, ", "))
	}
	if r.RiskScore != nil && (*r.RiskScore < 0 || *r.RiskScore > 100) {
		add("risk_score", "risk_score %d must be between 0 and 100", *r.RiskScore)
	}
	if r.Correlation != nil {
		r.checkCorrelation(add)
	} else if strings.TrimSpace(r.Condition) == "" {
		add("condition", "missing required key \"condition\" (or \"correlation\")")
	}
	if r.Suppress != nil {
		r.checkSuppress(add)
	}
	switch {
	case r.Mode != "" && r.Mode != ModeLive && r.Mode != ModeShadow:
		add("mode", "mode %q must be live or shadow", r.Mode)
	case r.Mode == ModeShadow && (r.Correlation != nil || r.Suppress != nil):
		add("mode", "mode shadow is for single-event rules: a correlation or a suppressing rule keeps state that live rules share")
	}
	for _, m := range r.MitreAttack {
		if m.Tactic == "" && m.Technique == "" {
			add("mitre_attack", "a mitre_attack entry needs a tactic or a technique")
		}
	}
	for i, t := range r.Tests {
		if r.Correlation != nil {
			break // checkCorrelation checks a correlation's tests
		}
		if len(t.Events) > 0 || t.Alerts != nil {
			switch {
			case r.Suppress == nil:
				add("tests", "test %d (%q): events and alerts are for the tests of correlation and suppressing rules; give event and expect", i+1, t.Name)
			case len(t.Events) == 0 || t.Alerts == nil || t.Event != nil || t.Expect != "":
				add("tests", "test %d (%q): a suppression test gives events and alerts (and no event or expect)", i+1, t.Name)
			}
			continue
		}
		if t.Expect != "match" && t.Expect != "no_match" {
			add("tests", "test %d (%q): expect must be match or no_match, got %q", i+1, t.Name, t.Expect)
		}
		switch {
		case t.Raw != "" && t.Event != nil:
			add("tests", "test %d (%q): give event or raw, not both", i+1, t.Name)
		case t.Raw != "" && t.Format == "":
			add("tests", "test %d (%q): raw needs a format (syslog, cef, leef, kv, lines or json)", i+1, t.Name)
		case t.Raw == "" && (t.Format != "" || t.Parsers != nil):
			add("tests", "test %d (%q): format and parsers are for a raw test event", i+1, t.Name)
		case t.Event == nil && t.Raw == "":
			add("tests", "test %d (%q): missing event (or raw)", i+1, t.Name)
		}
	}
	return errs
}

func (r *Rule) line(key string) int {
	if l, ok := r.lines[key]; ok {
		return l
	}
	return r.Source.Line
}

// IsShadow reports whether the rule runs in shadow mode.
func (r *Rule) IsShadow() bool { return r.Mode == ModeShadow }

// Rule modes (Rule.Mode).
const (
	ModeLive   = "live"
	ModeShadow = "shadow"
)

// IsEnabled reports whether the rule runs (rules are enabled unless they say otherwise).
func (r *Rule) IsEnabled() bool { return r.Enabled == nil || *r.Enabled }

// Risk returns the rule's risk score, defaulting by severity.
func (r *Rule) Risk() int {
	if r.RiskScore != nil {
		return *r.RiskScore
	}
	return defaultRisk[r.Severity]
}

// SeverityLevel returns ECS event.severity: 1 for low up to 4 for critical.
func (r *Rule) SeverityLevel() int { return slices.Index(severities, r.Severity) + 1 }

var yamlLine = regexp.MustCompile(`^yaml: (?:unmarshal errors:\n\s*)?line (\d+): `)

// yamlErrorLine extracts the line from a yaml error ("yaml: line 3: ..."), or returns fallback (1 by default).
func yamlErrorLine(err error, fallback ...int) int {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		var l int
		fmt.Sscan(m[1], &l)
		return l
	}
	if len(fallback) > 0 {
		return fallback[0]
	}
	return 1
}

func yamlErrorText(err error) string {
	msg := yamlLine.ReplaceAllString(err.Error(), "")
	return strings.TrimPrefix(msg, "yaml: ")
}

// documentText returns the lines of data that hold the document rooted at n, used for the rule version hash.
func documentText(data []byte, n *yaml.Node) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	start, end := n.Line-1, len(lines)
	for i := start; i < len(lines); i++ {
		if i > start && bytes.HasPrefix(lines[i], []byte("---")) {
			end = i
			break
		}
	}
	if start < 0 || start >= len(lines) {
		return data
	}
	return bytes.Join(lines[start:end], nil)
}

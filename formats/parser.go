package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// Parsers are a source's message parsers, in order. The first parser whose condition holds for a decoded event
// applies, and no other: its patterns are tried in order on its field (message by default); the first that matches
// sets the captured fields, converted to their types, and the static fields. When none matches, the event keeps its
// decoded fields and gets vigil.parse.failed: <parser name>. Parsers are safe for concurrent use.
type Parsers struct {
	list []*parser
	// reads are the fields the parsers' conditions and fields read: a decoder evaluates the conditions on a tree of
	// those fields only, and builds the event's tree once, after the parser ran. whole: a condition may read any
	// field, and gets the whole event.
	reads []string
	whole bool
}

type parser struct {
	name     string
	cond     *rules.Condition // nil: every event
	field    string           // dotted
	patterns []parserPattern
	types    map[string]converter
	set      []staticField
}

type parserPattern struct {
	pattern
	set []staticField
}

type staticField struct {
	field string
	value []byte // JSON, or nil for a string
	text  string
}

// write sets the field on d.
func (f staticField) write(d *doc) {
	if f.value == nil {
		d.set(f.field, f.text)
	} else {
		d.raw(f.field, f.value)
	}
}

// parserFile is the YAML of a parser file.
type parserFile struct {
	Parsers []parserSpec `yaml:"parsers"`
}

type parserSpec struct {
	Name     string            `yaml:"name"`
	If       string            `yaml:"if"`
	Field    string            `yaml:"field"`
	Patterns []patternSpec     `yaml:"patterns"`
	Types    map[string]string `yaml:"types"`
	Set      map[string]any    `yaml:"set"`
}

type patternSpec struct {
	Dissect string         `yaml:"dissect"`
	Regex   string         `yaml:"regex"`
	Set     map[string]any `yaml:"set"`
}

// LoadParsers reads parser files, in order. Unknown keys, bad conditions, patterns and types are errors that name
// the file and the parser's line.
func LoadParsers(paths ...string) (*Parsers, error) {
	env, err := rules.NewEnv()
	if err != nil {
		return nil, err
	}
	ps := &Parsers{}
	seen := map[string]string{}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("parsers: %w", err)
		}
		list, err := parseParsers(env, data)
		if err != nil {
			return nil, fmt.Errorf("parsers %s: %w", path, err)
		}
		for _, p := range list {
			if other, dup := seen[p.name]; dup {
				return nil, fmt.Errorf("parsers %s: parser %q is also defined in %s", path, p.name, other)
			}
			seen[p.name] = path
		}
		ps.list = append(ps.list, list...)
	}
	for _, p := range ps.list {
		ps.reads = append(ps.reads, p.field)
		if p.cond != nil {
			reads, ok := p.cond.Reads()
			ps.whole = ps.whole || !ok
			ps.reads = append(ps.reads, reads...)
		}
	}
	slices.Sort(ps.reads)
	ps.reads = slices.Compact(ps.reads)
	return ps, nil
}

// parseParsers compiles the parsers of one file.
func parseParsers(env *rules.Env, data []byte) ([]*parser, error) {
	var f parserFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	var out []*parser
	var errs []error
	for i, spec := range f.Parsers {
		p, err := compileParser(env, spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: parsers[%d] (%s): %w", itemLine(&root, i), i, spec.Name, err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// itemLine is the line of the i-th item of the top-level parsers list, or 0.
func itemLine(root *yaml.Node, i int) int {
	if len(root.Content) == 0 {
		return 0
	}
	m := root.Content[0].Content
	for k := 0; k+1 < len(m); k += 2 {
		if m[k].Value == "parsers" && i < len(m[k+1].Content) {
			return m[k+1].Content[i].Line
		}
	}
	return 0
}

func compileParser(env *rules.Env, s parserSpec) (*parser, error) {
	if s.Name == "" {
		return nil, errors.New("name is required")
	}
	if len(s.Patterns) == 0 {
		return nil, errors.New("patterns: at least one dissect or regex pattern is required")
	}
	p := &parser{name: s.Name, field: cmpOr(s.Field, "message"), types: map[string]converter{}}
	if s.If != "" {
		cond, err := env.CompileCondition(s.If)
		if err != nil {
			return nil, fmt.Errorf("if: %w", err)
		}
		p.cond = cond
	}
	for field, t := range s.Types {
		c, err := newConverter(t)
		if err != nil {
			return nil, fmt.Errorf("types.%s: %w", field, err)
		}
		p.types[field] = c
	}
	var err error
	if p.set, err = staticFields(s.Set); err != nil {
		return nil, err
	}
	for j, ps := range s.Patterns {
		pat, err := compilePattern(ps)
		if err != nil {
			return nil, fmt.Errorf("patterns[%d]: %w", j, err)
		}
		p.patterns = append(p.patterns, pat)
	}
	return p, nil
}

func compilePattern(s patternSpec) (parserPattern, error) {
	var pp parserPattern
	var err error
	switch {
	case (s.Dissect == "") == (s.Regex == ""):
		return pp, errors.New("set exactly one of dissect and regex")
	case s.Dissect != "":
		pp.pattern, err = compileDissect(s.Dissect)
	default:
		pp.pattern, err = compileRegex(s.Regex)
	}
	if err != nil {
		return pp, err
	}
	pp.set, err = staticFields(s.Set)
	return pp, err
}

// staticFields encodes the values of a set: block, sorted by field for a stable document.
func staticFields(m map[string]any) ([]staticField, error) {
	var out []staticField
	for k, v := range m {
		if text, ok := v.(string); ok {
			out = append(out, staticField{field: k, text: text})
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("set.%s: %w", k, err)
		}
		out = append(out, staticField{field: k, value: b})
	}
	sortStatic(out)
	return out, nil
}

func sortStatic(s []staticField) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].field < s[j-1].field; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// fieldSource is a decoded event as parsers read it: lookup gives a field's string without building a tree, tree
// gives the event's tree (or the tree of the fields the parsers read), built when first needed.
type fieldSource struct {
	lookup func(path string) (string, rules.FieldKind)
	tree   func() fields.Value
}

// apply runs the parsers on an event; d receives the fields to set. It is false when no parser's condition holds
// (nothing to change). Conditions of the usual form (string comparisons) are decided from the fields alone.
func (ps *Parsers) apply(ev fieldSource, d *doc, st *state) bool {
	for _, p := range ps.list {
		if p.cond != nil {
			holds, decided := p.cond.EvalFields(ev.lookup)
			if !decided {
				holds = p.cond.Eval(ev.tree())
			}
			if !holds {
				continue
			}
		}
		text, kind := ev.lookup(p.field)
		if kind == rules.FieldOther {
			v := ev.tree().Lookup(strings.Split(p.field, ".")...)
			text, kind = v.Str(), rules.FieldOther
			if v.Kind() == fields.String {
				kind = rules.FieldString
			}
		}
		if kind != rules.FieldString || !p.run(text, d, st) {
			d.set("vigil.parse.failed", p.name)
		}
		return true
	}
	return false
}

// treeSource reads an event tree.
func treeSource(tree fields.Value) fieldSource {
	return fieldSource{
		lookup: func(path string) (string, rules.FieldKind) {
			v := tree.Lookup(strings.Split(path, ".")...)
			switch v.Kind() {
			case fields.String:
				return v.Str(), rules.FieldString
			case fields.Null:
				if !v.Exists() {
					return "", rules.FieldMissing
				}
			}
			return "", rules.FieldOther
		},
		tree: func() fields.Value { return tree },
	}
}

// run tries the patterns on text and writes the fields of the first that matches and converts.
func (p *parser) run(text string, d *doc, st *state) bool {
	text = strings.TrimRight(text, " \t\r\n")
	var buf [8]capture
	for _, pat := range p.patterns {
		caps, ok := pat.extract(text, buf[:0])
		if !ok {
			continue
		}
		var vals [8][]byte
		values := vals[:0]
		for _, c := range caps {
			v, ok := p.convert(c, st)
			if !ok {
				break
			}
			values = append(values, v)
		}
		if len(values) < len(caps) {
			continue // a value that does not convert: the pattern does not match
		}
		for _, f := range p.set {
			f.write(d)
		}
		for _, f := range pat.set {
			f.write(d)
		}
		for i, c := range caps {
			switch {
			case c.text == "": // an empty capture is left out
			case values[i] == nil:
				d.set(c.field, c.text)
			default:
				d.raw(c.field, values[i])
			}
		}
		return true
	}
	return false
}

// convert encodes a captured text as its field's type: nil for a text that stays a string.
func (p *parser) convert(c capture, st *state) ([]byte, bool) {
	conv, ok := p.types[c.field]
	if !ok || c.text == "" {
		return nil, true
	}
	return conv(c.text, st)
}

// converter encodes a text as a JSON value of one type, or nil when the text stays a string; false when it is not of
// the type.
type converter func(s string, st *state) ([]byte, bool)

// newConverter returns the converter of a type name: keyword (string), int or long, float, bool, ip, or
// timestamp:LAYOUT (a Go time layout; without a zone, the source's time zone; without a year, the record's).
func newConverter(t string) (converter, error) {
	switch t {
	case "keyword", "string":
		return func(string, *state) ([]byte, bool) { return nil, true }, nil
	case "int", "long":
		return func(s string, _ *state) ([]byte, bool) {
			n, err := strconv.ParseInt(s, 10, 64)
			return strconv.AppendInt(nil, n, 10), err == nil
		}, nil
	case "float":
		return func(s string, _ *state) ([]byte, bool) {
			f, err := strconv.ParseFloat(s, 64)
			return strconv.AppendFloat(nil, f, 'g', -1, 64), err == nil
		}, nil
	case "bool":
		return func(s string, _ *state) ([]byte, bool) {
			b, err := strconv.ParseBool(s)
			return strconv.AppendBool(nil, b), err == nil
		}, nil
	case "ip":
		return func(s string, _ *state) ([]byte, bool) {
			_, err := netip.ParseAddr(s)
			return nil, err == nil
		}, nil
	}
	if layout, ok := strings.CutPrefix(t, "timestamp:"); ok && layout != "" {
		return func(s string, st *state) ([]byte, bool) { return parseTimestamp(layout, s, st) }, nil
	}
	return nil, fmt.Errorf("unknown type %q (want keyword, int, long, float, bool, ip or timestamp:LAYOUT)", t)
}

func parseTimestamp(layout, s string, st *state) ([]byte, bool) {
	t, err := time.ParseInLocation(layout, s, st.loc)
	if err != nil {
		return nil, false
	}
	b := append([]byte{'"'}, st.withYear(t).UTC().Format(time.RFC3339Nano)...)
	return append(b, '"'), true
}

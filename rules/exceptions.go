package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ExceptionList is a named list of exceptions that rules share (docs/rules.md, "Exception lists"): a match of a rule
// that uses the list is suppressed when any entry is true of the event. A list with Tenants applies only to those
// tenants' events. Lists live in their own YAML files, one list per document.
type ExceptionList struct {
	Name        string           `yaml:"name"`
	Description string           `yaml:"description,omitempty"`
	Tenants     []string         `yaml:"tenants,omitempty"`
	Entries     []ExceptionEntry `yaml:"entries"`
	// Source locates the list's document.
	Source Position `yaml:"-"`

	tenants map[string]bool
}

// ExceptionEntry is one exception: typed values of one field (Field, Type, Values), or a CEL expression (Expr).
// By, At and Reason record who added it, when and why.
type ExceptionEntry struct {
	Field  string   `yaml:"field,omitempty"`
	Type   string   `yaml:"type,omitempty"`
	Values []string `yaml:"values,omitempty,flow"`
	Expr   string   `yaml:"expr,omitempty"`
	By     string   `yaml:"by,omitempty"`
	At     string   `yaml:"at,omitempty"`
	Reason string   `yaml:"reason,omitempty"`
	// Line is the entry's line in the list's file.
	Line int `yaml:"-"`

	prg *evaluator
}

// ExceptionTypes are the types of an entry's values.
var ExceptionTypes = []string{"string", "int", "ip", "cidr"}

var (
	knownListKeys  = map[string]bool{"name": true, "description": true, "tenants": true, "entries": true}
	knownEntryKeys = map[string]bool{"field": true, "type": true, "values": true, "expr": true, "by": true, "at": true, "reason": true}
	fieldPattern   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
)

// ParseExceptions reads the exception lists of one file. Like Parse, it checks the format and the values but not
// the CEL (CompileExceptions does), and returns every problem as an *Error with file:line.
func ParseExceptions(file string, data []byte) ([]*ExceptionList, error) {
	var out []*ExceptionList
	err := eachDocument(file, data, func(n *yaml.Node) []error {
		l, errs := parseList(file, n)
		if l != nil {
			out = append(out, l)
		}
		return errs
	})
	return out, err
}

func parseList(file string, n *yaml.Node) (*ExceptionList, []error) {
	at := func(line int, format string, args ...any) error {
		return &Error{Pos: Position{File: file, Line: line}, Msg: fmt.Sprintf(format, args...)}
	}
	if n.Kind != yaml.MappingNode {
		return nil, []error{at(n.Line, "an exception list must be a mapping of keys to values")}
	}
	var errs []error
	entries := mapValue(n, "entries")
	errs = append(errs, unknownKeys(file, n, knownListKeys, "")...)
	for _, item := range seqItems(entries) {
		errs = append(errs, unknownKeys(file, item, knownEntryKeys, " in an exception entry")...)
	}
	l := &ExceptionList{Source: Position{File: file, Line: n.Line}}
	if err := n.Decode(l); err != nil {
		return nil, append(errs, at(yamlErrorLine(err, n.Line), "%s", yamlErrorText(err)))
	}
	for i, item := range seqItems(entries) {
		l.Entries[i].Line = item.Line
	}
	if !idPattern.MatchString(l.Name) {
		errs = append(errs, at(n.Line, "exception list name %q must match [a-z0-9._-]+", l.Name))
	}
	for i := range l.Entries {
		if err := l.Entries[i].check(); err != nil {
			errs = append(errs, at(l.Entries[i].Line, "exception list %s, entry %d: %v", l.Name, i+1, err))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return l, nil
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func seqItems(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

func unknownKeys(file string, n *yaml.Node, known map[string]bool, where string) []error {
	var errs []error
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			errs = append(errs, &Error{Pos: Position{File: file, Line: k.Line}, Msg: fmt.Sprintf("unknown key %q%s", k.Value, where)})
		}
	}
	return errs
}

// check validates an entry's shape and values.
func (x *ExceptionEntry) check() error {
	if x.At != "" {
		if _, err := time.Parse(time.RFC3339, x.At); err != nil {
			if _, err := time.Parse(time.DateOnly, x.At); err != nil {
				return fmt.Errorf("at %q: want an RFC 3339 time or a date", x.At)
			}
		}
	}
	if x.Expr != "" {
		if x.Field != "" || x.Type != "" || len(x.Values) > 0 {
			return errors.New("an entry has either expr or field and values, not both")
		}
		return nil
	}
	switch {
	case x.Field == "" || len(x.Values) == 0:
		return errors.New("an entry needs expr, or field and values")
	case !fieldPattern.MatchString(x.Field):
		return fmt.Errorf("field %q is not a dotted name of identifiers (use expr for it)", x.Field)
	case x.Type != "" && !slices.Contains(ExceptionTypes, x.Type):
		return fmt.Errorf("type %q: want one of %s", x.Type, strings.Join(ExceptionTypes, ", "))
	}
	_, err := x.celText()
	return err
}

// celText is the entry as a CEL expression: Expr, or a test of Field against the typed values.
func (x *ExceptionEntry) celText() (string, error) {
	if x.Expr != "" {
		return x.Expr, nil
	}
	var parts []string
	for _, v := range x.Values {
		p, err := typedLiteral(x.Type, v)
		if err != nil {
			return "", err
		}
		parts = append(parts, p)
	}
	switch x.Type {
	case "ip", "cidr": // an address that is not one (a "-" in a log) is an error, so no exception
		var ors []string
		for _, p := range parts {
			ors = append(ors, "cidr("+p+").containsIP("+x.Field+")")
		}
		return strings.Join(ors, " || "), nil
	}
	return x.Field + " in [" + strings.Join(parts, ", ") + "]", nil
}

// typedLiteral is value v of type t as a CEL literal; ip and cidr values are CIDR strings (an address is /32 or
// /128).
func typedLiteral(t, v string) (string, error) {
	switch t {
	case "int":
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return "", fmt.Errorf("value %q is not an int", v)
		}
		return strconv.FormatInt(n, 10), nil
	case "ip":
		a, err := netip.ParseAddr(v)
		if err != nil {
			return "", fmt.Errorf("value %q is not an IP address", v)
		}
		return strconv.Quote(netip.PrefixFrom(a, a.BitLen()).String()), nil
	case "cidr":
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return "", fmt.Errorf("value %q is not a CIDR network", v)
		}
		return strconv.Quote(p.Masked().String()), nil
	}
	return strconv.Quote(v), nil
}

// ExceptionLists are the exception lists of a rule set, by name.
type ExceptionLists struct {
	byName map[string]*ExceptionList
	order  []*ExceptionList
}

// List returns the list with the given name, or nil.
func (ls *ExceptionLists) List(name string) *ExceptionList {
	if ls == nil {
		return nil
	}
	return ls.byName[name]
}

// Lists returns every list in load order.
func (ls *ExceptionLists) Lists() []*ExceptionList {
	if ls == nil {
		return nil
	}
	return ls.order
}

// LoadExceptions parses the exception list files under paths (files or folders, as Files finds rule files).
// Every error is returned, with file:line; list names must be unique across the files.
func LoadExceptions(paths ...string) (*ExceptionLists, error) {
	ls := &ExceptionLists{byName: map[string]*ExceptionList{}}
	err := eachFile(paths, func(f string, data []byte) []error {
		lists, err := ParseExceptions(f, data)
		return append([]error{err}, ls.add(lists)...)
	})
	return ls, err
}

// NewExceptionLists gathers lists (as ParseExceptions returns them) into a set; names must be unique.
func NewExceptionLists(lists ...*ExceptionList) (*ExceptionLists, error) {
	ls := &ExceptionLists{byName: map[string]*ExceptionList{}}
	return ls, errors.Join(ls.add(lists)...)
}

func (ls *ExceptionLists) add(lists []*ExceptionList) []error {
	var errs []error
	for _, l := range lists {
		if prev := ls.byName[l.Name]; prev != nil {
			errs = append(errs, &Error{Pos: l.Source, Msg: fmt.Sprintf("duplicate exception list %s (first defined at %s)", l.Name, prev.Source)})
			continue
		}
		ls.byName[l.Name] = l
		ls.order = append(ls.order, l)
	}
	return errs
}

// DefaultExceptionPaths are the folders named "exceptions" beside the rule paths (configs/exceptions for
// configs/rules), those that exist, each once: where lists are looked for when no path is configured.
func DefaultExceptionPaths(rulePaths ...string) []string {
	var out []string
	for _, p := range rulePaths {
		dir := filepath.Join(filepath.Dir(filepath.Clean(p)), "exceptions")
		if info, err := os.Stat(dir); err == nil && info.IsDir() && !slices.Contains(out, dir) {
			out = append(out, dir)
		}
	}
	return out
}

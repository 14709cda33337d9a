package sigma

import (
	"fmt"
	"path"
	"strings"
)

// A condition is parsed into a tree of these nodes, with `x of pattern` already resolved to the searches it names.
type (
	condAnd    []condNode
	condOr     []condNode
	condNot    struct{ x condNode }
	condSearch string
)

type condNode interface{ isCond() }

func (condAnd) isCond()    {}
func (condOr) isCond()     {}
func (condNot) isCond()    {}
func (condSearch) isCond() {}

// parseCondition parses one condition over the searches of d. Operator precedence, from least to most binding: or,
// and, not, `x of`, parentheses.
func parseCondition(text string, d *Detection) (condNode, error) {
	p := &condParser{toks: tokenize(text), d: d}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, p.unexpected()
	}
	return n, nil
}

func tokenize(s string) []string {
	var toks []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case r == '(' || r == ')' || r == '|':
			flush()
			toks = append(toks, string(r))
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}

type condParser struct {
	toks []string
	pos  int
	d    *Detection
}

// errCondition marks a condition the converter cannot express; the reason is counted separately from syntax errors.
type errCondition struct{ reason, detail string }

func (e *errCondition) Error() string { return e.reason + ": " + e.detail }

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *condParser) unexpected() error {
	if t := p.peek(); t == "|" {
		return &errCondition{"aggregation", "aggregations after | in the condition (deprecated Sigma v1 syntax)"}
	} else if t != "" {
		return fmt.Errorf("condition: unexpected %q", t)
	}
	return fmt.Errorf("condition: unexpected end")
}

func (p *condParser) or() (condNode, error) {
	var out condOr
	for {
		n, err := p.and()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		if !strings.EqualFold(p.peek(), "or") {
			break
		}
		p.pos++
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return out, nil
}

func (p *condParser) and() (condNode, error) {
	var out condAnd
	for {
		n, err := p.not()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		if !strings.EqualFold(p.peek(), "and") {
			break
		}
		p.pos++
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return out, nil
}

func (p *condParser) not() (condNode, error) {
	if strings.EqualFold(p.peek(), "not") {
		p.pos++
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return condNot{x}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (condNode, error) {
	t := p.peek()
	switch {
	case t == "(":
		p.pos++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, p.unexpected()
		}
		p.pos++
		return n, nil
	case t == "" || t == ")" || t == "|" || isOperator(t):
		return nil, p.unexpected()
	case p.pos+1 < len(p.toks) && strings.EqualFold(p.toks[p.pos+1], "of"):
		return p.of()
	}
	p.pos++
	if _, ok := p.d.Searches[t]; !ok {
		return nil, fmt.Errorf("condition: no search named %q", t)
	}
	return condSearch(t), nil
}

func isOperator(t string) bool {
	switch strings.ToLower(t) {
	case "and", "or", "not", "of":
		return true
	}
	return false
}

// of resolves `1 of pattern`, `any of pattern`, `all of pattern` and `... of them`.
func (p *condParser) of() (condNode, error) {
	quant, pattern := strings.ToLower(p.toks[p.pos]), ""
	p.pos += 2
	if pattern = p.peek(); pattern == "" || pattern == "(" || pattern == ")" {
		return nil, p.unexpected()
	}
	p.pos++
	if quant != "1" && quant != "any" && quant != "all" {
		return nil, &errCondition{"condition " + quant + " of", fmt.Sprintf("%q: only 1 of, any of and all of are defined", quant+" of "+pattern)}
	}
	var names []condNode
	for _, name := range p.d.Order {
		if pattern == "them" && !strings.HasPrefix(name, "_") {
			names = append(names, condSearch(name))
		} else if ok, _ := path.Match(pattern, name); ok && pattern != "them" {
			names = append(names, condSearch(name))
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("condition: %s of %s names no search", quant, pattern)
	}
	if len(names) == 1 {
		return names[0], nil
	}
	if quant == "all" {
		return condAnd(names), nil
	}
	return condOr(names), nil
}

package rules

import (
	"bytes"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"
)

// ExprError is a CEL expression that does not parse or type-check, with each of its problems located in the
// expression (line and column from 1).
type ExprError struct {
	Stage  string // "syntax" or "type check"
	Issues []ExprIssue
	text   string
}

// ExprIssue is one problem of an expression.
type ExprIssue struct {
	Line, Col int
	Msg       string
}

func newExprError(stage string, iss *cel.Issues) *ExprError {
	e := &ExprError{Stage: stage, text: iss.Err().Error()}
	for _, x := range iss.Errors() {
		e.Issues = append(e.Issues, ExprIssue{Line: x.Location.Line(), Col: x.Location.Column() + 1, Msg: x.Message})
	}
	return e
}

func (e *ExprError) Error() string { return e.Stage + ": " + e.text }

// exprLoc is where an expression's text starts in its file, to turn positions in the expression into positions in
// the file: a scalar on the key's line starts at a column; a block scalar (| or >) starts on a line of its own, at an
// indentation.
type exprLoc struct {
	line, col int
	block     bool
}

// at returns the file position of line l, column c of the expression text; a position past the text's last line (the
// end of input, after a block's final newline) is the end of that line.
func (x exprLoc) at(text string, l, c int) (line, col int) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if l > len(lines) {
		l, c = len(lines), len(lines[len(lines)-1])+1
	}
	if x.block {
		return x.line + l - 1, x.col + c - 1
	}
	if l > 1 { // a plain scalar folded from several lines: only its line is known
		return x.line, x.col
	}
	return x.line, x.col + c - 1
}

// locateExprs finds where the rule's condition and exceptions start in the file's text.
func (r *Rule) locateExprs(data []byte, n *yaml.Node) {
	lines := bytes.Split(data, []byte("\n"))
	loc := func(v *yaml.Node) exprLoc {
		if v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			col := v.Column
			if v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				col++
			}
			return exprLoc{line: v.Line, col: col}
		}
		for i := v.Line; i < len(lines); i++ { // v.Line is the indicator's line; the text starts below it
			if t := strings.TrimLeft(string(lines[i]), " "); t != "" {
				return exprLoc{line: i + 1, col: len(lines[i]) - len(t) + 1, block: true}
			}
		}
		return exprLoc{line: v.Line, col: v.Column}
	}
	r.exprs = map[string]exprLoc{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k, v := n.Content[i].Value, n.Content[i+1]; {
		case k == "condition" && v.Kind == yaml.ScalarNode:
			r.exprs["condition"] = loc(v)
		case k == "exceptions" && v.Kind == yaml.SequenceNode:
			for j, item := range v.Content {
				if item.Kind == yaml.ScalarNode {
					r.exprs[fmt.Sprint("exceptions.", j)] = loc(item)
				}
			}
		case k == "mitre_attack" && v.Kind == yaml.SequenceNode:
			for j, item := range v.Content {
				r.locateScalars(fmt.Sprint("mitre_attack.", j), item, loc)
			}
		case k == "correlation":
			r.locateScalars("correlation", v, loc)
		}
	}
}

// locateScalars records where the scalars under n start, keyed by their path below key (mitre_attack.0.technique,
// correlation.group_by.1, correlation.aliases.ip.rule-id), for warnings about values that are not expressions.
func (r *Rule) locateScalars(key string, n *yaml.Node, loc func(*yaml.Node) exprLoc) {
	switch n.Kind {
	case yaml.ScalarNode:
		r.exprs[key] = loc(n)
	case yaml.SequenceNode:
		for j, item := range n.Content {
			r.locateScalars(fmt.Sprint(key, ".", j), item, loc)
		}
	case yaml.MappingNode:
		for j := 0; j+1 < len(n.Content); j += 2 {
			r.locateScalars(key+"."+n.Content[j].Value, n.Content[j+1], loc)
		}
	}
}

// exprErrors turns the error of the expression at key into rule errors: one per problem of an ExprError, at its
// place in the file, or one at the key's line.
func (r *Rule) exprErrors(key, what, text string, err error) []error {
	xe, ok := err.(*ExprError)
	loc, known := r.exprs[key]
	if !ok || !known {
		return []error{&Error{Pos: Position{File: r.Source.File, Line: r.line(strings.Split(key, ".")[0])}, RuleID: r.ID,
			Msg: what + ": " + err.Error()}}
	}
	out := make([]error, 0, len(xe.Issues))
	for _, is := range xe.Issues {
		line, col := loc.at(text, is.Line, is.Col)
		out = append(out, &Error{Pos: Position{File: r.Source.File, Line: line, Col: col}, RuleID: r.ID,
			Msg: fmt.Sprintf("%s: %s: %s", what, xe.Stage, is.Msg)})
	}
	return out
}

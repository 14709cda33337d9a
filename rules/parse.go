package rules

import (
	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/parser"
)

// Parsing is the largest part of compiling a rule: with cel.Env's ANTLR parser, 60% of the compile time of SigmaHQ's
// Windows rules. cel-go also ships a Pratt parser for the same grammar (parser.EnablePrattParser, not yet offered by
// cel.Env), seven times faster on those rules. Rules are parsed with it, and its tree is handed to cel.Env through
// the proto form, the one way cel-go accepts a tree it did not parse (a copy, cheap next to the ANTLR parse). When it
// reports an error, the expression is parsed again by cel.Env's parser, so error messages stay those of the
// reference parser; and TestFastParserAgrees checks that both parsers give the same tree for every rule Vigil ships,
// its tests, and SigmaHQ's converted rules. A condition in the native subset (native.go) is compiled from the Pratt
// tree itself and never reaches cel.Env.

// newFastParser builds a Pratt parser with the options cel.Env gives its own parser: its macros, optional syntax,
// and the expression size limit the Sigma library raises.
func newFastParser(env *cel.Env) (*parser.Parser, error) {
	return parser.NewParser(
		parser.Macros(env.Macros()...),
		parser.EnableOptionalSyntax(true),
		parser.ExpressionSizeCodePointLimit(sigmaExpressionSizeLimit),
		parser.EnablePrattParser(true),
	)
}

// fastParse parses expr with the fast parser; nil when it finds an error (or the Env is the reference).
func (e *Env) fastParse(expr string) *ast.AST {
	if e.reference {
		return nil
	}
	tree, errs := e.fast.Parse(celSource(expr))
	if len(errs.GetErrors()) > 0 {
		return nil
	}
	return tree
}

// parse gives cel.Env the tree of the fast parser (fastParse's, or parsed now when tree is nil), or parses expr with
// cel.Env's parser when the fast one finds an error (see above).
func (e *Env) parse(expr string, tree *ast.AST) (*cel.Ast, *cel.Issues) {
	if e.reference {
		return e.base.Parse(expr)
	}
	if tree == nil {
		tree = e.fastParse(expr)
	}
	if tree != nil {
		if pb, err := ast.ToProto(tree); err == nil {
			if parsed, err := cel.CheckedExprToAstWithSource(pb, celSource(expr)); err == nil {
				return parsed, nil
			}
		}
	}
	return e.base.Parse(expr)
}

func celSource(expr string) common.Source { return common.NewTextSource(expr) }

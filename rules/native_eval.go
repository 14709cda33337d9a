package rules

import (
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/vigilsoc/vigil/fields"
)

// The nodes of a native condition (native.go). Each evaluates on the event's tree to CEL's outcome: truthy, falsy
// or errored, where CEL's value would be true, false or an error.

type boolNode interface {
	eval(ev fields.Value) outcome
}

// andNode is CEL's && over its operands: false if any is false, else an error if any is, else true. CEL's && is
// commutative over errors (false && err and err && false are both false), so the order of evaluation is free.
type andNode []boolNode

func (n andNode) eval(ev fields.Value) outcome {
	out := truthy
	for _, x := range n {
		switch x.eval(ev) {
		case falsy:
			return falsy
		case errored:
			out = errored
		}
	}
	return out
}

// orNode is CEL's ||: true if any operand is true, else an error if any is, else false.
type orNode []boolNode

func (n orNode) eval(ev fields.Value) outcome {
	out := falsy
	for _, x := range n {
		switch x.eval(ev) {
		case truthy:
			return truthy
		case errored:
			out = errored
		}
	}
	return out
}

// notNode is CEL's !: an error stays an error.
type notNode struct{ x boolNode }

func (n notNode) eval(ev fields.Value) outcome {
	switch n.x.eval(ev) {
	case truthy:
		return falsy
	case falsy:
		return truthy
	}
	return errored
}

// constNode is `true` or `false`.
type constNode outcome

func (n constNode) eval(fields.Value) outcome { return outcome(n) }

// pathNode reads a field as CEL does: a top-level field (root), or the whole event when root is empty (`_event`),
// then the members named by keys (`a.b`, `_event["b"]`). A missing field or member, or a member of a value that is
// not an object, is an error ("no such attribute", "no such key").
type pathNode struct {
	root string
	keys []string
}

func (p *pathNode) resolve(ev fields.Value) (fields.Value, bool) {
	v := ev
	if p.root != "" {
		if v = ev.Get(p.root); !v.Exists() {
			return v, false
		}
	}
	for _, k := range p.keys {
		if v = v.Get(k); !v.Exists() {
			return v, false
		}
	}
	return v, true
}

// presence tests key on v as CEL's has() and optional selection do: a member of an object, never of a scalar or
// null, and an error on a list (which CEL indexes by number only).
func presence(v fields.Value, key string) outcome {
	switch v.Kind() {
	case fields.Object:
		if v.Get(key).Exists() {
			return truthy
		}
	case fields.Array:
		return errored
	}
	return falsy
}

// hasNode is has(path.key).
type hasNode struct {
	path pathNode
	key  string
}

func (n *hasNode) eval(ev fields.Value) outcome {
	v, ok := n.path.resolve(ev)
	if !ok {
		return errored
	}
	return presence(v, n.key)
}

// optHasNode is path.?k1.?k2....hasValue(): true when every member is there; false when one is missing or its
// parent is a scalar or null.
type optHasNode struct {
	path pathNode
	keys []string
}

func (n *optHasNode) eval(ev fields.Value) outcome {
	v, ok := n.path.resolve(ev)
	if !ok {
		return errored
	}
	for _, k := range n.keys {
		if out := presence(v, k); out != truthy {
			return out
		}
		v = v.Get(k)
	}
	return truthy
}

// sigmaNode is a Sigma function on a field, or on every value of the event (`_event.anyValue()`), with a constant
// pattern: the matcher is the one the CEL binding prepares (functions_sigma.go).
type sigmaNode struct {
	path     pathNode
	anyValue bool
	m        *sigmaMatcher
}

func (n *sigmaNode) eval(ev fields.Value) outcome {
	v, ok := n.path.resolve(ev)
	if !ok {
		return errored
	}
	var match bool
	switch {
	case !n.anyValue:
		match = n.m.matchFields(v, false)
	case v.Kind() == fields.Object:
		match = n.m.matchFields(v, true)
	default:
		match = n.m.match(anyValue{celValue(v)})
	}
	return boolOutcome(match)
}

// sigmaRefNode is a Sigma function whose pattern is another field (a Sigma fieldref): the CEL binding's own slow
// path, which prepares the pattern on every call.
type sigmaRefNode struct {
	x, pattern pathNode
	f          sigmaFunc
}

func (n *sigmaRefNode) eval(ev fields.Value) outcome {
	x, ok := n.x.resolve(ev)
	if !ok {
		return errored
	}
	p, ok := n.pattern.resolve(ev)
	if !ok {
		return errored
	}
	switch n.f.eval(celValue(x), celValue(p)) {
	case types.True:
		return truthy
	case types.False:
		return falsy
	}
	return errored
}

// eqNode is path == lit, or path != lit when ne: CEL's heterogeneous equality (types.Equal), where values of
// different types are unequal, numbers compare by value and a list or map equals no scalar.
type eqNode struct {
	path pathNode
	lit  ref.Val
	ne   bool
}

func (n *eqNode) eval(ev fields.Value) outcome {
	v, ok := n.path.resolve(ev)
	if !ok {
		return errored
	}
	var eq bool
	switch lit := n.lit.(type) {
	case types.String:
		eq = v.Kind() == fields.String && v.Str() == string(lit)
	case types.Int:
		if v.Kind() == fields.Int {
			eq = v.Int() == int64(lit)
			break
		}
		eq = equalValue(v, n.lit)
	default:
		eq = equalValue(v, n.lit)
	}
	return boolOutcome(eq != n.ne)
}

func equalValue(v fields.Value, lit ref.Val) bool {
	switch v.Kind() {
	case fields.Array, fields.Object:
		return false // a list or a map never equals a scalar, nor null
	}
	return types.Equal(celValue(v), lit) == types.True
}

// inNode is path in [literals], CEL's set membership for a constant list of scalars (memberSet).
type inNode struct {
	path pathNode
	set  *memberSet
}

func (n *inNode) eval(ev fields.Value) outcome {
	v, ok := n.path.resolve(ev)
	if !ok {
		return errored
	}
	return boolOutcome(n.set.has(v))
}

// lowerNode is path.lowerAscii() == lit, or path.lowerAscii() in [lits]: lowerAscii fails on a value that is not
// a string.
type lowerNode struct {
	path pathNode
	lits map[string]struct{}
	ne   bool
}

func (n *lowerNode) eval(ev fields.Value) outcome {
	v, ok := n.path.resolve(ev)
	if !ok || v.Kind() != fields.String {
		return errored
	}
	s := v.Str()
	var in bool
	var buf [64]byte
	if len(s) <= len(buf) && isASCII(s) {
		for i := 0; i < len(s); i++ {
			buf[i] = lowerASCII(s[i])
		}
		_, in = n.lits[string(buf[:len(s)])] // no allocation: the compiler looks the bytes up
	} else {
		_, in = n.lits[lowerASCIIText(s)]
	}
	return boolOutcome(in != n.ne)
}

// lowerASCIIText is the ext.Strings library's lowerAscii: ASCII letters lowered, and, as that function goes through
// runes, bytes that are not UTF-8 replaced by U+FFFD.
func lowerASCIIText(s string) string {
	if isASCII(s) {
		for i := 0; i < len(s); i++ {
			if 'A' <= s[i] && s[i] <= 'Z' {
				b := []byte(s)
				for j := i; j < len(b); j++ {
					b[j] = lowerASCII(b[j])
				}
				return string(b)
			}
		}
		return s
	}
	runes := []rune(s)
	for i, r := range runes {
		if 'A' <= r && r <= 'Z' {
			runes[i] = r + 'a' - 'A'
		}
	}
	return string(runes)
}

func boolOutcome(b bool) outcome {
	if b {
		return truthy
	}
	return falsy
}

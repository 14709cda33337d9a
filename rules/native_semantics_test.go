package rules

import (
	"testing"

	"github.com/vigilsoc/vigil/fields"
)

// TestNativeSemantics checks native conditions against CEL's three-valued semantics, case by case: a missing field
// is an error, && and || absorb errors on either side, ! keeps them, == compares across types as CEL does.
func TestNativeSemantics(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cond, event string
		want        outcome
	}{
		{`a == 1 && b == 1`, `{"a": 0}`, falsy}, // false && error
		{`b == 1 && a == 1`, `{"a": 0}`, falsy}, // error && false
		{`a == 0 && b == 1`, `{"a": 0}`, errored},
		{`b == 1 && a == 0`, `{"a": 0}`, errored},
		{`a == 0 || b == 1`, `{"a": 0}`, truthy}, // true || error
		{`b == 1 || a == 0`, `{"a": 0}`, truthy},
		{`a == 1 || b == 1`, `{"a": 0}`, errored},
		{`!(b == 1)`, `{"a": 0}`, errored},
		{`!(a == 0)`, `{"a": 0}`, falsy},
		{`!(a == 1) && !(b == 1)`, `{"a": 0}`, errored},
		{`a == "1"`, `{"a": 1}`, falsy}, // different types are unequal, not an error
		{`a != "1"`, `{"a": 1}`, truthy},
		{`a == 1`, `{"a": 1.0}`, truthy},
		{`a == 1.0`, `{"a": 1}`, truthy},
		{`a == 18446744073709551615u`, `{"a": 18446744073709551615}`, truthy},
		{`a == 1`, `{"a": [1]}`, falsy},
		{`a == 1`, `{"a": {"b": 1}}`, falsy},
		{`a in [1, "1"]`, `{"a": "1"}`, truthy},
		{`a in [1, "1"]`, `{"a": 1.0}`, truthy},
		{`a in [1, "1"]`, `{"a": 2}`, falsy},
		{`a in [1, "1"]`, `{"a": [1]}`, falsy},
		{`a in [1, "1"]`, `{}`, errored},
		{`a == null`, `{"a": null}`, truthy},
		{`a == null`, `{"a": ""}`, falsy},
		{`a == null`, `{}`, errored},
		{`a.lowerAscii() == "security"`, `{"a": "SeCuRiTy"}`, truthy},
		{`a.lowerAscii() == "é"`, `{"a": "É"}`, falsy}, // ASCII letters only
		{`a.lowerAscii() == "security"`, `{"a": 1}`, errored},
		{`a.lowerAscii() in ["x", "y"]`, `{"a": "Y"}`, truthy},
		{`has(_event.a)`, `{}`, falsy},
		{`has(_event.a)`, `{"a": null}`, truthy},
		{`has(a.b)`, `{"a": "x"}`, falsy},
		{`has(a.b)`, `{"a": [1]}`, errored},
		{`has(a.b)`, `{}`, errored},
		{`has(a.b.c)`, `{"a": {"b": {"c": 1}}}`, truthy},
		{`a.b.c == 1`, `{"a": {"b": "x"}}`, errored},
		{`_event["a-b"] == 1`, `{"a-b": 1}`, truthy},
		{`_event.?a.?b.hasValue()`, `{"a": {"b": 1}}`, truthy},
		{`_event.?a.?b.hasValue()`, `{"a": "x"}`, falsy},
		{`_event.?a.?b.hasValue()`, `{"a": [1]}`, errored},
		{`_event[?"a"][?"b"].hasValue()`, `{}`, falsy},
		{`a.icontains("X")`, `{"a": ["y", "zxz"]}`, truthy},
		{`a.icontains("X")`, `{"a": {"b": "x"}}`, falsy},
		{`a.icontains("X")`, `{}`, errored},
		{`!a.icontains("X")`, `{}`, errored},
		{`a.ieq([1, "b"])`, `{"a": "1"}`, truthy},
		{`a.gt(5)`, `{"a": "7"}`, truthy},
		{`a.inCidr("10.0.0.0/8")`, `{"a": "10.1.2.3"}`, truthy},
		{`a.re("^x+$")`, `{"a": "xx"}`, truthy},
		{`a.hourIs([22, 23])`, `{"a": "2024-03-01T23:30:00+02:00"}`, truthy},
		{`a.hourIs(23)`, `{"a": 23}`, falsy},
		{`!a.hourIs(23)`, `{}`, errored},
		{`_event.anyValue().icontains("needle")`, `{"a": {"b": ["hay", "a needle"]}}`, truthy},
		{`a.ieq(b)`, `{"a": "X", "b": "x"}`, truthy}, // a Sigma fieldref
		{`a.ieq(b)`, `{"a": "X"}`, errored},
		{`true && a == 1`, `{"a": 1}`, truthy},
	} {
		x, _, _, err := env.program(tc.cond)
		if err != nil {
			t.Errorf("%s: %v", tc.cond, err)
			continue
		}
		if x.native == nil {
			t.Errorf("%s: compiled with CEL, want natively", tc.cond)
			continue
		}
		ev, err := fields.Parse([]byte(tc.event))
		if err != nil {
			t.Fatal(err)
		}
		act := &activation{fields: ev}
		if got := x.eval(act); got != tc.want {
			t.Errorf("%s on %s: got %v natively, want %v", tc.cond, tc.event, got, tc.want)
		}
		if got := celOutcome(x.celEval(act)); got != tc.want {
			t.Errorf("%s on %s: got %v with CEL, want %v: the case is wrong", tc.cond, tc.event, got, tc.want)
		}
	}
}

// TestNativeFallback checks that expressions outside the native subset compile with CEL, and that errors are CEL's,
// word for word, whether or not the expression has the subset's form.
func TestNativeFallback(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, cond := range []string{
		`a.size() > 1`,
		`a + 1 == 2`,
		`1 == a`,
		`a[0] == "x"`,
		`type.ieq("x")`,         // a name CEL resolves itself
		`int == 1`,              // likewise
		`a.ieq(b.lowerAscii())`, // a pattern that is neither a constant nor a field
		`a in []`,               // CEL folds it to false without reading a
		`a.exists(x, x == 1)`,   // a loop
		`_event.a.anyValue().icontains("x")`,
	} {
		x, _, _, err := env.program(cond)
		if err != nil {
			t.Errorf("%s: %v", cond, err)
			continue
		}
		if x.native != nil {
			t.Errorf("%s: compiled natively, want CEL", cond)
		}
	}
	for _, cond := range []string{
		`"a" == 1`,
		`a.lowerAscii() == 1`,
		`a.re("(")`,
		`a.re(b)`,
		`a.inCidr("10.0.0.0/33")`,
		`a.gt("x")`,
		`a.ieq(null)`,
		`a.ieq([{"k": 1}])`,
		`a == 1 &&`,
		`a`,
		`a.nosuch("x")`,
	} {
		_, _, _, got := env.program(cond)
		_, _, _, want := env.celProgram(cond, nil)
		if got == nil || want == nil || got.Error() != want.Error() {
			t.Errorf("%s: got error %v, want CEL's %v", cond, got, want)
		}
	}
}

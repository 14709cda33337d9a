package rules

import (
	"testing"

	"cel.dev/cel-go/common/types"

	"github.com/vigilsoc/vigil/fields"
)

// TestTreeValuesLikeMaps evaluates conditions on an event read in place (the tree's CEL map and list values) and on
// the same event as plain Go maps, which CEL wraps with its own values, and requires the same outcome: the same
// result, or an error in both.
func TestTreeValuesLikeMaps(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	const js = `{"event": {"category": ["process", "start"], "code": 4688, "risk": 2.5}, "n": null,
		"process": {"name": "x", "args": ["a", "-nop"]}, "items": [{"k": "v"}, {"k": "w", "n": [1, 2]}], "empty": {},
		"none": [], "big": 18446744073709551615}`
	tree, err := fields.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	plain := tree.Map()
	plain[RootVariable] = tree.Map()
	// Every condition is true on the plain maps, but for these, which are errors there.
	errors := map[string]bool{`event.category[5] == "x"`: true, `event.category[-1] == "x"`: true,
		`event[1] == "x"`: true, `event.nothing == null`: true}
	for _, cond := range []string{
		`event.category == ["process", "start"]`,
		`event == {"category": ["process", "start"], "code": 4688, "risk": 2.5}`,
		`event != {"category": ["process"], "code": 4688, "risk": 2.5}`,
		`size(event) == 3 && size(event.category) == 2 && event.category.size() == 2 && size(empty) == 0`,
		`"code" in event && !("x" in event) && "start" in event.category && !("x" in event.category)`,
		`size(event.category + ["x"]) == 3 && (["x"] + event.category)[0] == "x"`,
		`event.category[1] == "start"`,
		`event.category[5] == "x"`,
		`event.category[-1] == "x"`,
		`event.category[1.0] == "start"`,
		`event[1] == "x"`,
		`event["code"] == 4688 && event.code == 4688.0 && event.risk > 2`,
		`has(event.code) && !has(event.nothing) && has(_event.n) && has(process.args)`,
		`!has(event.code.x)`,
		`event.exists(k, k == "code") && event.all(k, k != "") && event.exists_one(k, k == "risk")`,
		`event.category.exists(c, c == "start") && event.category.all(c, c.size() > 0)`,
		`event.category.map(c, c.upperAscii()) == ["PROCESS", "START"]`,
		`event.category.filter(c, c == "start") == ["start"]`,
		`process.args.join(" ") == "a -nop"`,
		`type(event) == map && type(event.category) == list && type(n) == null_type`,
		`n == null`,
		`event.nothing == null`,
		`string(event.code) == "4688" && int(event.risk) == 2 && big > 0u`,
		`_event.event.code == 4688 && _event["process"]["name"] == "x"`,
		`items.exists(i, i.k == "v") && items[1].n[1] == 2 && items[0] == {"k": "v"}`,
		`items.exists(i, i.n.exists(x, x == 2))`,
		`{"a": event.category}.a[0] == "process"`,
		`event in [{"category": ["process", "start"], "code": 4688, "risk": 2.5}]`,
		`dyn(event.category) == dyn(["process", "start"]) && none == [] && empty == {}`,
		`process.name.startsWith("x") && process.args[1].contains("nop")`,
		`event.category.sort() == ["process", "start"]`,
	} {
		c, err := env.Compile(&Rule{ID: "t", Name: "t", Severity: "low", Condition: cond})
		if err != nil {
			t.Errorf("compile %s: %v", cond, err)
			continue
		}
		want, wantErr := c.cond.celEval(plain)
		got, gotErr := c.cond.celEval(&activation{fields: tree})
		if native := c.cond.eval(&activation{fields: tree}); native != celOutcome(got, gotErr) {
			t.Errorf("%s: got %v natively, want %v as CEL", cond, native, celOutcome(got, gotErr))
		}
		if (wantErr != nil) != errors[cond] || wantErr == nil && want != types.True {
			t.Errorf("%s on plain maps: got %v (error %v): the case is wrong", cond, want, wantErr)
		}
		switch {
		case (gotErr != nil) != (wantErr != nil):
			t.Errorf("%s: got error %v, want %v", cond, gotErr, wantErr)
		case gotErr == nil && got.Equal(want) != want.Equal(want):
			t.Errorf("%s: got %v, want %v", cond, got, want)
		}
	}
}

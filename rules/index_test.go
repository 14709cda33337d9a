package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestSubstrings(t *testing.T) {
	lits := []string{"he", "she", "his", "hers", "", "cmd.exe", "e"}
	a := newSubstrings(lits)
	for _, text := range []string{"ushers", "C:\\windows\\cmd.exe /c", "", "xyz", "hishe"} {
		got := a.scan(text, nil)
		slices.Sort(got)
		got = slices.Compact(got)
		var want []int32
		for i, l := range lits {
			if l != "" && strings.Contains(text, l) {
				want = append(want, int32(i))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("scan(%q): got %v, want %v", text, got, want)
		}
	}
}

func TestRegexLiteral(t *testing.T) {
	cases := []struct{ pattern, want string }{
		{`(?i)invoke-expression`, "e-expre"}, // cut at k and s: (?i)k also matches U+212A, s U+017F
		{`(?i)downloadstring\(`, "download"},
		{`^C:\\Windows\\Temp\\.*\.exe$`, `c:\windows\temp\`},
		{`a|b`, ""},
		{`(?i)[a-z]+`, ""},
		{`(mimikatz)`, "mimikatz"},
		{`(?i)ÉTÉ`, "t"},
		{`[`, ""},
	}
	for _, tc := range cases {
		got := regexLiteral(tc.pattern)
		if got != tc.want {
			t.Errorf("regexLiteral(%q): got %q, want %q", tc.pattern, got, tc.want)
		}
		// The literal is a necessary condition: any text the pattern matches contains it once lowercased.
		if re, err := regexp.Compile(tc.pattern); err == nil && got != "" {
			for _, text := range []string{"INVOKE-EXPRESSION", "DownloadString(", `C:\Windows\Temp\x.exe`, "MIMIKATZ mimikatz"} {
				if re.MatchString(text) && !strings.Contains(string(appendLowerASCII(nil, text)), got) {
					t.Errorf("%q matches %q but its lowercase lacks %q", tc.pattern, text, got)
				}
			}
		}
	}
}

// TestIndexRequirements checks which conditions the index can narrow, and that each narrowing keeps every match.
func TestIndexRequirements(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cond    string
		indexed bool
		match   string
	}{
		{`event.category == "process" && process.name == "x"`, true, `{"event":{"category":"process"},"process":{"name":"x"}}`},
		{`"process" in event.category && process.name in ["a", "x"]`, true, `{"event":{"category":["process"]},"process":{"name":"x"}}`},
		{`process.name.lowerAscii() == "cmd.exe"`, true, `{"process":{"name":"CMD.EXE"}}`},
		{`process.command_line.lowerAscii().contains("-enc")`, true, `{"process":{"command_line":"PS -ENC x"}}`},
		{`file.path.endsWith(".ps1") || event.code == 4104`, true, `{"event":{"code":4104.0}}`},
		{`process.command_line.matches("(?i)iex.*webclient")`, true, `{"process":{"command_line":"IEX (New-Object Net.WebClient)"}}`},
		{`network.bytes > 1000 && !cidr("10.0.0.0/8").containsIP(destination.ip)`, true, `{"network":{"bytes":5000},"destination":{"ip":"8.8.8.8"}}`},
		{`process.args.exists(a, a == "-nop")`, true, `{"process":{"args":["-nop"]}}`},
		{`process.args.exists(a, a.lowerAscii().startsWith("-e"))`, true, `{"process":{"args":["x", "-EncodedCommand"]}}`},
		{`process.args.exists(a, has(a.x))`, true, `{"process":{"args":[{"x":1}]}}`},
		{`process.args.exists(a, "x" in a)`, true, `{"process":{"args":[["x"]]}}`},
		{`process.args.exists(a, a.k == "v")`, true, `{"process":{"args":[{"k":"v"}]}}`},
		{`process.args.all(a, a == "x")`, true, `{"process":{"args":[]}}`},
		{`EventID == 4688 || user.name == "root"`, true, `{"user":{"name":"root"}}`},
		{`(event.action == "a" && process.name == "x") || (event.code == "1" && user.name == "y")`, true, `{"event":{"code":"1"},"user":{"name":"y"}}`},
		{`(event.action == "a" && process.name == "x") || has(process.pid)`, true, `{"process":{"pid":3}}`},
		{`network.bytes >= 1000000 && 5 < destination.port`, true, `{"network":{"bytes":1000000.0},"destination":{"port":6}}`},
		{`network.bytes < 10 && process.pid <= 4`, true, `{"network":{"bytes":9},"process":{"pid":4}}`},
		{`n > 9007199254740992`, true, `{"n":9007199254740993}`},
		{`Image.iendsWith(["\\cmd.exe", "\\powershell.exe"])`, true, `{"Image":"C:\\Windows\\POWERSHELL.EXE"}`},
		{`EventID.ieq("4688")`, true, `{"EventID":4688}`},
		{`EventID.ieq(4688)`, true, `{"EventID":"4688"}`},
		{`Flag.ieq("true")`, true, `{"Flag":true}`},
		{`CommandLine.icontains("kerberos")`, true, `{"CommandLine":"x \u212aerberos"}`},
		{`CommandLine.ilike("*mimi*katz*")`, true, `{"CommandLine":"MIMI_x_KATZ"}`},
		{`Size.icontains("12")`, true, `{"Size":3.125}`},
		{`Tags.ieq("admin")`, true, `{"Tags":["x","ADMIN"]}`},
		{`!(process.name == "x")`, true, `{"process":{"name":"y"}}`},
		{`!(process.name == "x" && user.name == "y")`, false, `{"user":{"name":"z"}}`},
		{`process.name == "x" || has(process.pid)`, true, `{"process":{"pid":1}}`},
		{`has(threat.indicator)`, true, `{"threat":{"indicator":{}}}`},
		{`has(threat.indicator) || event.kind in ["alert"]`, true, `{"event":{"kind":"alert"}}`},
		{`!has(process.pid)`, false, `{"process":{}}`},
		{`has(process.pid) ? false : true`, false, `{"process":{}}`},
		{`_event["user-agent"] == "curl"`, false, `{"user-agent":"curl"}`},
	}
	for _, tc := range cases {
		c := compileCond(t, env, tc.cond)
		if got := c.requires != nil; got != tc.indexed {
			t.Errorf("%s: got indexed=%v, want %v (groups %v)", tc.cond, got, tc.indexed, c.requires)
		}
		set, err := env.CompileSet([]*Rule{c.Rule})
		if err != nil {
			t.Fatal(err)
		}
		ev := event(t, tc.match)
		if got := NewEngine(set).Detect(ev, nil); len(got) != 1 {
			t.Errorf("%s on %s: got %d alerts through the index, want 1", tc.cond, tc.match, len(got))
		}
	}
}

// TestIndexDropsCommonGroups: when many rules test the same event.action, the action group is left out of the index
// for the rules that also test a rare process name, and the engine still finds exactly the matching rules.
func TestIndexDropsCommonGroups(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	var rs []*Rule
	for i := range 100 {
		cond := fmt.Sprintf(`event.action == "start" && process.name == "tool%d.exe"`, i)
		rs = append(rs, compileCond(t, env, cond).Rule)
		rs[i].ID = fmt.Sprintf("r%d", i)
	}
	set, err := env.CompileSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(set.index.owner); got != len(rs) {
		t.Errorf("indexed groups: got %d, want %d (one per rule: the process name)", got, len(rs))
	}
	ev := event(t, `{"event":{"action":"start"},"process":{"name":"tool7.exe"}}`)
	if got := set.index.candidates(ev.Fields, set.index.pool.Get().(*scratch)); len(got) != 1 {
		t.Errorf("candidates: got %v, want only rule 7", got)
	}
	if got := NewEngine(set).Detect(ev, nil); len(got) != 1 || got[0].RuleID != "r7" {
		t.Errorf("alerts: got %v, want one for r7", got)
	}
	ev = event(t, `{"event":{"action":"end"},"process":{"name":"tool7.exe"}}`)
	if got := NewEngine(set).Detect(ev, nil); len(got) != 0 {
		t.Errorf("alerts on another action: got %d, want 0", len(got))
	}
}

// TestIndexChecksGroups: groups the index does not count (a weak event.category, a common event.code) are checked
// once a branch's counted groups hold, with the index's semantics: any element of a list, any key of an object,
// numbers by value.
func TestIndexChecksGroups(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	rs := []*Rule{compileCond(t, env, `event.category == "process" && process.name == "x"`).Rule}
	for i := range 60 { // enough rules on event.code 4688 to make it common
		rs = append(rs, compileCond(t, env, fmt.Sprintf(`event.code == 4688 && user.name == "u%d"`, i)).Rule)
		rs[len(rs)-1].ID = fmt.Sprintf("code%d", i)
	}
	rs = append(rs, compileCond(t, env, `"admin" in user.roles && user.name == "v"`).Rule)
	rs[len(rs)-1].ID = "roles"
	set, err := env.CompileSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.index.checks) != 61 {
		t.Fatalf("got %d branches with checked groups, want 61 (the category rule and the 60 code rules)", len(set.index.checks))
	}
	for _, tc := range []struct {
		event string
		want  int
	}{
		{`{"event":{"category":"process"},"process":{"name":"x"}}`, 1},
		{`{"event":{"category":["network","process"]},"process":{"name":"x"}}`, 1},
		{`{"event":{"category":"network"},"process":{"name":"x"}}`, 0},
		{`{"process":{"name":"x"}}`, 0},
		{`{"event":{"code":4688},"user":{"name":"u7"}}`, 1},
		{`{"event":{"code":4688.0},"user":{"name":"u7"}}`, 1},
		{`{"event":{"code":"4688"},"user":{"name":"u7"}}`, 0},
		{`{"event":{"code":4624},"user":{"name":"u7"}}`, 0},
		{`{"user":{"name":"v","roles":{"admin":true}}}`, 1},
	} {
		ev := event(t, tc.event)
		if got := set.index.candidates(ev.Fields, set.index.pool.Get().(*scratch)); len(got) != tc.want {
			t.Errorf("%s: got candidates %v, want %d", tc.event, got, tc.want)
		}
	}
}

// TestIndexManyTopLevelFields: with many top-level names (flat Windows fields), the index walks the event's members
// once instead of looking each name up, and finds the same candidates.
func TestIndexManyTopLevelFields(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	var rs []*Rule
	for i := range 2 * manyTops {
		rs = append(rs, compileCond(t, env, fmt.Sprintf(`F%d == "v" && G%d.x == %d`, i, i%3, i)).Rule)
		rs[i].ID = fmt.Sprintf("r%d", i)
	}
	set, err := env.CompileSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	if set.index.byTop == nil {
		t.Fatalf("%d top-level names: want them walked through byTop", len(set.index.tops))
	}
	ev := event(t, `{"A": 1, "F7": "v", "G1": {"x": 7}, "F8": "v", "G2": {"x": 9}, "Z": [1, 2]}`)
	got := NewEngine(set).Detect(ev, nil)
	if len(got) != 1 || got[0].RuleID != "r7" {
		t.Errorf("got %d alerts (%v), want one for r7", len(got), got)
	}
	if cands := set.index.candidates(ev.Fields, set.index.pool.Get().(*scratch)); len(cands) != 1 {
		t.Errorf("got candidates %v, want only r7", cands)
	}
}

package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"cel.dev/cel-go/common/types"
)

func TestSubstrings(t *testing.T) {
	lits := []string{"he", "she", "his", "hers", "", "cmd.exe", "e"}
	a := newSubstrings(lits, false)
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

// TestRegexLiterals shows the literals the index takes from regular expressions, and checks on sample texts that each
// set is necessary: a text the pattern matches contains one of them once lowered.
func TestRegexLiterals(t *testing.T) {
	cases := []struct {
		pattern string
		low     lowering
		want    []string
	}{
		{`(?i)invoke-expression`, lowerASCIIOnly, []string{"e-expre"}},  // cut at k and s: (?i)k also matches U+212A, s U+017F
		{`(?i)invoke-expression`, lowerSigma, []string{"invoke-expre"}}, // strings.ToLower lowers U+212A to k, not U+017F to s
		{`(?i)downloadstring\(`, lowerASCIIOnly, []string{"download"}},
		{`^C:\\Windows\\Temp\\.*\.exe$`, lowerASCIIOnly, []string{`c:\windows\temp\`}},
		{`^C:\\Windows\\Temp\\.*\.exe$`, lowerSigma, []string{`c:\windows\temp\`}},
		{`a|b`, lowerSigma, nil},        // too short to narrow
		{`(?i)[a-z]+`, lowerSigma, nil}, // no literal
		{`(mimikatz)`, lowerSigma, []string{"mimikatz"}},
		{`(?i)ÉTÉ`, lowerASCIIOnly, []string{"t"}}, // É also matches é, which lowerAscii leaves alone
		{`(?i)ÉTÉ`, lowerSigma, []string{"été"}},
		{`ÉTÉ`, lowerSigma, []string{"été"}},
		{`[`, lowerSigma, nil},
		// Alternations: one of the branches' literals, when every branch has one.
		{`(?i)(mimikatz|rubeus)\.exe`, lowerSigma, []string{"mimikatz", "rubeu"}},
		{`(?i)(mimikatz|ru)\.exe`, lowerSigma, []string{".exe"}}, // "ru" is too short: the factor .exe instead
		{`(mimikatz|[0-9]+)\.dll`, lowerSigma, []string{".dll"}}, // a branch without a literal
		{`mimikatz|[0-9]+`, lowerSigma, nil},
		{`foo(bar)?`, lowerSigma, []string{"foo"}}, // an optional part requires nothing
		{`(?:foo)?bar`, lowerSigma, []string{"bar"}},
		{`(?:foo)*`, lowerSigma, nil},
		{`(?:foo){2,}x`, lowerSigma, []string{"foo"}},
		{`(?:abc|abd)ef`, lowerSigma, []string{"ab"}}, // the parser factors it: ab[cd]ef
		{`x[Aa]bcdef`, lowerSigma, []string{"bcdef"}},
		{`\bcmd\.exe\s+/c\b`, lowerSigma, []string{"cmd.exe"}},
		{`(?m)^net\s+user$`, lowerSigma, []string{"user"}},
		{`(?i)(set).*&&\s?set.*(environment|invoke|\$?\{?input).*&&.*"`, lowerSigma, []string{"environment", "input", "invoke"}},
		{`\x{FFFD}abc`, lowerSigma, []string{"abc"}}, // U+FFFD also matches a byte that is not UTF-8
		{`(?i)KELVIN`, lowerASCIIOnly, []string{"elvin"}},
		{`KELVIN`, lowerASCIIOnly, []string{"kelvin"}},
	}
	texts := []string{"INVOKE-EXPRESSION", "Invoke-Expre\u017fsion", "DownloadString(", `C:\Windows\Temp\x.exe`,
		"MIMIKATZ mimikatz", "mimikatz.exe", "RUBEUS.EXE", "ru.exe", "12.dll", "été", "ÉTÉ", "éTé", "foobar", "foo", "bar",
		"foofoox", "abcef", "abdef", "xabcdef", "xAbcdef", "cmd.exe  /c", "x\nnet user\ny", "set x&& set input&&\"",
		"\xffabc", "\u212aELVIN", "KELVIN"}
	for _, tc := range cases {
		got := regexLiterals(tc.pattern, tc.low)
		if !slices.Equal(got, tc.want) {
			t.Errorf("regexLiterals(%q, %d): got %q, want %q", tc.pattern, tc.low, got, tc.want)
		}
		re, err := regexp.Compile(tc.pattern)
		if err != nil || got == nil {
			continue
		}
		for _, text := range texts {
			lowered := string(appendLowerASCII(nil, text))
			if tc.low == lowerSigma && !isASCII(text) {
				lowered = strings.ToLower(text)
			}
			if re.MatchString(text) && !slices.ContainsFunc(got, func(l string) bool { return strings.Contains(lowered, l) }) {
				t.Errorf("%q matches %q, but its lowered text %q contains none of %q", tc.pattern, text, lowered, got)
			}
		}
	}
}

// TestCIDRLiterals shows the texts the index takes from inCidr's ranges, and checks that addresses of the range, as
// netip reads them, contain one.
func TestCIDRLiterals(t *testing.T) {
	cases := []struct {
		prefix string
		want   []string
		in     []string
	}{
		{"10.0.0.0/8", []string{"10.", "ffff:"}, []string{"10.1.2.3", "::ffff:10.1.2.3", "::FFFF:a01:203", "0:0:0:0:0:ffff:a01:203"}},
		{"192.168.0.0/16", []string{"192.168.", "ffff:"}, []string{"192.168.0.1", "::ffff:c0a8:1"}},
		{"172.16.0.0/12", []string{"172.", "ffff:"}, []string{"172.31.255.255"}},
		{"52.238.78.88/32", []string{"52.238.78.88", "ffff:"}, []string{"52.238.78.88"}},
		{"10.1.2.3/24", []string{"10.1.2.", "ffff:"}, []string{"10.1.2.200"}},
		{"0.0.0.0/0", nil, nil},
		{"8.0.0.0/5", nil, nil},
		{"2603:1006:2000::/48", []string{"2603:"}, []string{"2603:1006:2000::1", "2603:1006:2000:0:0:0:1.2.3.4", "2603:1006:2000::1%eth0"}},
		{"2A01:111:f400::/48", []string{"2a01:"}, []string{"2a01:111:f400::1", "2A01:0111:F400:0:0:0:0:1"}},
		{"abc::/16", nil, nil}, // the first group has three digits: it can be written 0abc
		{"::1/128", nil, nil},
		{"fe80::/10", nil, nil},
		{"x", nil, nil},
	}
	for _, tc := range cases {
		got := cidrLiterals(tc.prefix)
		if !slices.Equal(got, tc.want) {
			t.Errorf("cidrLiterals(%q): got %q, want %q", tc.prefix, got, tc.want)
		}
		m, err := newSigmaMatcher(sigmaFuncs["inCidr"], types.String(tc.prefix))
		for _, addr := range tc.in {
			if err != nil || !m.matchString(addr) {
				t.Errorf("%s: %s is not in the range (%v)", tc.prefix, addr, err)
				continue
			}
			lowered := strings.ToLower(addr)
			if !slices.ContainsFunc(got, func(l string) bool { return strings.Contains(lowered, l) }) {
				t.Errorf("%s holds %s, which contains none of %q", tc.prefix, addr, got)
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

package rules

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestIndexSigmaPatterns shows the candidates the index yields for rules made only of Sigma's re, *Cased and inCidr
// tests: an event is a candidate exactly when want says, and every event the rule matches is one.
func TestIndexSigmaPatterns(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	type ev struct {
		js   string
		want bool // a candidate
	}
	cases := []struct {
		cond   string
		events []ev
	}{
		{`CommandLine.re("\\\\AppData\\\\Local\\\\Temp\\\\dat[0-9A-Z]{4}\\.tmp")`, []ev{
			{`{"CommandLine":"C:\\Users\\x\\AppData\\Local\\Temp\\datAB12.tmp"}`, true},
			{`{"CommandLine":"C:\\Users\\x\\APPDATA\\Local\\Temp\\dat.tmp"}`, true}, // the literal, lowered, is there
			{`{"CommandLine":"C:\\Users\\x\\AppData\\Roaming\\datAB12.tmp"}`, false},
			{`{"Image":"C:\\Users\\x\\AppData\\Local\\Temp\\datAB12.tmp"}`, false},
		}},
		{`CommandLine.re("(?i)(mimikatz|rubeus)\\.exe")`, []ev{
			{`{"CommandLine":"RUBEUS.exe asktgt"}`, true},
			{`{"CommandLine":"mimiKATZ.EXE"}`, true},
			{`{"CommandLine":"ᴍimikatz"}`, false},
			{`{"CommandLine":"whoami"}`, false},
		}},
		{`CommandLine.re("(?i)invoke-expression")`, []ev{
			{`{"CommandLine":"INVO\u212aE-EXPRESSION"}`, true}, // KELVIN SIGN: (?i)k matches it, ToLower makes it k
			{`{"CommandLine":"Invoke-Expreſsion"}`, true},      // ſ: (?i)s matches it; the literal stops before it
			{`{"CommandLine":"Invoke-Command"}`, false},
		}},
		{`CommandLine.re("^(cmd|powershell)(\\.exe)?\\s")`, []ev{
			{`{"CommandLine":"cmd /c x"}`, true},
			{`{"CommandLine":"PowerShell.exe -nop"}`, true},
			{`{"CommandLine":"bash -c x"}`, false},
		}},
		{`Hash.re("[0-9a-f]{32}")`, nil}, // no literal: evaluated on every event
		{`Image.endsWithCased("\\Temp\\x.exe")`, []ev{
			{`{"Image":"C:\\Temp\\x.exe"}`, true},
			{`{"Image":"C:\\TEMP\\X.EXE"}`, true}, // lowered, the literal is there; the rule does not match
			{`{"Image":"C:\\Temp\\y.exe"}`, false},
		}},
		{`Image.eqCased("Cmd.exe")`, []ev{{`{"Image":"Cmd.exe"}`, true}, {`{"Image":"cmd.EXE"}`, true}, {`{"Image":"cmd.com"}`, false}}},
		{`Image.containsCased(["Foo", "Bär"])`, []ev{{`{"Image":"xBärx"}`, true}, {`{"Image":"xBÄRx"}`, true}, {`{"Image":"xBarx"}`, false}}},
		{`Image.startsWithCased("C:\\Windows")`, []ev{{`{"Image":"C:\\Windows\\x"}`, true}, {`{"Image":"D:\\Windows\\x"}`, false}}},
		{`Image.likeCased("*\\Tools\\*.exe")`, []ev{{`{"Image":"C:\\Tools\\a.exe"}`, true}, {`{"Image":"C:\\Tool\\a.exe"}`, false}}},
		{`EventID.eqCased(4688)`, []ev{{`{"EventID":4688}`, true}, {`{"EventID":"4688"}`, true}, {`{"EventID":4624}`, false}}},
		{`DestinationIp.inCidr(["10.0.0.0/8", "192.168.0.0/16"])`, []ev{
			{`{"DestinationIp":"10.1.2.3"}`, true},
			{`{"DestinationIp":"192.168.4.5"}`, true},
			{`{"DestinationIp":"::ffff:a01:203"}`, true},
			{`{"DestinationIp":"8.8.8.8"}`, false},
			{`{"DestinationIp":"2001:db8::1"}`, false},
		}},
		{`DestinationIp.inCidr(["10.0.0.0/8", "fe80::/10"])`, nil}, // fe80::/10 gives no text
		{`DestinationIp.inCidr("2603:1006::/40")`, []ev{{`{"DestinationIp":"2603:1006::1"}`, true}, {`{"DestinationIp":"2604::1"}`, false}}},
		// Lowering: ASCII text by the automaton as it scans and for the lookup of values of its length, other text
		// with strings.ToLower; lowerAscii() by its letters A-Z only.
		{`Image.ieq(["été", "cmd.exe"]) || Image.icontains("\\TEMP\\")`, []ev{
			{`{"Image":"ÉTÉ"}`, true},
			{`{"Image":"CMD.exe"}`, true},
			{`{"Image":"CMD.exe "}`, false},
			{`{"Image":"C:\\temp\\x"}`, true},
			{`{"Image":"C:\\Temp\\Été"}`, true},
			{`{"Image":"C:\\Tmp\\Été"}`, false},
		}},
		{`process.name.lowerAscii() in ["cmd.exe", "été"] || process.command_line.lowerAscii().contains("-enc")`, []ev{
			{`{"process":{"name":"CMD.EXE"}}`, true},
			{`{"process":{"name":"ÉTé"}}`, false}, // lowerAscii leaves É alone
			{`{"process":{"name":"éTé"}}`, true},
			{`{"process":{"command_line":"powershell -ENC x"}}`, true},
			{`{"process":{"command_line":"powershell -ENV x"}}`, false},
		}},
		// Literals all ASCII: a non-ASCII text is scanned as is, unless it holds İ or K (KELVIN SIGN), which lower to
		// ASCII letters.
		{`Payload.icontains(["invoke", "kerberos"])`, []ev{
			{`{"Payload":"“Invoke” it"}`, true},
			{`{"Payload":"“Invoké” it"}`, false},
			{`{"Payload":"“İNVOKE” it"}`, true},
			{`{"Payload":"\u212aerberos"}`, true},
			{`{"Payload":"ķerberos"}`, false},
		}},
		// A negated test requires only the field (it is never true on a missing one).
		{`!CommandLine.re("mimikatz")`, []ev{{`{"CommandLine":"x"}`, true}, {`{"Image":"mimikatz"}`, false}}},
	}
	for _, tc := range cases {
		c := compileCond(t, env, tc.cond)
		if got, want := c.requires != nil, tc.events != nil; got != want {
			t.Errorf("%s: got indexed=%v, want %v (groups %v)", tc.cond, got, want, c.requires)
		}
		set, err := env.CompileSet([]*Rule{c.Rule})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tc.events {
			event := event(t, e.js)
			cands := set.index.candidates(event.Fields, set.index.pool.Get().(*scratch))
			if got := len(cands) == 1; got != e.want {
				t.Errorf("%s on %s: got candidate=%v, want %v", tc.cond, e.js, got, e.want)
			}
			if matched := len(NewEngine(set.Unindexed()).Detect(event, nil)) == 1; matched && len(cands) == 0 {
				t.Errorf("%s matches %s, which the index drops", tc.cond, e.js)
			}
		}
	}
}

// TestLowersToASCII: İ and KELVIN SIGN are the only runes beyond ASCII that unicode.ToLower turns into ASCII, which
// collectSigmaString relies on.
func TestLowersToASCII(t *testing.T) {
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		if l := unicode.ToLower(r); l < utf8.RuneSelf && !lowersToASCII(string(r)) {
			t.Errorf("unicode.ToLower(%U) is %q, which lowersToASCII misses", r, l)
		}
	}
}

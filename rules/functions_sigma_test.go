package rules

import (
	"strings"
	"testing"
)

// TestSigmaFunctions covers the functions of SigmaFunctions, each with a matching and a non-matching event.
func TestSigmaFunctions(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	cases := []matchCase{
		{"ieq ignores case", `Image.ieq("C:\\Windows\\cmd.exe")`,
			`{"Image":"c:\\WINDOWS\\cmd.EXE"}`, `{"Image":"c:\\windows\\cmd.exe2"}`},
		{"ieq list is any", `User.ieq(["SYSTEM", "LOCAL SERVICE"])`,
			`{"User":"Local Service"}`, `{"User":"bob"}`},
		{"ieq non-ASCII", `User.ieq("ÄRGER")`, `{"User":"ärger"}`, `{"User":"arger"}`},
		{"ieq number against string", `LogonType.ieq(3)`, `{"LogonType":"3"}`, `{"LogonType":"30"}`},
		{"ieq number against number", `EventID.ieq(4688)`, `{"EventID":4688}`, `{"EventID":4689}`},
		{"ieq number text against double", `EventID.ieq("4688")`, `{"EventID":4688.0}`, `{"EventID":4688.5}`},
		{"ieq bool", `Signed.ieq(true)`, `{"Signed":"TRUE"}`, `{"Signed":false}`},
		{"ieq field list", `Tags.ieq("b")`, `{"Tags":["a","B"]}`, `{"Tags":["a","c"]}`},
		{"ieq null never matches", `!Image.ieq("x")`, `{"Image":null}`, `{"Image":"X"}`},
		{"ieq map never matches", `!Image.ieq("x")`, `{"Image":{"x":"x"}}`, `{"Image":"x"}`},
		{"icontains", `CommandLine.icontains([" -ENC", "-e "])`,
			`{"CommandLine":"powershell -enc AAA"}`, `{"CommandLine":"powershell -c x"}`},
		{"icontains at end", `CommandLine.icontains("xyz")`, `{"CommandLine":"abXYZ"}`, `{"CommandLine":"abXY"}`},
		{"icontains after false starts", `CommandLine.icontains("xxy")`, `{"CommandLine":"xXxXxY"}`, `{"CommandLine":"xXxXx"}`},
		{"icontains non-letter start", `CommandLine.icontains("\\temp\\")`, `{"CommandLine":"C:\\TEMP\\x"}`, `{"CommandLine":"C:\\TEMPx"}`},
		{"icontains many", `CommandLine.icontains(["aa", "bb", "cc", "dd", "ee", "ff", "gg", "ii", "jj", "kk", "ll", "nn", "h", "mimikatz", "🦆"])`,
			`{"CommandLine":"run MimiKatz"}`, `{"CommandLine":"run mimi katz"}`},
		{"icontains many, one byte", `CommandLine.icontains(["aa", "bb", "cc", "dd", "ee", "ff", "gg", "ii", "jj", "kk", "ll", "nn", "x"])`,
			`{"CommandLine":"X"}`, `{"CommandLine":"a b c"}`},
		{"icontains many, non-ASCII", `CommandLine.icontains(["aa", "bb", "cc", "dd", "ee", "ff", "gg", "ii", "jj", "kk", "ll", "nn", "🦆x"])`,
			`{"CommandLine":"run 🦆X"}`, `{"CommandLine":"run 🦆"}`},
		{"containsCased many", `CommandLine.containsCased(["aa", "bb", "cc", "dd", "ee", "ff", "gg", "ii", "jj", "kk", "ll", "nn", "Mimi"])`,
			`{"CommandLine":"run Mimi"}`, `{"CommandLine":"run mimi"}`},
		{"icontains non-ASCII literal on ASCII text", `CommandLine.icontains("é")`, `{"CommandLine":"cafÉ"}`, `{"CommandLine":"cafe"}`},
		{"istartsWith", `Image.istartsWith("c:\\users\\")`, `{"Image":"C:\\Users\\a.exe"}`, `{"Image":"D:\\Users\\a.exe"}`},
		{"iendsWith", `Image.iendsWith(["\\powershell.exe", "\\pwsh.exe"])`,
			`{"Image":"C:\\x\\PWSH.exe"}`, `{"Image":"C:\\x\\pwsh.exe.bak"}`},
		{"ilike star", `Image.ilike("c:\\users\\*\\appdata\\*.exe")`,
			`{"Image":"C:\\Users\\bob\\AppData\\x.EXE"}`, `{"Image":"C:\\Users\\bob\\x.exe"}`},
		{"ilike question", `Name.ilike("prog?.exe")`, `{"Name":"ProgA.exe"}`, `{"Name":"Prog.exe"}`},
		{"ilike backtracks", `Name.ilike("*a*b")`, `{"Name":"xaxaxb"}`, `{"Name":"xaxbx"}`},
		{"ilike star matches everything", `Name.ilike("*")`, `{"Name":""}`, `{"Name":null}`},
		{"ilike question on non-ASCII", `Name.ilike("?x")`, `{"Name":"éX"}`, `{"Name":"éé"}`},
		{"cased equality", `Name.eqCased("Abc")`, `{"Name":"Abc"}`, `{"Name":"abc"}`},
		{"cased contains", `Name.containsCased("Bc")`, `{"Name":"aBcd"}`, `{"Name":"abcd"}`},
		{"cased startsWith", `Name.startsWithCased("Ab")`, `{"Name":"Abc"}`, `{"Name":"abc"}`},
		{"cased endsWith", `Name.endsWithCased("bC")`, `{"Name":"abC"}`, `{"Name":"abc"}`},
		{"cased like", `Name.likeCased("A*C")`, `{"Name":"AbC"}`, `{"Name":"abc"}`},
		{"re", `CommandLine.re("(?i)invoke-(webrequest|expression)")`,
			`{"CommandLine":"IEX Invoke-Expression"}`, `{"CommandLine":"Get-Item"}`},
		{"re on a number", `Port.re("^44[0-9]$")`, `{"Port":443}`, `{"Port":80}`},
		{"inCidr", `DestinationIp.inCidr(["10.0.0.0/8", "fe80::/10"])`,
			`{"DestinationIp":"fe80::1%eth0"}`, `{"DestinationIp":"11.0.0.1"}`},
		{"inCidr mapped IPv4", `DestinationIp.inCidr("10.0.0.0/8")`,
			`{"DestinationIp":"::ffff:10.1.2.3"}`, `{"DestinationIp":"not an address"}`},
		{"gt", `Size.gt(100)`, `{"Size":101}`, `{"Size":100}`},
		{"gte numeric string", `Size.gte(100)`, `{"Size":"100"}`, `{"Size":"99.5"}`},
		{"lt", `Size.lt(1.5)`, `{"Size":1}`, `{"Size":"abc"}`},
		{"lte", `Size.lte(-1)`, `{"Size":-1}`, `{"Size":0}`},
		{"hourIs as written, offset kept", `T.hourIs([22, 23])`, `{"T":"2024-03-01T23:30:00+02:00"}`, `{"T":"2024-03-01T21:30:00Z"}`},
		{"hourIs Sysmon UtcTime", `UtcTime.hourIs(2)`, `{"UtcTime":"2019-05-14 02:05:48.469"}`, `{"UtcTime":"2019-05-14 12:05:48.469"}`},
		{"minuteIs", `T.minuteIs(5)`, `{"T":"2019-05-14T02:05:48.4691234Z"}`, `{"T":"2019-05-14T02:06:00Z"}`},
		{"hourIs needs a time of day", `T.hourIs(0)`, `{"T":"2019-05-14 00:00"}`, `{"T":"2019-05-14"}`},
		{"dayIs on a date", `T.dayIs(14)`, `{"T":"2019-05-14"}`, `{"T":"2019-05-15T00:00:00Z"}`},
		{"weekIs is ISO", `T.weekIs(1)`, `{"T":"2024-12-30T10:00:00Z"}`, `{"T":"2024-12-29T10:00:00Z"}`},
		{"monthIs list", `T.monthIs([11, 12])`, `{"T":["x","2024-12-01"]}`, `{"T":"2024-10-01"}`},
		{"yearIs not on numbers", `T.yearIs(2024)`, `{"T":"2024-01-01T00:00:00Z"}`, `{"T":2024}`},
		{"yearIs not on other text", `!T.yearIs(2024)`, `{"T":"2024 was a year"}`, `{"T":"2024-02-29"}`},
		{"field reference", `A.ieq(B)`, `{"A":"x","B":"X"}`, `{"A":"x","B":"y"}`},
		{"keyword search", `_event.anyValue().icontains("mimikatz")`,
			`{"a":{"b":["x","run MimiKatz now"]}}`, `{"mimikatz":"key, not value"}`},
		{"keyword search numbers", `_event.anyValue().ieq(200)`, `{"a":{"status":200}}`, `{"a":{"status":404}}`},
	}
	runMatchCases(t, env, cases)
}

func TestSigmaFunctionsRejectBadPatterns(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, cond := range []string{`x.re("(")`, `x.inCidr("10.0.0.0/33")`, `x.gt("abc")`,
		`x.hourIs(24)`, `x.minuteIs("5m")`, `x.dayIs(0)`, `x.weekIs(54)`, `x.monthIs(13)`, `x.yearIs(1.5)`} {
		_, err := env.Compile(&Rule{ID: "t", Name: "t", Severity: "low", Condition: cond})
		if err == nil || !strings.Contains(err.Error(), "condition") {
			t.Errorf("compile %s: got %v, want a load error", cond, err)
		}
	}
}

func BenchmarkSigmaFunctions(b *testing.B) {
	env, err := NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	ev := event(b, `{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational",`+
		`"Image":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",`+
		`"CommandLine":"powershell.exe -NoProfile -ExecutionPolicy Bypass -Command Get-ChildItem C:\\Users",`+
		`"ScriptBlock":"`+strings.Repeat(`$Items = Get-ChildItem -Path $Env:TEMP | Where-Object { $_.Length -gt 100 }; `, 200)+`"}`)
	for _, cond := range []string{
		`EventID == 1 && Image.endsWith("\\powershell.exe")`,
		`EventID.ieq(1) && Image.iendsWith("\\powershell.exe")`,
		`Image.lowerAscii().endsWith("\\powershell.exe") && CommandLine.lowerAscii().contains(" -enc")`,
		`Image.iendsWith("\\powershell.exe") && CommandLine.icontains(" -enc")`,
		`CommandLine.matches("(?i) -enc")`,
		`CommandLine.ilike("*-executionpolicy*bypass*")`,
		`ScriptBlock.icontains(["invoke-mimikatz", "sekurlsa::", "-encodedcommand", "downloadstring(", "frombase64string("])`,
		`ScriptBlock.icontains(["invoke-mimikatz", "sekurlsa::", "-encodedcommand", "downloadstring(", "frombase64string(", "net user", "whoami", "rubeus", "kerberoast", "-nop", "bypass", "hidden", "iex("])`,
	} {
		c := compileCond(b, env, cond)
		b.Run(cond, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Match(ev)
			}
		})
	}
}

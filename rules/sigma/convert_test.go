package sigma

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
)

// sigmaRule wraps a detection section into a rule of an unmapped log source, so the condition is the detection only.
func sigmaRule(detection string) string {
	return "title: test rule\nid: 0b5c1f3e-1111-4222-8333-944444444444\nlogsource: {product: test}\ndetection:\n" +
		indent(strings.TrimSpace(detection)) + "\n"
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

func convertText(t *testing.T, conv *Converter, text string) (*Result, error) {
	t.Helper()
	parsed, errs := Parse("test.yml", []byte(text))
	if len(errs) > 0 {
		return nil, errs[0]
	}
	if len(parsed) != 1 {
		t.Fatalf("parsed %d rules, want 1", len(parsed))
	}
	return conv.Convert(parsed[0])
}

func testEvent(t *testing.T, js string) *vigil.Event {
	t.Helper()
	f, err := fields.Parse([]byte(js))
	if err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return &vigil.Event{Raw: []byte(js), Fields: f, Tenant: "default"}
}

// TestDetectionLanguage covers every modifier and condition form, each with a matching and a non-matching event.
func TestDetectionLanguage(t *testing.T) {
	conv := newTestConverter(t, "windows-flat")
	conv.Placeholders = map[string][]string{"admins": {"root", "adm*"}}
	cases := []struct {
		name, detection, match, noMatch string
	}{
		// Maps, lists, values.
		{"map is AND", "sel: {A: x, B: y}\ncondition: sel", `{"A":"x","B":"y"}`, `{"A":"x","B":"z"}`},
		{"value list is OR", "sel: {A: [x, y]}\ncondition: sel", `{"A":"y"}`, `{"A":"z"}`},
		{"list of maps is OR", "sel: [{A: x}, {B: y}]\ncondition: sel", `{"B":"y"}`, `{"A":"y","B":"x"}`},
		{"all", "sel: {A|contains|all: [x, y]}\ncondition: sel", `{"A":"y-x"}`, `{"A":"x"}`},
		{"case-insensitive by default", "sel: {A: HeLLo}\ncondition: sel", `{"A":"hello"}`, `{"A":"hell"}`},
		{"wildcard star", "sel: {A: 'a*c'}\ncondition: sel", `{"A":"abbbc"}`, `{"A":"abbbd"}`},
		{"wildcard question", "sel: {A: 'a?c'}\ncondition: sel", `{"A":"abc"}`, `{"A":"abbc"}`},
		{"escaped star is plain", `sel: {A: 'a\*c'}` + "\ncondition: sel", `{"A":"a*c"}`, `{"A":"abc"}`},
		{"escaped question is plain", `sel: {A: 'a\?c'}` + "\ncondition: sel", `{"A":"a?c"}`, `{"A":"abc"}`},
		{"escaped backslash before wildcard", `sel: {A: 'a\\*'}` + "\ncondition: sel", `{"A":"a\\bc"}`, `{"A":"abc"}`},
		{"plain backslash", `sel: {A: 'C:\Windows\x.exe'}` + "\ncondition: sel", `{"A":"c:\\windows\\X.exe"}`, `{"A":"c:/windows/x.exe"}`},
		{"literal star next to a wildcard", `sel: {A: 'a\**c'}` + "\ncondition: sel", `{"A":"a*xxc"}`, `{"A":"axxc"}`},
		{"number", "sel: {EventID: 4688}\ncondition: sel", `{"EventID":4688}`, `{"EventID":4689}`},
		{"number against text", "sel: {LogonType: 3}\ncondition: sel", `{"LogonType":"3"}`, `{"LogonType":"10"}`},
		{"boolean", "sel: {Signed: false}\ncondition: sel", `{"Signed":"false"}`, `{"Signed":"true"}`},
		{"hex stays text", "sel: {Opts: 0x40810000}\ncondition: sel", `{"Opts":"0x40810000"}`, `{"Opts":1082196992}`},
		{"empty value", "sel: {A: ''}\ncondition: sel", `{"A":""}`, `{"A":"x"}`},
		{"null is absent or null", "sel: {A: x, B: null}\ncondition: sel", `{"A":"x"}`, `{"A":"x","B":"y"}`},
		{"null matches null", "sel: {B: null}\ncondition: sel", `{"B":null}`, `{"B":""}`},
		{"field list value matches any element", "sel: {A: x}\ncondition: sel", `{"A":["y","X"]}`, `{"A":["y"]}`},
		{"field name with a dash", "sel: {cs-method: POST}\ncondition: sel", `{"cs-method":"post"}`, `{"cs-method":"get"}`},
		{"field name with a space", "sel: {'Threat Name': x}\ncondition: sel", `{"Threat Name":"x"}`, `{"Threat Name":"y"}`},
		{"dotted field is nested", "sel: {process.name: x}\ncondition: sel", `{"process":{"name":"x"}}`, `{"process":{"name":"y"}}`},
		// String modifiers.
		{"contains", "sel: {A|contains: mid}\ncondition: sel", `{"A":"xMIDx"}`, `{"A":"mi-d"}`},
		{"startswith", "sel: {A|startswith: pre}\ncondition: sel", `{"A":"PREfix"}`, `{"A":"xpre"}`},
		{"endswith", "sel: {A|endswith: '\\cmd.exe'}\ncondition: sel", `{"A":"C:\\cmd.EXE"}`, `{"A":"C:\\xcmd.exe"}`},
		{"contains with inner wildcard", "sel: {A|contains: 'a*b'}\ncondition: sel", `{"A":"xxaxxbxx"}`, `{"A":"xxbxxaxx"}`},
		{"cased", "sel: {A|cased: Abc}\ncondition: sel", `{"A":"Abc"}`, `{"A":"abc"}`},
		{"cased contains", "sel: {A|contains|cased: Bc}\ncondition: sel", `{"A":"aBcd"}`, `{"A":"abcd"}`},
		{"cased wildcard", "sel: {A|cased: 'A*C'}\ncondition: sel", `{"A":"AbC"}`, `{"A":"abc"}`},
		{"re", "sel: {A|re: '^a[0-9]+$'}\ncondition: sel", `{"A":"a123"}`, `{"A":"A123"}`},
		{"re is a search", "sel: {A|re: 'b+'}\ncondition: sel", `{"A":"abbc"}`, `{"A":"ac"}`},
		{"re i", "sel: {A|re|i: '^abc$'}\ncondition: sel", `{"A":"ABC"}`, `{"A":"ABCD"}`},
		{"re m", "sel: {A|re|m: '^b$'}\ncondition: sel", `{"A":"a\nb\nc"}`, `{"A":"a b c"}`},
		{"re s", "sel: {A|re|s: 'a.c'}\ncondition: sel", `{"A":"a\nc"}`, `{"A":"a\n\nc"}`},
		{"base64", "sel: {A|base64: 'secret'}\ncondition: sel", `{"A":"c2VjcmV0"}`, `{"A":"secret"}`},
		{"base64 contains", "sel: {A|base64|contains: 'http://'}\ncondition: sel", `{"A":"x aHR0cDovLw== y"}`, `{"A":"http://"}`},
		{"base64offset contains", "sel: {A|base64offset|contains: 'Invoke-'}\ncondition: sel",
			`{"A":"powershell -e eEludm9rZS1FeHByZXNzaW9u"}`, `{"A":"powershell -e SW52b2tl"}`},
		{"wide base64offset contains", "sel: {A|wide|base64offset|contains: 'ping'}\ncondition: sel",
			`{"A":"-enc cABpAG4AZwAgADEAMgA3AC4AMAAuADAALgAxAA=="}`, `{"A":"-enc cGluZyAxMjcuMC4wLjE="}`},
		{"utf16le", "sel: {A|utf16le|base64: 'ab'}\ncondition: sel", `{"A":"YQBiAA=="}`, `{"A":"AGEAYg=="}`},
		{"utf16be", "sel: {A|utf16be|base64: 'ab'}\ncondition: sel", `{"A":"AGEAYg=="}`, `{"A":"YQBiAA=="}`},
		{"utf16 with byte order mark", "sel: {A|utf16|base64: 'a'}\ncondition: sel", `{"A":"//5hAA=="}`, `{"A":"YQA="}`},
		{"wide without encoding", "sel: {A|wide|contains: 'ab'}\ncondition: sel", `{"A":"xa\u0000b\u0000x"}`, `{"A":"xab"}`},
		{"windash", "sel: {A|windash|contains: ' -enc '}\ncondition: sel", `{"A":"powershell /enc x"}`, `{"A":"powershell enc x"}`},
		{"windash en dash", "sel: {A|windash|contains: ' -enc '}\ncondition: sel", `{"A":"powershell –enc x"}`, `{"A":"powershell _enc x"}`},
		{"windash all", "sel: {A|windash|contains|all: [' -a ', ' -b ']}\ncondition: sel", `{"A":"x /b -a y"}`, `{"A":"x /b y"}`},
		{"base64offset all", "sel: {A|base64offset|contains|all: [foo, bar]}\ncondition: sel", `{"A":"Zm9v YmFy"}`, `{"A":"Zm9v"}`},
		{"windash keeps inner dashes", "sel: {A|windash: 'a-b'}\ncondition: sel", `{"A":"a-b"}`, `{"A":"a/b"}`},
		{"cidr", "sel: {Ip|cidr: ['10.0.0.0/8', 'fe80::/10']}\ncondition: sel", `{"Ip":"10.2.3.4"}`, `{"Ip":"11.2.3.4"}`},
		{"cidr IPv6", "sel: {Ip|cidr: 'fe80::/10'}\ncondition: sel", `{"Ip":"fe80::1"}`, `{"Ip":"::1"}`},
		{"gt", "sel: {N|gt: 10}\ncondition: sel", `{"N":11}`, `{"N":10}`},
		{"gte", "sel: {N|gte: 10}\ncondition: sel", `{"N":"10"}`, `{"N":9}`},
		{"lt", "sel: {N|lt: 10}\ncondition: sel", `{"N":9.5}`, `{"N":10}`},
		{"lte", "sel: {N|lte: '10'}\ncondition: sel", `{"N":10}`, `{"N":"11"}`},
		{"hour", "sel: {T|hour: [22, 23]}\ncondition: sel", `{"T":"2024-03-01 23:10:00.123"}`, `{"T":"2024-03-01T21:10:00Z"}`},
		{"minute", "sel: {T|minute: 0}\ncondition: sel", `{"T":"2024-03-01T21:00:59Z"}`, `{"T":"2024-03-01T21:01:00Z"}`},
		{"day month year", "sel: {T|day: 29, T|month: 2, T|year: 2024}\ncondition: sel", `{"T":"2024-02-29"}`, `{"T":"2023-02-28"}`},
		{"week", "sel: {T|week: 53}\ncondition: sel", `{"T":"2020-12-31T08:00:00Z"}`, `{"T":"2021-01-04T08:00:00Z"}`},
		{"not hour on an absent field", "sel: {A: x}\nnight: {T|hour: [0, 1, 2, 3, 4, 5]}\ncondition: sel and not night",
			`{"A":"x"}`, `{"A":"x","T":"2024-01-01T03:00:00Z"}`},
		{"neq", "sel: {A: x, B|neq: y}\ncondition: sel", `{"A":"x","B":"z"}`, `{"A":"x","B":"Y"}`},
		{"neq on an absent field", "sel: {A: x, B|neq: y}\ncondition: sel", `{"A":"x"}`, `{"A":"y"}`},
		{"exists", "sel: {A|exists: true}\ncondition: sel", `{"A":null}`, `{"B":"x"}`},
		{"exists false", "sel: {A: x, B|exists: false}\ncondition: sel", `{"A":"x"}`, `{"A":"x","B":""}`},
		{"fieldref", "sel: {A|fieldref: B}\ncondition: sel", `{"A":"X","B":"x"}`, `{"A":"x","B":"y"}`},
		{"fieldref contains", "sel: {A|fieldref|contains: B}\ncondition: sel", `{"A":"xyz","B":"Y"}`, `{"A":"xyz","B":"w"}`},
		{"fieldref negated on absent field", "sel: {A|fieldref: B}\ncondition: not sel", `{"A":"x"}`, `{"A":"x","B":"x"}`},
		{"expand", "sel: {User|expand: '%admins%'}\ncondition: sel", `{"User":"admin1"}`, `{"User":"bob"}`},
		{"expand escaped percent", "sel: {A|expand: '\\%admins%'}\ncondition: sel", `{"A":"%admins%"}`, `{"A":"root"}`},
		// Keywords.
		{"keyword", "keywords: ['mimikatz', 'sekurlsa']\ncondition: keywords", `{"msg":{"text":"Run MIMIKATZ"}}`, `{"msg":"mimi katz"}`},
		{"keyword wildcard", "keywords: ['rm * /']\ncondition: keywords", `{"cmd":"sudo rm -rf / now"}`, `{"cmd":"rm x"}`},
		{"keyword all", "keywords:\n  '|all': ['alpha', 'beta']\ncondition: keywords", `{"a":"alpha","b":["beta"]}`, `{"a":"alpha"}`},
		{"keyword number", "keywords: [404]\ncondition: keywords", `{"status":404}`, `{"status":200}`},
		// Conditions.
		{"and", "a: {A: x}\nb: {B: y}\ncondition: a and b", `{"A":"x","B":"y"}`, `{"A":"x"}`},
		{"or", "a: {A: x}\nb: {B: y}\ncondition: a or b", `{"B":"y"}`, `{"A":"y","B":"x"}`},
		{"not", "a: {A: x}\nb: {B: y}\ncondition: a and not b", `{"A":"x","B":"z"}`, `{"A":"x","B":"y"}`},
		{"not on an absent field", "a: {A: x}\nb: {B: y}\ncondition: a and not b", `{"A":"x"}`, `{"A":"z"}`},
		{"not on an absent nested field", "a: {A: x}\nb: {p.q: y}\ncondition: a and not b", `{"A":"x"}`, `{"A":"x","p":{"q":"Y"}}`},
		{"not on an absent field with a dash", "a: {A: x}\nb: {c-d: y}\ncondition: a and not b", `{"A":"x"}`, `{"A":"x","c-d":"y"}`},
		{"not over two tests of one absent field", "a: {A: x}\nb: {B|startswith: y, B|endswith: z}\ncondition: a and not b",
			`{"A":"x"}`, `{"A":"x","B":"yaz"}`},
		{"not not", "a: {A: x}\ncondition: not not a", `{"A":"x"}`, `{"B":"x"}`},
		{"not over and", "a: {A: x}\nb: {B: y, C: z}\ncondition: a and not b", `{"A":"x","B":"y"}`, `{"A":"x","B":"y","C":"z"}`},
		{"parentheses", "a: {A: x}\nb: {B: y}\nc: {C: z}\ncondition: a and (b or c)", `{"A":"x","C":"z"}`, `{"B":"y","C":"z"}`},
		{"precedence", "a: {A: x}\nb: {B: y}\nc: {C: z}\ncondition: a or b and c", `{"A":"x"}`, `{"B":"y"}`},
		{"1 of pattern", "sel_a: {A: x}\nsel_b: {B: y}\nother: {C: z}\ncondition: 1 of sel_*", `{"B":"y"}`, `{"C":"z"}`},
		{"all of pattern", "sel_a: {A: x}\nsel_b: {B: y}\ncondition: all of sel_*", `{"A":"x","B":"y"}`, `{"A":"x"}`},
		{"not 1 of pattern", "sel: {A: x}\nfilter_a: {B: y}\nfilter_b: {C: z}\ncondition: sel and not 1 of filter_*",
			`{"A":"x","B":"n"}`, `{"A":"x","C":"z"}`},
		{"1 of them", "a: {A: x}\nb: {B: y}\ncondition: 1 of them", `{"B":"y"}`, `{"C":"y"}`},
		{"all of them skips underscore", "a: {A: x}\nb: {B: y}\n_c: {C: z}\ncondition: all of them", `{"A":"x","B":"y"}`, `{"A":"x","C":"z"}`},
		{"list of conditions is OR", "a: {A: x}\nb: {B: y}\ncondition: [a, b]", `{"B":"y"}`, `{"A":"y"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := convertText(t, conv, sigmaRule(tc.detection))
			if err != nil {
				t.Fatalf("convert: %v", err)
			}
			if !res.Compiled.Match(testEvent(t, tc.match)) {
				t.Errorf("got no match on %s, want match; condition:\n%s", tc.match, res.Rule.Condition)
			}
			if res.Compiled.Match(testEvent(t, tc.noMatch)) {
				t.Errorf("got match on %s, want no match; condition:\n%s", tc.noMatch, res.Rule.Condition)
			}
		})
	}
}

// TestUnsupported checks that what cannot be converted is reported with its reason, file and rule.
func TestUnsupported(t *testing.T) {
	conv := newTestConverter(t, "windows-flat")
	cases := []struct{ name, text, reason string }{
		{"placeholder without values", sigmaRule("sel: {A|expand: '%servers%'}\ncondition: sel"), "placeholder"},
		{"unknown modifier", sigmaRule("sel: {A|fortnight: 3}\ncondition: sel"), "modifier fortnight"},
		{"hour out of range", sigmaRule("sel: {A|hour: 24}\ncondition: sel"), "invalid value"},
		{"hour of text", sigmaRule("sel: {A|hour: night}\ncondition: sel"), "invalid value"},
		{"hour with contains", sigmaRule("sel: {A|hour|contains: 3}\ncondition: sel"), "modifier combination"},
		{"regex outside RE2", sigmaRule("sel: {A|re: '(?<=a)b'}\ncondition: sel"), "regular expression: lookaround (not in RE2)"},
		{"backreference", sigmaRule("sel: {A|re: '(a)\\1'}\ncondition: sel"), "regular expression: backreference (not in RE2)"},
		{"aggregation", sigmaRule("sel: {A: x}\ncondition: sel | count() > 5"), "aggregation"},
		{"numbered of", sigmaRule("a: {A: x}\nb: {B: x}\ncondition: 2 of them"), "condition 2 of"},
		{"null in a list", sigmaRule("sel: {A: [x, null]}\ncondition: sel"), "null in a list"},
		{"base64 of a wildcard", sigmaRule("sel: {A|contains|base64: x}\ncondition: sel"), "modifier combination"},
		{"fieldref with an encoding", sigmaRule("sel: {A|fieldref|base64: B}\ncondition: sel"), "modifier combination"},
		{"unknown search", sigmaRule("sel: {A: x}\ncondition: sel and other"), "invalid rule"},
		{"correlation without timespan", "title: c\nid: 1\ncorrelation: {type: event_count, rules: [a], condition: {gte: 2}}\n", "invalid correlation"},
		{"correlation alone", "title: c\nid: 1\ncorrelation: {type: event_count, rules: [a], timespan: 5m, condition: {gte: 2}}\n", "unknown rule"},
		{"filter rule", "title: f\nid: 1\nlogsource: {product: windows}\nfilter: {rules: [a]}\n", "filter rule"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := convertText(t, conv, tc.text)
			var ue *UnsupportedError
			if !errors.As(err, &ue) {
				t.Fatalf("got %v, want an *UnsupportedError", err)
			}
			if ue.Reason != tc.reason || ue.File != "test.yml" || ue.Line == 0 {
				t.Errorf("got reason %q at %s:%d, want %q at test.yml:line", ue.Reason, ue.File, ue.Line, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "test.yml:") || strings.Contains(err.Error(), "\n") {
				t.Errorf("got message %q, want one line starting with the file", err)
			}
		})
	}
}

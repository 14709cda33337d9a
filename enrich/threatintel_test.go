package enrich

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

const testIndicatorsCSV = `type,value,provider,confidence,expiry,description,reference
ipv4,203.0.113.7,FeedA,high,,Known C2,https://feeds.example/a/1
cidr,198.51.100.0/28,FeedA,70,,Bulletproof hoster,
ip,2001:db8:bad::/48,FeedA,,,,
ipv6,2001:db8::7,FeedB,,,,
domain,evil.example,FeedB,Medium,,Malware distribution,
,login.bank-secure.example,FeedB,,,,
url,HTTP://Evil.Example:80/payload.exe#frag,FeedB,,,,
md5,44D88612FEA8A8F36DE82E1278ABB02F,FeedC,,,EICAR,
sha1,3395856ce81f2b7382dee72602f798b642f14140,FeedC,,,EICAR,
sha256,275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f,FeedC,,,EICAR,
ipv4,192.0.2.200,FeedA,,2030-01-01T00:00:00Z,Expires in 2030,
ipv4,192.0.2.201,FeedA,,2020-01-01,Expired at load,
ipv4,203.0.113.7,FeedC,low,,Also known to FeedC,
`

// testNow is the clock of the threat-intel tests.
var testNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func newTestThreatIntel(t testing.TB, files map[string]string) *ThreatIntel {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for name, content := range files {
		p := filepath.Join(dir, name)
		writeFile(t, p, content)
		paths = append(paths, p)
	}
	ti := NewThreatIntel(ThreatIntelConfig{Files: paths})
	ti.now = func() time.Time { return testNow }
	if err := ti.Table.Reload(); err != nil {
		t.Fatal(err)
	}
	return ti
}

func TestThreatIntelMatch(t *testing.T) {
	ti := newTestThreatIntel(t, map[string]string{
		"feed.csv":    testIndicatorsCSV,
		"bundle.json": readFile(t, "testdata/bundle.json"),
		"bad-ips.txt": "# one per line\n198.51.100.50   # scanner\n\n2001:db8:ffff::1\nDROP.example.\n",
	})
	tests := []struct {
		kind, value  string
		wantValue    string // the matched indicator's value, "" for no match
		wantProvider string
	}{
		{"ip", "203.0.113.7", "203.0.113.7", "FeedC"}, // two providers; the later file row comes first
		{"ip", "::ffff:203.0.113.7", "203.0.113.7", "FeedC"},
		{"ip", "203.0.113.8", "", ""},
		{"ip", "198.51.100.5", "198.51.100.0/28", "FeedA"},
		{"ip", "198.51.100.16", "", ""},
		{"ip", "198.51.100.50", "198.51.100.50", "bad-ips"},
		{"ip", "2001:db8:bad:1::1", "2001:db8:bad::/48", "FeedA"},
		{"ip", "2001:db8::7", "2001:db8::7", "FeedB"},
		{"ip", "2001:db8:ffff::1", "2001:db8:ffff::1", "bad-ips"},
		{"ip", "203.0.113.66", "203.0.113.66", "Example CERT"}, // STIX
		{"ip", "2001:db8::66", "2001:db8::66", "Example CERT"},
		{"ip", "192.0.2.200", "192.0.2.200", "FeedA"}, // expires in 2030
		{"ip", "192.0.2.201", "", ""},                 // expired before load
		{"ip", "198.51.100.99", "", ""},               // STIX valid_until in the past
		{"ip", "198.51.100.98", "", ""},               // STIX revoked
		{"ip", "203.0.113.7:443", "", ""},
		{"domain", "evil.example", "evil.example", "FeedB"},
		{"domain", "cdn.EVIL.example.", "evil.example", "FeedB"}, // subdomain, any case, trailing dot
		{"domain", "notevil.example", "", ""},
		{"domain", "example", "", ""},
		{"domain", "login.bank-secure.example", "login.bank-secure.example", "FeedB"},
		{"domain", "bank-secure.example", "", ""}, // a parent of a listed domain is not listed
		{"domain", "x.drop.example", "drop.example", "bad-ips"},
		{"domain", "mail.phish.example", "phish.example", "Example CERT"},
		{"url", "http://evil.example/payload.exe", "http://evil.example/payload.exe", "FeedB"},
		{"url", "HTTP://EVIL.EXAMPLE:80/payload.exe#x", "http://evil.example/payload.exe", "FeedB"},
		{"url", "http://evil.example/payload.exe?x=1", "", ""},
		{"url", "https://evil.example/payload.exe", "", ""},
		{"url", "http://login.phish.example/owa", "http://login.phish.example/owa", "Example CERT"},
		{"url", "not a url", "", ""},
		{"hash", "44d88612fea8a8f36de82e1278abb02f", "44d88612fea8a8f36de82e1278abb02f", "FeedC"},
		{"hash", "3395856CE81F2B7382DEE72602F798B642F14140", "3395856ce81f2b7382dee72602f798b642f14140", "FeedC"},
		{"hash", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "FeedC"},
		{"hash", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "bundle"},
		{"hash", "d41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427e", "bundle"},
		{"hash", "0000000000000000000000000000000000000000", "", ""},
	}
	for _, tt := range tests {
		var ind Indicator
		var ok bool
		switch tt.kind {
		case "ip":
			if a, err := netip.ParseAddr(tt.value); err == nil {
				ind, ok = ti.MatchIP(a)
			}
		case "domain":
			ind, ok = ti.MatchDomain(tt.value)
		case "url":
			ind, ok = ti.MatchURL(tt.value)
		case "hash":
			ind, ok = ti.MatchHash(tt.value)
		}
		gotValue, gotProvider := "", ""
		if ok {
			gotValue, gotProvider = ind.Value, ind.Meta.Provider
		}
		if gotValue != tt.wantValue || gotProvider != tt.wantProvider {
			t.Errorf("%s %q: got %q from %q, want %q from %q", tt.kind, tt.value, gotValue, gotProvider, tt.wantValue, tt.wantProvider)
		}
	}
	set := ti.Table.Get()
	if set.Unsupported != 2 || set.Expired != 2 {
		t.Errorf("got %d unsupported and %d expired, want 2 and 2", set.Unsupported, set.Expired)
	}
}

func TestThreatIntelExpiry(t *testing.T) {
	ti := newTestThreatIntel(t, map[string]string{"feed.csv": testIndicatorsCSV})
	ip := netip.MustParseAddr("192.0.2.200")
	expiry := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		now  time.Time
		want bool
	}{{expiry.Add(-time.Second), true}, {expiry, false}, {expiry.Add(time.Hour), false}} {
		ti.now = func() time.Time { return tt.now }
		if got := found(ti.MatchIP(ip)); got != tt.want {
			t.Errorf("at %s: got match %v, want %v", tt.now, got, tt.want)
		}
	}
}

func TestThreatIntelEnrich(t *testing.T) {
	ti := newTestThreatIntel(t, map[string]string{"feed.csv": testIndicatorsCSV,
		"bundle.json": readFile(t, "testdata/bundle.json")})
	a := alertFrom(t, "acme", `{
		"threat": {"framework": "MITRE ATT&CK"},
		"source": {"ip": "10.0.0.5"},
		"destination": {"ip": "203.0.113.7", "domain": "cdn.evil.example"},
		"dns": {"question": {"name": "cdn.evil.example"}, "resolved_ip": ["192.0.2.1", "203.0.113.66"],
			"answers": [{"type": "CNAME", "data": "edge.EVIL.example"}, {"type": "A", "data": "198.51.100.5"}]},
		"url": {"full": "http://EVIL.example/payload.exe"},
		"file": {"hash": {"md5": "44D88612FEA8A8F36DE82E1278ABB02F"}}
	}`)
	if err := ti.Enrich(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	threat := vigil.Get(a.Doc, "threat").(map[string]any)
	if threat["framework"] != "MITRE ATT&CK" {
		t.Errorf("got threat %v, want the rule's framework kept", threat)
	}
	got := map[string]string{}
	for _, e := range threat["enrichments"].([]any) {
		e := e.(map[string]any)
		m := e["matched"].(map[string]any)
		got[m["field"].(string)+" "+m["atomic"].(string)] += toJSON(e["indicator"]) + ";"
	}
	want := map[string]string{
		"destination.ip 203.0.113.7": `{"confidence":"Low","description":"Also known to FeedC","ip":"203.0.113.7","name":"203.0.113.7","provider":"FeedC","type":"ipv4-addr"};` +
			`{"confidence":"High","description":"Known C2","ip":"203.0.113.7","name":"203.0.113.7","provider":"FeedA","reference":"https://feeds.example/a/1","type":"ipv4-addr"};`,
		"dns.resolved_ip 203.0.113.66":                   `{"confidence":"High","description":"Command and control server of the Ruritanian crew","ip":"203.0.113.66","name":"203.0.113.66","provider":"Example CERT","reference":"https://cert.example/reports/42","type":"ipv4-addr"};`,
		"dns.question.name cdn.evil.example":             `{"confidence":"Medium","description":"Malware distribution","name":"evil.example","provider":"FeedB","type":"domain-name","url":{"domain":"evil.example"}};`,
		"dns.answers.data edge.EVIL.example":             `{"confidence":"Medium","description":"Malware distribution","name":"evil.example","provider":"FeedB","type":"domain-name","url":{"domain":"evil.example"}};`,
		"dns.answers.data 198.51.100.5":                  `{"confidence":"High","description":"Bulletproof hoster","name":"198.51.100.0/28","provider":"FeedA","type":"ipv4-addr"};`,
		"destination.domain cdn.evil.example":            `{"confidence":"Medium","description":"Malware distribution","name":"evil.example","provider":"FeedB","type":"domain-name","url":{"domain":"evil.example"}};`,
		"url.full http://EVIL.example/payload.exe":       `{"name":"http://evil.example/payload.exe","provider":"FeedB","type":"url","url":{"full":"http://evil.example/payload.exe"}};`,
		"file.hash.md5 44D88612FEA8A8F36DE82E1278ABB02F": `{"description":"EICAR","file":{"hash":{"md5":"44d88612fea8a8f36de82e1278abb02f"}},"name":"44d88612fea8a8f36de82e1278abb02f","provider":"FeedC","type":"file"};`,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s:\n got %s\nwant %s", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected enrichment %s: %s", k, got[k])
		}
	}
	e := threat["enrichments"].([]any)[0].(map[string]any)["matched"].(map[string]any)
	if e["type"] != "indicator_match_enrichment" {
		t.Errorf("got matched %v, want type indicator_match_enrichment", e)
	}
}

func TestThreatIntelCustomFields(t *testing.T) {
	ti := newTestThreatIntel(t, map[string]string{"feed.csv": testIndicatorsCSV})
	ti.fields["ip"] = []string{"observer.ip"}
	a := alertFrom(t, "acme", `{"destination":{"ip":"203.0.113.7"},"observer":{"ip":"198.51.100.1"}}`)
	if err := ti.Enrich(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	got := toJSON(a.Doc["threat"])
	if !strings.Contains(got, `"field":"observer.ip"`) || strings.Contains(got, "destination.ip") {
		t.Errorf("got %s, want only the observer.ip match", got)
	}
}

func TestLoadIndicatorsErrors(t *testing.T) {
	tests := []struct {
		file, content, want string
	}{
		{"a.csv", "kind,value\n", `a.csv:1: unknown column "kind"`},
		{"a.csv", "type,value\nipv4,203.0.113.1\nipv4,evil.example\n", `a.csv:3: "evil.example" is not a valid ipv4 indicator`},
		{"a.csv", "type,value\nmd5,275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f\n", `a.csv:2: "275a`},
		{"a.csv", "type,value\nbanana,x\n", `a.csv:2: unknown indicator type "banana"`},
		{"a.csv", "value,confidence\n203.0.113.1,101\n", `a.csv:2: confidence 101`},
		{"a.csv", "value,confidence\n203.0.113.1,sure\n", `a.csv:2: confidence "sure"`},
		{"a.csv", "value,expiry\n203.0.113.1,tomorrow\n", `a.csv:2: expiry "tomorrow"`},
		{"a.csv", "value\n\n203.0.113.1\n,\n", `a.csv:4:`},
		{"a.txt", "203.0.113.1\n\n# c\nnot an indicator\n", `a.txt:4: "not an indicator" is not an IP address`},
		{"a.txt", "203.0.113.1\n300.1.1.1\n", `a.txt:2:`},
		{"a.json", `{"type": "bundle", "objects": [`, `a.json:1:`},
		{"a.json", "{\"type\": \"x\", \"objects\": []}", `a.json:1: want a STIX 2.1 bundle`},
		{"a.json", "{\"type\": \"bundle\", \"objects\": [\n{\"type\": \"indicator\", \"id\": \"indicator--1\", \"pattern\": \"[ipv4-addr:value = '999.1.1.1']\"}\n]}",
			`a.json:2: indicator indicator--1: "999.1.1.1" is not a valid ipv4 indicator`},
		{"a.json", "{\"type\": \"bundle\", \"objects\": [\n{},\n{\"type\": \"indicator\", \"id\": \"indicator--1\", \"valid_until\": \"soon\", \"pattern\": \"[ipv4-addr:value = '1.1.1.1']\"}\n]}",
			`a.json:3: indicator indicator--1: valid_until "soon"`},
	}
	for _, tt := range tests {
		p := filepath.Join(t.TempDir(), tt.file)
		writeFile(t, p, tt.content)
		_, err := LoadIndicators([]string{p}, testNow)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got error %v, want one containing %q", tt.content, err, tt.want)
		}
	}
}

func TestParseSTIXPattern(t *testing.T) {
	tests := []struct {
		pattern string
		want    string // "typ=value;..." or "unsupported"
	}{
		{"[ipv4-addr:value = '198.51.100.1']", "ipv4=198.51.100.1;"},
		{"[ipv4-addr:value = '198.51.100.0/24']", "ipv4=198.51.100.0/24;"},
		{"[ipv6-addr:value='2001:db8::1']", "ipv6=2001:db8::1;"},
		{"[domain-name:value = 'evil.example' OR domain-name:value = 'bad.example']", "domain=evil.example;domain=bad.example;"},
		{"[url:value = 'http://x.example/a\\'b']", "url=http://x.example/a'b;"},
		{"[file:hashes.'SHA-256' = 'ab'] OR [file:hashes.'SHA-1' = 'cd'] OR [file:hashes.MD5 = 'ef']", "sha256=ab;sha1=cd;md5=ef;"},
		{"[file:hashes.sha256 = 'ab']", "sha256=ab;"},
		{"[ipv4-addr:value = '198.51.100.1' AND ipv4-addr:value = '198.51.100.2']", "unsupported"},
		{"[ipv4-addr:value = '198.51.100.1'] AND [domain-name:value = 'x.example']", "unsupported"},
		{"[ipv4-addr:value = '198.51.100.1'] FOLLOWEDBY [domain-name:value = 'x.example']", "unsupported"},
		{"[ipv4-addr:value = '198.51.100.1'] WITHIN 5 SECONDS", "unsupported"},
		{"[ipv4-addr:value != '198.51.100.1']", "unsupported"},
		{"[ipv4-addr:value ISSUBSET '198.51.100.0/24']", "unsupported"},
		{"[file:name = 'evil.exe']", "unsupported"},
		{"[file:hashes.'SHA-512' = 'ab']", "unsupported"},
		{"[ipv4-addr:value = '198.51.100.1'", "unsupported"},
		{"[ipv4-addr:value = '198.51.100.1]", "unsupported"},
		{"", "unsupported"},
	}
	for _, tt := range tests {
		cmps, ok := parseSTIXPattern(tt.pattern)
		got := "unsupported"
		if ok {
			got = ""
			for _, c := range cmps {
				got += c.typ + "=" + c.value + ";"
			}
		}
		if got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.pattern, got, tt.want)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"HTTP://Evil.Example:80/a/B?x=1#f", "http://evil.example/a/B?x=1"},
		{"https://evil.example:443", "https://evil.example/"},
		{"https://evil.example:8443/", "https://evil.example:8443/"},
		{"http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"},
		{"evil.example/x", ""},
	}
	for _, tt := range tests {
		got, _ := normalizeURL(tt.in)
		if got != tt.want {
			t.Errorf("normalizeURL(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

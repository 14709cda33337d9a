package enrich

import (
	"fmt"
	"testing"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// compileCondition compiles a condition in the rule environment with the lookup library, as `vigil run` does.
func compileCondition(t testing.TB, lib *rules.Env, cond string) *rules.Compiled {
	t.Helper()
	text := fmt.Sprintf("id: test.lookup\nname: lookup\nseverity: low\ncondition: %q\n", cond)
	parsed, err := rules.Parse("test.yml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	c, err := lib.Compile(parsed[0])
	if err != nil {
		t.Fatalf("%s: %v", cond, err)
	}
	return c
}

func eventFrom(t testing.TB, tenant, doc string) *vigil.Event {
	t.Helper()
	tree, err := fields.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return &vigil.Event{Raw: []byte(doc), Fields: tree, Tenant: tenant}
}

func TestLibraryFunctions(t *testing.T) {
	geo := newTestGeoIP(t)
	assets := newTestAssets(t, map[string]string{"acme": "asset,owner,criticality\n10.20.0.0/16,acme-infra,critical\n"})
	ti := newTestThreatIntel(t, map[string]string{"feed.csv": testIndicatorsCSV})
	env, err := rules.NewEnv(rules.WithLibrary(Library(geo, assets, ti)))
	if err != nil {
		t.Fatal(err)
	}
	event := `{"source": {"ip": "203.0.113.9"}, "destination": {"ip": "203.0.113.7", "port": 443},
		"dns": {"question": {"name": "cdn.evil.example"}, "resolved_ip": ["192.0.2.1", "198.51.100.3"]},
		"url": {"full": "http://evil.example/payload.exe"}, "host": {"ip": ["10.20.30.40"], "name": "jump01"},
		"file": {"hash": {"sha256": "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F", "md5": 5}},
		"related": {"ip": []}, "user": {"name": "alice"}}`
	tests := []struct {
		cond string
		want bool
	}{
		{`ioc.ip(destination.ip)`, true},
		{`ioc.ip(source.ip)`, false},
		{`ioc.ip(dns.resolved_ip)`, true}, // any element of a list
		{`ioc.ip(related.ip)`, false},
		{`ioc.ip(ip("203.0.113.7"))`, true},
		{`ioc.ip("not an ip")`, false},
		{`ioc.ip(destination.port)`, false}, // not a string: not found, no error
		{`ioc.ip(null)`, false},
		{`ioc.domain(dns.question.name)`, true},
		{`ioc.domain(user.name)`, false},
		{`ioc.url(url.full)`, true},
		{`ioc.url("https://evil.example/payload.exe")`, false},
		{`ioc.hash(file.hash.sha256)`, true},
		{`ioc.hash(file.hash.md5)`, false},
		{`asset(host.ip).criticality == "critical"`, true},
		{`asset(host.ip).owner == "dba-team" && asset(host.ip).matched == "10.20.30.40"`, true},
		{`asset(host.name).criticality == "critical" && asset(host.name).name == "jump01"`, true},
		{`asset(source.ip).criticality == ""`, true}, // not found: every key present and empty
		{`asset(source.ip).matched == "" && asset(source.ip).owner == "" && asset(source.ip).name == ""`, true},
		{`asset(destination.port).environment == ""`, true},
		{`asset("10.20.1.1").owner == "infra"`, true},
		{`asset("10.20.1.1", "acme").owner == "acme-infra"`, true},
		{`asset("10.20.1.1", "other").owner == "infra"`, true},
		{`geoip(source.ip).country_iso_code == "XR"`, true},
		{`geoip(source.ip).as_number == 64511 && geoip(source.ip).as_organization == "Ruritania Hosting"`, true},
		{`geoip(source.ip).city_name == "Strelsau" && geoip(source.ip).region_iso_code == "XR-ST"`, true},
		{`geoip(dns.resolved_ip).country_iso_code == "XB"`, true}, // the first element with data
		{`geoip(host.ip).country_iso_code == ""`, true},           // private
		{`geoip("8.8.8.8").as_number == 0 && geoip("8.8.8.8").country_name == ""`, true},
		{`geoip(user.name).continent_code == ""`, true},
		{`geoip(source.ip).country_iso_code != "XF" && asset(host.ip).criticality in ["high", "critical"]`, true},
	}
	ev := eventFrom(t, "acme", event)
	for _, tt := range tests {
		c := compileCondition(t, env, tt.cond)
		if got := c.Match(ev); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.cond, got, tt.want)
		}
	}
}

// TestLibraryWithoutTables is what `vigil rules validate` and `vigil rules test` see without a configuration: every
// function compiles and answers "not found" without an evaluation error.
func TestLibraryWithoutTables(t *testing.T) {
	env, err := rules.NewEnv(rules.WithLibrary(Library(nil, nil, nil)))
	if err != nil {
		t.Fatal(err)
	}
	empty, err := rules.NewEnv(rules.WithLibrary(Library(NewGeoIP(GeoIPConfig{}), NewAssets(AssetsConfig{}),
		NewThreatIntel(ThreatIntelConfig{}))))
	if err != nil {
		t.Fatal(err)
	}
	ev := eventFrom(t, "acme", `{"source": {"ip": "203.0.113.7"}, "host": {"ip": "10.0.0.1"}}`)
	for _, cond := range []string{
		`!ioc.ip(source.ip) && !ioc.domain("evil.example") && !ioc.url("http://x.example/") && !ioc.hash("ab")`,
		`asset(host.ip).criticality == "" && asset(host.ip, "acme").owner == ""`,
		`geoip(source.ip).country_iso_code == "" && geoip(source.ip).as_number == 0`,
	} {
		for _, e := range []*rules.Env{env, empty} {
			c := compileCondition(t, e, cond)
			if !c.Match(ev) {
				t.Errorf("%s: got no match, want a match (every lookup not found)", cond)
			}
		}
	}
	for _, bad := range []string{`asset(host.ip).criticality == 3`, `ioc.ip(source.ip) == "yes"`, `ioc.ip()`} {
		text := fmt.Sprintf("id: test.bad\nname: bad\nseverity: low\ncondition: %q\n", bad)
		parsed, _ := rules.Parse("bad.yml", []byte(text))
		if _, err := env.Compile(parsed[0]); err == nil {
			t.Errorf("%s: got no compile error, want a type error", bad)
		}
	}
}

// BenchmarkLibrary measures a rule condition that calls one lookup, end to end through CEL, against the large tables
// of the lookup benchmarks; "baseline" is a condition of the same shape without a lookup.
func BenchmarkLibrary(b *testing.B) {
	geo, assets, ti := benchTables(b)
	env, err := rules.NewEnv(rules.WithLibrary(Library(geo, assets, ti)))
	if err != nil {
		b.Fatal(err)
	}
	ev := eventFrom(b, "acme", `{"source": {"ip": "203.0.113.9"}, "destination": {"ip": "203.0.113.7"}, "host": {"ip": "10.0.0.3"}}`)
	for _, cond := range []string{
		`destination.ip == "203.0.113.7"`,
		`ioc.ip(destination.ip)`,
		`asset(host.ip).criticality == "critical"`,
		`geoip(source.ip).country_iso_code == "XR"`,
	} {
		b.Run(cond, func(b *testing.B) {
			c := compileCondition(b, env, cond)
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				c.Match(ev)
			}
			reportCPU(b, start)
		})
	}
}

package enrich

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.SetDefaults()
	if c.Timeout != DefaultTimeout || c.Reload.PollInterval != DefaultPollInterval ||
		c.Reload.Debounce != DefaultDebounce || c.Reload.Watch == nil || !*c.Reload.Watch {
		t.Errorf("got %+v, want the documented defaults", c)
	}
	if c.Enabled() {
		t.Error("an empty config reports enrichment enabled")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("an empty config is invalid: %v", err)
	}
	off := false
	c = Config{Reload: ReloadConfig{Watch: &off, PollInterval: -1}}
	c.SetDefaults()
	if *c.Reload.Watch || c.Reload.PollInterval != -1 {
		t.Errorf("got %+v, want explicit values kept", c.Reload)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"complete", Config{GeoIP: GeoIPConfig{City: "c.mmdb", ASN: "a.mmdb"},
			Assets:      AssetsConfig{Files: []string{"a.csv"}, Tenants: map[string][]string{"acme": {"b.JSON"}}},
			ThreatIntel: ThreatIntelConfig{Files: []string{"x.txt", "y.csv", "z.json"}, Fields: map[string][]string{"ip": {"observer.ip"}}},
		}, ""},
		{"geoip not mmdb", Config{GeoIP: GeoIPConfig{City: "GeoLite2-City.tar.gz"}}, `enrich.geoip.city: "GeoLite2-City.tar.gz" is not a MaxMind DB`},
		{"asset format", Config{Assets: AssetsConfig{Files: []string{"assets.xlsx"}}}, `enrich.assets.files[0]: "assets.xlsx": want a .csv or .json file`},
		{"empty path", Config{ThreatIntel: ThreatIntelConfig{Files: []string{" "}}}, "enrich.threat_intel.files[0]: empty path"},
		{"tenant without files", Config{Assets: AssetsConfig{Tenants: map[string][]string{"acme": nil}}}, "enrich.assets.tenants.acme: no files"},
		{"unknown field kind", Config{ThreatIntel: ThreatIntelConfig{Fields: map[string][]string{"email": {"x"}}}}, `unknown kind "email"`},
		{"bad field name", Config{ThreatIntel: ThreatIntelConfig{Fields: map[string][]string{"ip": {"source."}}}}, `bad field name "source."`},
		{"negative", Config{Timeout: -time.Second, Reload: ReloadConfig{Debounce: -1}}, "enrich.timeout: must not be negative"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: got %v, want valid", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

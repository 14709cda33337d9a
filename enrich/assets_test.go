package enrich

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil"
)

const testInventoryCSV = `asset,name,owner,criticality,business_unit,environment
# networks
10.0.0.0/8,corp,it-ops,low,IT,production
10.20.0.0/16,datacenter,infra,high,IT,production
10.20.30.40,db-01,dba-team,Critical,Finance,production
2001:db8:1::/48,v6-lab,lab,medium,R&D,staging
Web-01.corp.example.,web-01,web-team,medium,Sales,production
jump01,jump01,secops,critical,IT,production
`

const testInventoryJSON = `[
  {"asset": "192.0.2.10", "name": "vpn-gw", "owner": "netops", "criticality": "high", "environment": "production"},
  {"asset": "10.20.30.40", "name": "db-01-renamed", "owner": "dba-team", "criticality": "critical"}
]`

func newTestAssets(t *testing.T, tenants map[string]string) *Assets {
	t.Helper()
	dir := t.TempDir()
	csvPath, jsonPath := filepath.Join(dir, "assets.csv"), filepath.Join(dir, "assets.json")
	writeFile(t, csvPath, testInventoryCSV)
	writeFile(t, jsonPath, testInventoryJSON)
	cfg := AssetsConfig{Files: []string{csvPath, jsonPath}, Tenants: map[string][]string{}}
	for tenant, content := range tenants {
		p := filepath.Join(dir, tenant+".csv")
		writeFile(t, p, content)
		cfg.Tenants[tenant] = []string{p}
	}
	a := NewAssets(cfg)
	for _, tb := range a.Tables() {
		if _, err := tb.ReloadIfChanged(); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func TestAssetsLookup(t *testing.T) {
	a := newTestAssets(t, map[string]string{"acme": "asset,owner,criticality\n10.20.0.0/16,acme-infra,critical\n"})
	tests := []struct {
		tenant, value string
		wantKey       string // "" for not found
		wantOwner     string
	}{
		{"other", "10.1.2.3", "10.0.0.0/8", "it-ops"},
		{"other", "10.20.1.1", "10.20.0.0/16", "infra"},     // longer prefix wins
		{"other", "10.20.30.40", "10.20.30.40", "dba-team"}, // the single address wins; JSON file came later
		{"other", "::ffff:10.20.30.40", "10.20.30.40", "dba-team"},
		{"other", "2001:db8:1:2::5", "2001:db8:1::/48", "lab"},
		{"other", "192.0.2.10", "192.0.2.10", "netops"},
		{"other", "192.0.2.11", "", ""},
		{"other", "WEB-01.corp.example", "web-01.corp.example", "web-team"},
		{"other", "web-01.corp.example.", "web-01.corp.example", "web-team"},
		{"other", "jump01.corp.example", "jump01", "secops"}, // a FQDN matches an entry for its first label
		{"other", "web-01", "", ""},                          // a short name does not match a FQDN entry
		{"other", "", "", ""},
		{"acme", "10.20.1.1", "10.20.0.0/16", "acme-infra"}, // the tenant's own inventory first
		{"acme", "10.1.2.3", "10.0.0.0/8", "it-ops"},        // then the shared one
	}
	for _, tt := range tests {
		e := a.Lookup(tt.tenant, tt.value)
		gotKey, gotOwner := "", ""
		if e != nil {
			gotKey, gotOwner = e.Key, e.Owner
		}
		if gotKey != tt.wantKey || gotOwner != tt.wantOwner {
			t.Errorf("Lookup(%q, %q): got %q %q, want %q %q", tt.tenant, tt.value, gotKey, gotOwner, tt.wantKey, tt.wantOwner)
		}
	}
	if e := a.Lookup("other", "10.20.30.40"); e.Criticality != "critical" || e.Name != "db-01-renamed" {
		t.Errorf("got %+v, want the JSON entry with criticality critical", e)
	}
}

func TestAssetsEnrich(t *testing.T) {
	a := newTestAssets(t, nil)
	tests := []struct {
		name, doc string
		want      string // the vigil.asset object, or "" for none
	}{
		{"host by ip list", `{"host":{"ip":["198.51.100.1","10.20.30.40"],"name":"x"}}`,
			`{"host":{"criticality":"critical","matched":"10.20.30.40","name":"db-01-renamed","owner":"dba-team"}}`},
		{"host by name", `{"host":{"name":"WEB-01.corp.example"}}`,
			`{"host":{"business_unit":"Sales","criticality":"medium","environment":"production","matched":"web-01.corp.example","name":"web-01","owner":"web-team"}}`},
		{"source and destination", `{"source":{"ip":"192.0.2.10"},"destination":{"ip":"10.9.9.9"}}`,
			`{"destination":{"business_unit":"IT","criticality":"low","environment":"production","matched":"10.0.0.0/8","name":"corp","owner":"it-ops"},"source":{"criticality":"high","environment":"production","matched":"192.0.2.10","name":"vpn-gw","owner":"netops"}}`},
		{"destination by domain", `{"destination":{"domain":"jump01"}}`,
			`{"destination":{"business_unit":"IT","criticality":"critical","environment":"production","matched":"jump01","name":"jump01","owner":"secops"}}`},
		{"nothing known", `{"source":{"ip":"203.0.113.1"},"host":{"name":"unknown"}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			al := alertFrom(t, "acme", tt.doc)
			if err := a.Enrich(context.Background(), al); err != nil {
				t.Fatal(err)
			}
			got := ""
			if v, ok := vigil.Get(al.Doc, "vigil").(map[string]any); ok {
				got = toJSON(v["asset"])
			}
			if got != tt.want {
				t.Errorf("got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestLoadInventoryErrors(t *testing.T) {
	tests := []struct {
		file, content, want string
	}{
		{"a.csv", "asset,owner,critcality\n", "a.csv:1: unknown column \"critcality\""},
		{"a.csv", "owner\nx\n", "a.csv:1: no \"asset\" column"},
		{"a.csv", "asset,criticality\n10.0.0.1,low\n10.0.0.2,urgent\n", "a.csv:3: criticality \"urgent\""},
		{"a.csv", "asset\n10.0.0.1\nnot a host!\n", "a.csv:3: asset \"not a host!\""},
		{"a.csv", "asset,owner\n10.0.0.1\n", "a.csv:2: 1 fields, want 2"},
		{"a.csv", "asset,owner\n\"10.0.0.1,x\n", "a.csv:2:"},
		{"a.json", "{}", "a.json:1: want a JSON array"},
		{"a.json", "[\n {\"asset\": \"10.0.0.1\"},\n {\"asset\": \"10.0.0.2\", \"color\": \"red\"}\n]", "a.json:3: json: unknown field \"color\""},
		{"a.json", "[\n {\"asset\": \"10.0.0.1\"},\n\n {\"asset\": \"300.0.0.1\"}\n]", "a.json:4: asset \"300.0.0.1\""},
		{"a.json", "[\n {\"asset\": \"10.0.0.1\"},\n {\"asset\": }\n]", "a.json:3:"},
	}
	for _, tt := range tests {
		p := filepath.Join(t.TempDir(), tt.file)
		writeFile(t, p, tt.content)
		_, err := LoadInventory([]string{p})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got error %v, want one containing %q", tt.content, err, tt.want)
		}
	}
}

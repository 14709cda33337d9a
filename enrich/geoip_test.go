package enrich

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

func TestGeoIPLookup(t *testing.T) {
	g := newTestGeoIP(t)
	tests := []struct {
		ip          string
		wantCountry string
		wantASN     int64
		wantFound   bool
	}{
		{"203.0.113.9", "XR", 64511, true},
		{"::ffff:203.0.113.9", "XR", 64511, true},
		{"198.51.100.1", "XB", 64499, true},
		{"198.51.100.200", "", 64500, true}, // ASN only
		{"2001:db8::1", "XR", 0, true},
		{"8.8.8.8", "", 0, false},  // public but not in the database
		{"10.1.2.3", "", 0, false}, // private: never looked up, although the database has it
		{"127.0.0.1", "", 0, false},
		{"169.254.1.1", "", 0, false},
		{"100.64.0.1", "", 0, false},
		{"fe80::1", "", 0, false},
		{"fd00::1", "", 0, false},
		{"224.0.0.1", "", 0, false},
		{"255.255.255.255", "", 0, false},
	}
	for _, tt := range tests {
		info, err := g.Lookup(netip.MustParseAddr(tt.ip))
		if err != nil {
			t.Fatalf("%s: %v", tt.ip, err)
		}
		if (info != nil) != tt.wantFound {
			t.Errorf("%s: found %v, want %v", tt.ip, info != nil, tt.wantFound)
			continue
		}
		if info == nil {
			continue
		}
		if info.CountryISOCode != tt.wantCountry || info.ASNumber != tt.wantASN {
			t.Errorf("%s: got country %q ASN %d, want %q %d", tt.ip, info.CountryISOCode, info.ASNumber,
				tt.wantCountry, tt.wantASN)
		}
	}
}

func TestGeoIPEnrich(t *testing.T) {
	g := newTestGeoIP(t)
	tests := []struct {
		name, doc string
		want      []string // substrings of the enriched document
		wantNot   []string
	}{
		{
			name: "source and destination",
			doc:  `{"source":{"ip":"203.0.113.9"},"destination":{"ip":"198.51.100.7"}}`,
			want: []string{
				`"source":{"as":{"number":64511,"organization":{"name":"Ruritania Hosting"}},"geo":{"city_name":"Strelsau","continent_code":"EU","continent_name":"Europe","country_iso_code":"XR","country_name":"Ruritania","location":{"lat":50.25,"lon":14.5},"region_iso_code":"XR-ST","region_name":"Strelsau","timezone":"Europe/Ruritania"},"ip":"203.0.113.9"}`,
				`"destination":{"as":{"number":64499,"organization":{"name":"Bordurian Telecom"}},"geo":{"country_iso_code":"XB","country_name":"Borduria"},"ip":"198.51.100.7"}`,
			},
		},
		{
			name: "client and server",
			doc:  `{"client":{"ip":"2001:db8::5"},"server":{"ip":"198.51.100.130"}}`,
			want: []string{`"client":{"geo":{"country_iso_code":"XR","country_name":"Ruritania"},"ip":"2001:db8::5"}`,
				`"server":{"as":{"number":64500},"ip":"198.51.100.130"}`},
		},
		{
			name:    "private, loopback and unknown addresses are skipped",
			doc:     `{"source":{"ip":"10.0.0.1"},"destination":{"ip":"127.0.0.1"},"client":{"ip":"8.8.8.8"}}`,
			wantNot: []string{"geo", `"as"`},
		},
		{
			name:    "the event's own geo is kept",
			doc:     `{"source":{"ip":"203.0.113.9","geo":{"country_iso_code":"DE"}}}`,
			want:    []string{`"geo":{"country_iso_code":"DE"}`, `"as":{"number":64511`},
			wantNot: []string{"XR"},
		},
		{
			name:    "not an address",
			doc:     `{"source":{"ip":"not-an-ip"},"destination":{"ip":42}}`,
			wantNot: []string{"geo"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := alertFrom(t, "acme", tt.doc)
			if err := g.Enrich(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			got := toJSON(a.Doc)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("got %s, want it to contain %s", got, w)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("got %s, want no %s", got, w)
				}
			}
		})
	}
}

func TestGeoIPNotConfigured(t *testing.T) {
	var nilGeo *GeoIP
	if info, err := nilGeo.Lookup(netip.MustParseAddr("203.0.113.9")); info != nil || err != nil {
		t.Errorf("nil GeoIP: got %v, %v; want nothing", info, err)
	}
	g := NewGeoIP(GeoIPConfig{City: filepath.Join(t.TempDir(), "missing.mmdb")}) // never loaded
	a := alertFrom(t, "acme", `{"source":{"ip":"203.0.113.9"}}`)
	if err := g.Enrich(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := toJSON(a.Doc); strings.Contains(got, "geo") {
		t.Errorf("got %s, want no geo", got)
	}
}

func TestLoadMMDBRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	city, _ := writeGeoDBs(t, dir, testNetworks)
	data := readFile(t, city)
	truncated := filepath.Join(dir, "truncated.mmdb")
	writeFile(t, truncated, data[:len(data)/2])
	notDB := filepath.Join(dir, "text.mmdb")
	writeFile(t, notDB, "hello")
	for _, f := range []string{truncated, notDB, filepath.Join(dir, "missing.mmdb")} {
		if _, err := LoadMMDB([]string{f}); err == nil {
			t.Errorf("%s: got no error, want one", f)
		}
	}
}

func TestGeoIPCancelledContextSkips(t *testing.T) {
	g := newTestGeoIP(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Enrich(ctx, alertFrom(t, "acme", `{}`)); err == nil {
		t.Error("got no error for a cancelled context, want one (the pipeline records the skip)")
	}
	if g.Skipped.Load() != 1 {
		t.Errorf("got Skipped %d, want 1", g.Skipped.Load())
	}
}

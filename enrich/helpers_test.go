package enrich

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/enrich/internal/geodb"
)

// testNetworks is the test geography: two made-up countries on documentation ranges, and one network with only an
// ASN.
var testNetworks = []geodb.Network{
	{CIDR: "203.0.113.0/24", CountryISO: "XR", CountryName: "Ruritania", ContinentCode: "EU", ContinentName: "Europe",
		RegionISO: "ST", RegionName: "Strelsau", CityName: "Strelsau", TimeZone: "Europe/Ruritania",
		Lat: 50.25, Lon: 14.5, HasLocation: true, ASN: 64511, ASOrg: "Ruritania Hosting"},
	{CIDR: "198.51.100.0/25", CountryISO: "XB", CountryName: "Borduria", ASN: 64499, ASOrg: "Bordurian Telecom"},
	{CIDR: "198.51.100.128/25", ASN: 64500},
	{CIDR: "2001:db8::/32", CountryISO: "XR", CountryName: "Ruritania"},
	{CIDR: "10.0.0.0/8", CountryISO: "XP", CountryName: "Private"}, // must never be reported
}

// writeGeoDBs writes city and ASN databases into dir and returns their paths.
func writeGeoDBs(t testing.TB, dir string, nets []geodb.Network) (city, asn string) {
	t.Helper()
	var c, a bytes.Buffer
	if err := geodb.WriteCity(&c, nets); err != nil {
		t.Fatal(err)
	}
	if err := geodb.WriteASN(&a, nets); err != nil {
		t.Fatal(err)
	}
	city, asn = filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	writeFile(t, city, c.String())
	writeFile(t, asn, a.String())
	return city, asn
}

func newTestGeoIP(t testing.TB) *GeoIP {
	t.Helper()
	city, asn := writeGeoDBs(t, t.TempDir(), testNetworks)
	g := NewGeoIP(GeoIPConfig{City: city, ASN: asn})
	for _, tb := range []*Table[mmdb]{g.City, g.ASN} {
		if err := tb.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes content to a temporary file and renames it over path, as editors and deploy tools do.
func replaceFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// alertFrom builds an alert whose document is the given JSON.
func alertFrom(t testing.TB, tenant, doc string) *vigil.Alert {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return &vigil.Alert{Tenant: tenant, Doc: m}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// found is the ok of a Match call.
func found(_ Indicator, ok bool) bool { return ok }

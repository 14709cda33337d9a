// Command mkgeodb writes the quickstart's GeoIP databases, configs/enrich/geo-city.mmdb and geo-asn.mmdb: made-up
// countries and networks on the documentation address ranges that the sample events use. Regenerate with
//
//	go generate ./enrich/
//
// (or go run ./enrich/internal/mkgeodb -out configs/enrich from the repository root).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigilsoc/vigil/enrich/internal/geodb"
)

// networks is the quickstart's geography, made to fit configs/samples: the sample company's offices and its managed
// service provider reach the internet from Freedonia (198.51.100.0/24); the attackers' servers are in Ruritania
// (203.0.113.0/24, and 2001:db8::/32) and Borduria (192.0.2.0/24). The ASNs are from the documentation range
// (RFC 5398); the country codes are from the user-assigned range (X*), so no real country is named.
var networks = []geodb.Network{
	{CIDR: "198.51.100.0/24", CountryISO: "XF", CountryName: "Freedonia", ContinentCode: "EU", ContinentName: "Europe",
		RegionISO: "FC", RegionName: "Capital District", CityName: "Fredonia City", TimeZone: "Europe/Freedonia",
		Lat: 48.5, Lon: 11.25, HasLocation: true, ASN: 64496, ASOrg: "Freedonia Broadband"},
	{CIDR: "203.0.113.0/24", CountryISO: "XR", CountryName: "Ruritania", ContinentCode: "EU", ContinentName: "Europe",
		RegionISO: "ST", RegionName: "Strelsau", CityName: "Strelsau", TimeZone: "Europe/Ruritania",
		Lat: 50.25, Lon: 14.5, HasLocation: true, ASN: 64511, ASOrg: "Ruritania Bulletproof Hosting"},
	{CIDR: "192.0.2.0/24", CountryISO: "XB", CountryName: "Borduria", ContinentCode: "EU", ContinentName: "Europe",
		RegionISO: "SZ", RegionName: "Szohod", CityName: "Szohod", TimeZone: "Europe/Borduria",
		Lat: 45.75, Lon: 21.5, HasLocation: true, ASN: 64499, ASOrg: "Bordurian State Telecom"},
	{CIDR: "2001:db8::/32", CountryISO: "XR", CountryName: "Ruritania", ContinentCode: "EU", ContinentName: "Europe",
		CityName: "Strelsau", Lat: 50.25, Lon: 14.5, HasLocation: true, ASN: 64511, ASOrg: "Ruritania Bulletproof Hosting"},
}

func main() {
	out := flag.String("out", "configs/enrich", "folder to write geo-city.mmdb and geo-asn.mmdb to")
	flag.Parse()
	if err := generate(*out); err != nil {
		fmt.Fprintln(os.Stderr, "mkgeodb:", err)
		os.Exit(1)
	}
}

func generate(dir string) error {
	files, err := build()
	if err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// build returns the databases by file name.
func build() (map[string][]byte, error) {
	var city, asn bytes.Buffer
	if err := geodb.WriteCity(&city, networks); err != nil {
		return nil, err
	}
	if err := geodb.WriteASN(&asn, networks); err != nil {
		return nil, err
	}
	return map[string][]byte{"geo-city.mmdb": city.Bytes(), "geo-asn.mmdb": asn.Bytes()}, nil
}

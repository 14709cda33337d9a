// Package geodb writes small MaxMind-format (.mmdb) databases in the layout of GeoLite2 City and GeoLite2 ASN, for
// tests and for the quickstart's made-up geography. It is not a general database builder.
package geodb

import (
	"fmt"
	"io"
	"net"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Network is one network's data. Empty fields are left out of the record.
type Network struct {
	CIDR          string
	CountryISO    string
	CountryName   string
	ContinentCode string
	ContinentName string
	RegionISO     string // the subdivision's own code, without the country ("QC", not "CA-QC")
	RegionName    string
	CityName      string
	PostalCode    string
	TimeZone      string
	Lat, Lon      float64
	HasLocation   bool
	ASN           uint32
	ASOrg         string
}

// WriteCity writes a database of type "GeoLite2-City" holding the networks' location data.
func WriteCity(w io.Writer, nets []Network) error {
	return write(w, "GeoLite2-City", nets, cityRecord)
}

// WriteASN writes a database of type "GeoLite2-ASN" holding the networks' ASN data.
func WriteASN(w io.Writer, nets []Network) error {
	return write(w, "GeoLite2-ASN", nets, func(n Network) mmdbtype.Map {
		m := mmdbtype.Map{}
		if n.ASN != 0 {
			m["autonomous_system_number"] = mmdbtype.Uint32(n.ASN)
		}
		if n.ASOrg != "" {
			m["autonomous_system_organization"] = mmdbtype.String(n.ASOrg)
		}
		return m
	})
}

func write(w io.Writer, dbType string, nets []Network, record func(Network) mmdbtype.Map) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		Description:             map[string]string{"en": "Vigil test data: made-up places for documentation addresses"},
		Languages:               []string{"en"},
		IncludeReservedNetworks: true, // the documentation ranges are reserved
		RecordSize:              24,
		BuildEpoch:              1767225600, // fixed, so regenerating gives identical files
	})
	if err != nil {
		return err
	}
	for _, n := range nets {
		_, ipnet, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			return fmt.Errorf("geodb: %w", err)
		}
		if rec := record(n); len(rec) > 0 {
			if err := tree.Insert(ipnet, rec); err != nil {
				return fmt.Errorf("geodb: insert %s: %w", n.CIDR, err)
			}
		}
	}
	_, err = tree.WriteTo(w)
	return err
}

func names(s string) mmdbtype.Map { return mmdbtype.Map{"en": mmdbtype.String(s)} }

func cityRecord(n Network) mmdbtype.Map {
	m := mmdbtype.Map{}
	if n.CountryISO != "" {
		m["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(n.CountryISO), "names": names(n.CountryName)}
	}
	if n.ContinentCode != "" {
		m["continent"] = mmdbtype.Map{"code": mmdbtype.String(n.ContinentCode), "names": names(n.ContinentName)}
	}
	if n.CityName != "" {
		m["city"] = mmdbtype.Map{"names": names(n.CityName)}
	}
	if n.RegionISO != "" || n.RegionName != "" {
		m["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(n.RegionISO),
			"names": names(n.RegionName)}}
	}
	if n.PostalCode != "" {
		m["postal"] = mmdbtype.Map{"code": mmdbtype.String(n.PostalCode)}
	}
	loc := mmdbtype.Map{}
	if n.HasLocation {
		loc["latitude"], loc["longitude"] = mmdbtype.Float64(n.Lat), mmdbtype.Float64(n.Lon)
	}
	if n.TimeZone != "" {
		loc["time_zone"] = mmdbtype.String(n.TimeZone)
	}
	if len(loc) > 0 {
		m["location"] = loc
	}
	return m
}

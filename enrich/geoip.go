package enrich

//go:generate go run ./internal/mkgeodb -out ../configs/enrich

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"cel.dev/cel-go/common/types/ref"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/vigilsoc/vigil"
)

// GeoIP adds location and network owner to alerts from MaxMind-format databases (GeoIP2/GeoLite2 City or Country,
// and ASN). Both databases are read into memory (not memory-mapped, so a reload never pulls pages from under a
// lookup) and swapped whole when their files change. Private, loopback, link-local, multicast and reserved addresses
// are never looked up; the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are,
// because examples and tests use them as stand-ins for public addresses and no real database has data for them.
//
// It is safe for concurrent use. A nil *GeoIP finds nothing.
type GeoIP struct {
	City *Table[mmdb]
	ASN  *Table[mmdb]

	cache atomic.Pointer[geoCache]
	// Skipped counts alerts the enricher skipped (a database that cannot be decoded, a cancelled context).
	Skipped atomic.Int64
}

// geoEntities are the alert objects GeoIP fills, from their .ip field: <entity>.geo and <entity>.as.
var geoEntities = []string{"source", "destination", "client", "server"}

// GeoInfo is what the databases know about one address. Empty strings and zero mean unknown.
type GeoInfo struct {
	CountryISOCode string
	CountryName    string
	ContinentCode  string
	ContinentName  string
	RegionISOCode  string
	RegionName     string
	CityName       string
	PostalCode     string
	Timezone       string
	Lat, Lon       float64
	HasLocation    bool
	ASNumber       int64
	ASOrganization string

	val ref.Val // the CEL map for geoip(), built once per cached entry
}

// Found reports whether either database knew the address.
func (g *GeoInfo) Found() bool { return g.CountryISOCode != "" || g.CityName != "" || g.ASNumber != 0 }

// mmdb is one loaded database.
type mmdb struct {
	r    *maxminddb.Reader
	size int
}

// Len is the number of search-tree nodes, as the table's size.
func (m *mmdb) Len() int { return m.size }

// LoadMMDB reads and verifies a MaxMind DB file. It is the loader of GeoIP's tables.
func LoadMMDB(files []string) (*mmdb, error) {
	if len(files) != 1 {
		return nil, errNoFiles
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return nil, err
	}
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, &FileError{File: files[0], Err: err}
	}
	if err := r.Verify(); err != nil {
		return nil, &FileError{File: files[0], Err: err}
	}
	return &mmdb{r: r, size: int(r.Metadata.NodeCount)}, nil
}

// NewGeoIP returns a GeoIP over the configured databases; call Reload on its tables (or LoadAll) to fill them.
func NewGeoIP(cfg GeoIPConfig) *GeoIP {
	g := &GeoIP{}
	if cfg.City != "" {
		g.City = NewTable("geoip.city", []string{cfg.City}, LoadMMDB)
	}
	if cfg.ASN != "" {
		g.ASN = NewTable("geoip.asn", []string{cfg.ASN}, LoadMMDB)
	}
	return g
}

// Tables returns the configured tables.
func (g *GeoIP) Tables() []Reloadable {
	var out []Reloadable
	if g.City != nil {
		out = append(out, g.City)
	}
	if g.ASN != nil {
		out = append(out, g.ASN)
	}
	return out
}

// Name implements vigil.Enricher.
func (g *GeoIP) Name() string { return "geoip" }

// Lookup returns what the databases know about a (nil when nothing). The result is shared and must not be modified.
func (g *GeoIP) Lookup(a netip.Addr) (*GeoInfo, error) {
	if g == nil || !geoLookupable(a) {
		return nil, nil
	}
	city, asn := g.City.Get(), g.ASN.Get()
	if city == nil && asn == nil {
		return nil, nil
	}
	a = a.Unmap()
	var cres, ares maxminddb.Result
	key := uint64(notFoundOffset)<<32 | notFoundOffset
	if city != nil {
		cres = city.r.Lookup(a)
		if err := cres.Err(); err != nil {
			return nil, err
		}
		if cres.Found() {
			key = uint64(cres.Offset())<<32 | key&0xffffffff
		}
	}
	if asn != nil {
		ares = asn.r.Lookup(a)
		if err := ares.Err(); err != nil {
			return nil, err
		}
		if ares.Found() {
			key = key&^0xffffffff | uint64(ares.Offset())
		}
	}
	if key == uint64(notFoundOffset)<<32|notFoundOffset {
		return nil, nil
	}
	c := g.cacheFor(city, asn)
	if e, ok := c.m.Load(key); ok {
		return e.(*GeoInfo), nil
	}
	info, err := decodeGeo(cres, ares)
	if err != nil {
		return nil, err
	}
	if c.n.Add(1) <= geoCacheSize {
		c.m.Store(key, info)
	}
	return info, nil
}

// geoCache holds decoded records of one pair of database versions, by record offsets: real databases have far
// fewer distinct records than networks, so after warm-up a lookup decodes nothing and allocates nothing.
type geoCache struct {
	city, asn *mmdb
	m         sync.Map // uint64 → *GeoInfo
	n         atomic.Int64
}

const (
	geoCacheSize   = 200_000
	notFoundOffset = 0xffffffff
)

func (g *GeoIP) cacheFor(city, asn *mmdb) *geoCache {
	c := g.cache.Load()
	if c != nil && c.city == city && c.asn == asn {
		return c
	}
	fresh := &geoCache{city: city, asn: asn}
	if g.cache.CompareAndSwap(c, fresh) {
		return fresh
	}
	return g.cacheFor(city, asn)
}

type names struct {
	EN string `maxminddb:"en"`
}

type cityRecord struct {
	City struct {
		Names names `maxminddb:"names"`
	} `maxminddb:"city"`
	Continent struct {
		Code  string `maxminddb:"code"`
		Names names  `maxminddb:"names"`
	} `maxminddb:"continent"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   names  `maxminddb:"names"`
	} `maxminddb:"country"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
		TimeZone  string   `maxminddb:"time_zone"`
	} `maxminddb:"location"`
	Postal struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"postal"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   names  `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
}

type asnRecord struct {
	Number       int64  `maxminddb:"autonomous_system_number"`
	Organization string `maxminddb:"autonomous_system_organization"`
}

func decodeGeo(cres, ares maxminddb.Result) (*GeoInfo, error) {
	var c cityRecord
	var as asnRecord
	if err := cres.Decode(&c); err != nil {
		return nil, fmt.Errorf("geoip: decode city record: %w", err)
	}
	if err := ares.Decode(&as); err != nil {
		return nil, fmt.Errorf("geoip: decode ASN record: %w", err)
	}
	info := &GeoInfo{
		CountryISOCode: c.Country.ISOCode, CountryName: c.Country.Names.EN,
		ContinentCode: c.Continent.Code, ContinentName: c.Continent.Names.EN,
		CityName: c.City.Names.EN, PostalCode: c.Postal.Code, Timezone: c.Location.TimeZone,
		ASNumber: as.Number, ASOrganization: as.Organization,
	}
	if len(c.Subdivisions) > 0 {
		s := c.Subdivisions[0]
		info.RegionName = s.Names.EN
		if s.ISOCode != "" && c.Country.ISOCode != "" {
			info.RegionISOCode = c.Country.ISOCode + "-" + s.ISOCode
		}
	}
	if c.Location.Latitude != nil && c.Location.Longitude != nil {
		info.Lat, info.Lon, info.HasLocation = *c.Location.Latitude, *c.Location.Longitude, true
	}
	info.val = geoValue(info)
	return info, nil
}

// Enrich implements vigil.Enricher: it fills <entity>.geo and <entity>.as for each of source, destination, client and server that has an ip and
// no such object yet (the event's own context is kept).
func (g *GeoIP) Enrich(ctx context.Context, a *vigil.Alert) error {
	if err := ctx.Err(); err != nil {
		g.Skipped.Add(1)
		return err
	}
	for _, ent := range geoEntities {
		addr, ok := parseAddr(firstString(vigil.Get(a.Doc, ent, "ip")))
		if !ok {
			continue
		}
		info, err := g.Lookup(addr)
		if err != nil {
			g.Skipped.Add(1)
			return err
		}
		if info == nil {
			continue
		}
		obj := vigil.Object(a.Doc, ent) // an object: it has an ip
		if _, has := obj["geo"]; !has {
			if geo := geoDoc(info); len(geo) > 0 {
				obj["geo"] = geo
			}
		}
		if _, has := obj["as"]; !has && info.ASNumber != 0 {
			as := map[string]any{"number": info.ASNumber}
			if info.ASOrganization != "" {
				as["organization"] = map[string]any{"name": info.ASOrganization}
			}
			obj["as"] = as
		}
	}
	return nil
}

// geoDoc is the ECS geo object; a fresh map for every alert.
func geoDoc(info *GeoInfo) map[string]any {
	geo := make(map[string]any, 10)
	putString(geo, "country_iso_code", info.CountryISOCode)
	putString(geo, "country_name", info.CountryName)
	putString(geo, "continent_code", info.ContinentCode)
	putString(geo, "continent_name", info.ContinentName)
	putString(geo, "region_iso_code", info.RegionISOCode)
	putString(geo, "region_name", info.RegionName)
	putString(geo, "city_name", info.CityName)
	putString(geo, "postal_code", info.PostalCode)
	putString(geo, "timezone", info.Timezone)
	if info.HasLocation {
		geo["location"] = map[string]any{"lat": info.Lat, "lon": info.Lon}
	}
	return geo
}

// geoLookupable is false for addresses no public database describes.
func geoLookupable(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsPrivate() || a.IsLoopback() || a.IsUnspecified() || a.IsMulticast() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range reservedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// reservedPrefixes are special-purpose ranges (RFC 6890 and successors) that are not private, loopback, link-local or
// multicast, and are not routed on the Internet. The documentation ranges are deliberately absent (see GeoIP).
var reservedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and the broadcast address
	netip.MustParsePrefix("100::/64"),      // discard
	netip.MustParsePrefix("2001::/23"),     // IETF protocol assignments
}

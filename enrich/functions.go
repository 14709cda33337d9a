package enrich

import (
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
)

// Library returns the lookup functions rules call (docs/rules.md, "Lookup functions"), reading the same tables as the
// enrichers:
//
//	ioc.ip(x), ioc.domain(x), ioc.url(x), ioc.hash(x)   bool: x (a string, an ip(), or a list of them) is a live indicator
//	asset(x), asset(x, tenant)                           map(string, string): name, owner, criticality, business_unit,
//	                                                     environment, matched; all "" when x is not in the inventory
//	geoip(x)                                             map(string, dyn): country_iso_code, country_name, continent_code,
//	                                                     continent_name, region_iso_code, region_name, city_name,
//	                                                     timezone ("" when unknown), as_number (0), as_organization ("")
//
// A lookup that finds nothing, an argument that is not an address or name, and an unloaded or unconfigured table all
// give the "not found" value, never an error. Any argument may be nil. Lookups read the current table version
// through an atomic pointer and, after warm-up, do not allocate.
func Library(geo *GeoIP, assets *Assets, ti *ThreatIntel) cel.EnvOption {
	return cel.Lib(&library{geo: geo, assets: assets, ti: ti})
}

type library struct {
	geo    *GeoIP
	assets *Assets
	ti     *ThreatIntel
}

// LibraryName implements cel.SingletonLibrary, so adding the library twice is harmless.
func (*library) LibraryName() string { return "vigil.enrich" }

func (l *library) CompileOptions() []cel.EnvOption {
	iocFn := func(name, kind string) cel.EnvOption {
		return cel.Function(name, cel.Overload(strings.ReplaceAll(name, ".", "_")+"_dyn", []*cel.Type{cel.DynType},
			cel.BoolType, cel.UnaryBinding(func(v ref.Val) ref.Val {
				s := l.ti.set()
				if s == nil {
					return types.False
				}
				return types.Bool(iocMatch{s: s, clk: &clock{now: l.ti.now}, kind: kind}.any(v))
			})))
	}
	stringMap := cel.MapType(cel.StringType, cel.StringType)
	return []cel.EnvOption{
		iocFn("ioc.ip", "ip"),
		iocFn("ioc.domain", "domain"),
		iocFn("ioc.url", "url"),
		iocFn("ioc.hash", "hash"),
		cel.Function("asset",
			cel.Overload("asset_dyn", []*cel.Type{cel.DynType}, stringMap,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return l.asset(v, "") })),
			cel.Overload("asset_dyn_string", []*cel.Type{cel.DynType, cel.StringType}, stringMap,
				cel.BinaryBinding(func(v, tenant ref.Val) ref.Val {
					t, _ := tenant.(types.String)
					return l.asset(v, string(t))
				}))),
		cel.Function("geoip",
			cel.Overload("geoip_dyn", []*cel.Type{cel.DynType}, cel.MapType(cel.StringType, cel.DynType),
				cel.UnaryBinding(l.geoip))),
	}
}

func (*library) ProgramOptions() []cel.ProgramOption { return nil }

// iocMatch is one ioc.* call. It holds one version of the table, so all the elements of a list argument are checked
// against the same version even while a reload swaps it.
type iocMatch struct {
	s    *IndicatorSet
	clk  *clock
	kind string // ip, domain, url or hash
}

// any reports whether v, or any element of a list v, is a live indicator of the kind. IP values from ip() are
// accepted too.
func (m iocMatch) any(v ref.Val) bool {
	switch x := v.(type) {
	case types.String:
		return m.s.match(m.kind, string(x), m.clk) >= 0
	case ext.IP:
		if m.kind == "ip" {
			return m.s.matchIP(x.Addr, m.clk) >= 0
		}
		return m.s.match(m.kind, x.Addr.String(), m.clk) >= 0
	case traits.Lister:
		it := x.Iterator()
		for it.HasNext() == types.True {
			if m.any(it.Next()) {
				return true
			}
		}
	}
	return false
}

// firstFound returns find's result for v, or for the first element of a list it finds something for.
func firstFound[T any](v ref.Val, find func(string) *T) *T {
	switch x := v.(type) {
	case types.String:
		return find(string(x))
	case ext.IP:
		return find(x.Addr.String())
	case traits.Lister:
		it := x.Iterator()
		for it.HasNext() == types.True {
			if r := firstFound(it.Next(), find); r != nil {
				return r
			}
		}
	}
	return nil
}

func (l *library) asset(v ref.Val, tenant string) ref.Val {
	e := firstFound(v, func(s string) *Asset { return l.assets.Lookup(tenant, s) })
	if e == nil {
		return noAsset
	}
	if p := e.val.Load(); p != nil {
		return *p
	}
	val := assetValue(e)
	e.val.Store(&val)
	return val
}

func (l *library) geoip(v ref.Val) ref.Val {
	info := firstFound(v, func(s string) *GeoInfo {
		a, ok := parseAddr(s)
		if !ok {
			return nil
		}
		info, _ := l.geo.Lookup(a) // a database that cannot be decoded answers "unknown" to rules
		return info
	})
	if info == nil {
		return noGeo
	}
	return info.val
}

// assetKeys are the keys of asset()'s map.
var assetKeys = []string{"name", "owner", "criticality", "business_unit", "environment", "matched"}

// noAsset and noGeo are the immutable "not found" values.
var (
	noAsset = assetValue(&Asset{})
	noGeo   = geoValue(&GeoInfo{})
)

func assetValue(e *Asset) ref.Val {
	m := make(map[string]string, len(assetKeys))
	for _, k := range assetKeys {
		m[k] = ""
	}
	m["name"], m["owner"], m["criticality"] = e.Name, e.Owner, e.Criticality
	m["business_unit"], m["environment"], m["matched"] = e.BusinessUnit, e.Environment, e.Key
	return types.NewStringStringMap(types.DefaultTypeAdapter, m)
}

func geoValue(g *GeoInfo) ref.Val {
	return types.NewStringInterfaceMap(types.DefaultTypeAdapter, map[string]any{
		"country_iso_code": g.CountryISOCode, "country_name": g.CountryName,
		"continent_code": g.ContinentCode, "continent_name": g.ContinentName,
		"region_iso_code": g.RegionISOCode, "region_name": g.RegionName,
		"city_name": g.CityName, "timezone": g.Timezone,
		"as_number": g.ASNumber, "as_organization": g.ASOrganization,
	})
}

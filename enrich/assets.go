package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"cel.dev/cel-go/common/types/ref"

	"github.com/vigilsoc/vigil"
)

// Assets adds asset context to alerts from inventories: an IP address, a CIDR or a hostname mapped to an owner, a
// criticality, a business unit and an environment. An address matches the most specific entry (longest prefix); a
// hostname matches case-insensitively, and a fully qualified name also matches an entry for its first label.
//
// A tenant's own inventory is consulted before the shared one, and only for that tenant's alerts. It is safe for
// concurrent use. A nil *Assets finds nothing.
type Assets struct {
	Shared  *Table[Inventory]
	Tenants map[string]*Table[Inventory]

	// Skipped counts alerts the enricher skipped (a cancelled context).
	Skipped atomic.Int64
}

// Criticalities are the allowed criticality values, lowest first; an inventory may also leave it empty.
var Criticalities = []string{"low", "medium", "high", "critical"}

// Asset is one inventory entry.
type Asset struct {
	// Key is the entry's address, CIDR or hostname, in canonical form.
	Key          string
	Name         string
	Owner        string
	Criticality  string
	BusinessUnit string
	Environment  string

	val atomic.Pointer[ref.Val] // the CEL map for asset(), built on first use
}

// Inventory is one loaded version of an asset table.
type Inventory struct {
	assets   []Asset
	prefixes prefixMap[int32]
	hosts    map[string]int32
}

// Len is the number of entries.
func (inv *Inventory) Len() int { return len(inv.assets) }

// NewAssets returns Assets over the configured inventories; the tables still have to be loaded.
func NewAssets(cfg AssetsConfig) *Assets {
	a := &Assets{}
	if len(cfg.Files) > 0 {
		a.Shared = NewTable("assets", cfg.Files, LoadInventory)
	}
	for _, t := range sortedKeys(cfg.Tenants) {
		if a.Tenants == nil {
			a.Tenants = map[string]*Table[Inventory]{}
		}
		a.Tenants[t] = NewTable("assets."+t, cfg.Tenants[t], LoadInventory)
	}
	return a
}

// Tables returns the configured tables.
func (a *Assets) Tables() []Reloadable {
	var out []Reloadable
	if a.Shared != nil {
		out = append(out, a.Shared)
	}
	for _, t := range sortedKeys(a.Tenants) {
		out = append(out, a.Tenants[t])
	}
	return out
}

// Name implements vigil.Enricher.
func (a *Assets) Name() string { return "assets" }

// Lookup finds the entry for an address or hostname, in the tenant's inventory first; nil when there is none.
func (a *Assets) Lookup(tenant, value string) *Asset {
	if a == nil || value == "" {
		return nil
	}
	if t := a.Tenants[tenant]; t != nil {
		if e := t.Get().lookup(value); e != nil {
			return e
		}
	}
	return a.Shared.Get().lookup(value)
}

func (inv *Inventory) lookup(value string) *Asset {
	if inv == nil {
		return nil
	}
	if addr, ok := parseAddr(value); ok {
		if i, _, ok := inv.prefixes.lookup(addr); ok {
			return &inv.assets[i]
		}
		return nil
	}
	name := lowerASCII(strings.TrimSuffix(value, "."))
	if i, ok := inv.hosts[name]; ok {
		return &inv.assets[i]
	}
	if dot := strings.IndexByte(name, '.'); dot > 0 {
		if i, ok := inv.hosts[name[:dot]]; ok {
			return &inv.assets[i]
		}
	}
	return nil
}

// assetFields are where Enrich looks for each entity, in order; the first that matches wins.
var assetFields = []struct {
	entity string
	fields []string
}{
	{"host", []string{"host.ip", "host.name", "host.hostname"}},
	{"source", []string{"source.ip", "source.domain", "source.address"}},
	{"destination", []string{"destination.ip", "destination.domain", "destination.address"}},
}

// Enrich implements vigil.Enricher: it writes vigil.asset.host, vigil.asset.source and vigil.asset.destination for
// the entities found in the inventory.
func (a *Assets) Enrich(ctx context.Context, al *vigil.Alert) error {
	if err := ctx.Err(); err != nil {
		a.Skipped.Add(1)
		return err
	}
	for _, ent := range assetFields {
		var found *Asset
		for _, f := range ent.fields {
			eachStringAt(al.Doc, f, func(s string) {
				if found == nil {
					found = a.Lookup(al.Tenant, s)
				}
			})
			if found != nil {
				break
			}
		}
		if found != nil {
			vigil.Object(vigil.Object(al.Doc, "vigil"), "asset")[ent.entity] = found.doc()
		}
	}
	return nil
}

func (e *Asset) doc() map[string]any {
	d := make(map[string]any, 6)
	d["matched"] = e.Key
	putString(d, "name", e.Name)
	putString(d, "owner", e.Owner)
	putString(d, "criticality", e.Criticality)
	putString(d, "business_unit", e.BusinessUnit)
	putString(d, "environment", e.Environment)
	return d
}

// assetRow is one inventory entry as written in a file; the JSON form uses the same keys as the CSV header.
type assetRow struct {
	Asset        string `json:"asset"`
	Name         string `json:"name"`
	Owner        string `json:"owner"`
	Criticality  string `json:"criticality"`
	BusinessUnit string `json:"business_unit"`
	Environment  string `json:"environment"`
}

// LoadInventory reads asset inventories: CSV files with a header naming some of the columns asset (required), name,
// owner, criticality, business_unit and environment; or JSON files holding an array of objects with those keys.
// Later entries win over earlier ones for the same key. Errors carry file and line.
func LoadInventory(files []string) (*Inventory, error) {
	if len(files) == 0 {
		return nil, errNoFiles
	}
	b := inventoryBuilder{inv: &Inventory{hosts: map[string]int32{}}, intern: map[string]string{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(filepath.Ext(f), ".json") {
			err = readJSONRows(f, data, b.add)
		} else {
			err = readAssetCSV(f, data, b.add)
		}
		if err != nil {
			return nil, err
		}
	}
	b.inv.prefixes.finish()
	return b.inv, nil
}

type inventoryBuilder struct {
	inv    *Inventory
	intern map[string]string
}

func (b *inventoryBuilder) str(s string) string {
	s = strings.TrimSpace(s)
	if v, ok := b.intern[s]; ok {
		return v
	}
	s = strings.Clone(s) // do not keep the whole CSV record alive
	b.intern[s] = s
	return s
}

func (b *inventoryBuilder) add(file string, line int, r assetRow) error {
	crit := strings.ToLower(strings.TrimSpace(r.Criticality))
	if crit != "" && !contains(Criticalities, crit) {
		return lineErr(file, line, "criticality %q: want one of %s, or empty", r.Criticality, strings.Join(Criticalities, ", "))
	}
	key := strings.TrimSpace(r.Asset)
	p, isPrefix := parsePrefix(key)
	host := lowerASCII(strings.TrimSuffix(key, "."))
	switch {
	case isPrefix && p.IsSingleIP():
		key = p.Addr().String()
	case isPrefix:
		key = p.String()
	case validHostname(host):
		key = strings.Clone(host)
	default:
		return lineErr(file, line, "asset %q: want an IP address, a CIDR or a hostname", r.Asset)
	}
	idx := int32(len(b.inv.assets))
	b.inv.assets = append(b.inv.assets, Asset{})
	e := &b.inv.assets[idx]
	e.Key, e.Name, e.Owner, e.Criticality = key, strings.Clone(strings.TrimSpace(r.Name)), b.str(r.Owner), b.str(crit)
	e.BusinessUnit, e.Environment = b.str(r.BusinessUnit), b.str(r.Environment)
	if isPrefix {
		b.inv.prefixes.insert(p, idx)
	} else {
		b.inv.hosts[key] = idx
	}
	return nil
}

var assetColumns = []string{"asset", "name", "owner", "criticality", "business_unit", "environment"}

func readAssetCSV(file string, data []byte, add func(string, int, assetRow) error) error {
	return readCSV(file, data, assetColumns, "asset", func(line int, col map[string]string) error {
		return add(file, line, assetRow{Asset: col["asset"], Name: col["name"], Owner: col["owner"],
			Criticality: col["criticality"], BusinessUnit: col["business_unit"], Environment: col["environment"]})
	})
}

// readJSONRows reads a JSON array of asset objects, strictly (unknown keys are errors).
func readJSONRows(file string, data []byte, add func(string, int, assetRow) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return lineErr(file, lineAt(data, dec.InputOffset()), "want a JSON array of asset objects")
	}
	for dec.More() {
		line := lineAt(data, dec.InputOffset())
		var r assetRow
		if err := dec.Decode(&r); err != nil {
			return lineErr(file, line, "%v", err)
		}
		if err := add(file, line, r); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return lineErr(file, lineAt(data, dec.InputOffset()), "%v", err)
	}
	return nil
}

package enrich

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilsoc/vigil"
)

// ThreatIntel marks alerts that contain known-bad indicators: IPv4/IPv6 addresses and CIDRs, domains (a listed
// domain also matches its subdomains), URLs, and MD5/SHA-1/SHA-256 hashes, loaded from plain lists, CSV files and
// STIX 2.1 bundles. An indicator past its expiry never matches. Each match is written to the ECS list
// threat.enrichments. It is safe for concurrent use. A nil *ThreatIntel finds nothing.
type ThreatIntel struct {
	Table  *Table[IndicatorSet]
	fields map[string][]string
	now    func() time.Time

	// Skipped counts alerts the enricher skipped (a cancelled context).
	Skipped atomic.Int64
}

// DefaultThreatFields returns the alert fields searched for each kind of indicator (ip, domain, url, hash); a fresh
// map on every call.
func DefaultThreatFields() map[string][]string {
	return map[string][]string{
		"ip": {"source.ip", "destination.ip", "client.ip", "server.ip", "host.ip", "dns.resolved_ip", "dns.answers.data"},
		"domain": {"dns.question.name", "dns.answers.data", "url.domain", "destination.domain", "source.domain",
			"client.domain", "server.domain", "tls.client.server_name"},
		"url": {"url.full", "url.original"},
		"hash": {"file.hash.md5", "file.hash.sha1", "file.hash.sha256", "process.hash.md5", "process.hash.sha1",
			"process.hash.sha256", "dll.hash.md5", "dll.hash.sha1", "dll.hash.sha256"},
	}
}

// threatKinds orders the kinds for Enrich.
var threatKinds = []string{"ip", "domain", "url", "hash"}

// IndicatorType is the type of an indicator.
type IndicatorType uint8

// Indicator types.
const (
	TypeIPv4 IndicatorType = iota + 1
	TypeIPv6
	TypeDomain
	TypeURL
	TypeMD5
	TypeSHA1
	TypeSHA256
)

// ECS is the type's threat.indicator.type value.
func (t IndicatorType) ECS() string {
	switch t {
	case TypeIPv4:
		return "ipv4-addr"
	case TypeIPv6:
		return "ipv6-addr"
	case TypeDomain:
		return "domain-name"
	case TypeURL:
		return "url"
	case TypeMD5, TypeSHA1, TypeSHA256:
		return "file"
	}
	return ""
}

// hashName is the ECS hash field name (file.hash.<name>) of a hash type.
func (t IndicatorType) hashName() string {
	switch t {
	case TypeMD5:
		return "md5"
	case TypeSHA1:
		return "sha1"
	case TypeSHA256:
		return "sha256"
	}
	return ""
}

// Indicator is one known-bad value, as returned by the Match methods. It points into the loaded table and must not
// be modified.
type Indicator struct {
	// Value is canonical: an address or CIDR, a lower-case domain, a normalized URL, a lower-case hash.
	Value string
	Type  IndicatorType
	// Expires is the Unix time from which the indicator no longer matches; 0 means never.
	Expires int64
	// Meta describes the indicator's source; indicators from one feed row or STIX object share it.
	Meta *IndicatorMeta
}

// IndicatorMeta describes where an indicator comes from.
type IndicatorMeta struct {
	Provider    string
	Confidence  string // ECS words: Not Specified, None, Low, Medium, High; or empty
	Description string
	Reference   string
	// ID is the STIX indicator id, when there is one.
	ID string
}

// NewThreatIntel returns a ThreatIntel over the configured files; its table still has to be loaded.
func NewThreatIntel(cfg ThreatIntelConfig) *ThreatIntel {
	t := &ThreatIntel{fields: DefaultThreatFields(), now: time.Now}
	for k, v := range cfg.Fields {
		t.fields[k] = v
	}
	if len(cfg.Files) > 0 {
		t.Table = NewTable("threat_intel", cfg.Files, func(files []string) (*IndicatorSet, error) {
			return LoadIndicators(files, t.now())
		})
	}
	return t
}

// Tables returns the configured tables.
func (t *ThreatIntel) Tables() []Reloadable {
	if t.Table == nil {
		return nil
	}
	return []Reloadable{t.Table}
}

// Name implements vigil.Enricher.
func (t *ThreatIntel) Name() string { return "threat_intel" }

func (t *ThreatIntel) set() *IndicatorSet {
	if t == nil {
		return nil
	}
	return t.Table.Get()
}

// MatchIP returns the live indicator of the most specific address or CIDR containing a.
func (t *ThreatIntel) MatchIP(a netip.Addr) (Indicator, bool) {
	s := t.set()
	if s == nil {
		return Indicator{}, false
	}
	return s.at(s.matchIP(a, &clock{now: t.now}))
}

// MatchDomain returns the live indicator for the domain or its closest listed parent domain.
func (t *ThreatIntel) MatchDomain(d string) (Indicator, bool) {
	s := t.set()
	if s == nil {
		return Indicator{}, false
	}
	return s.at(s.matchDomain(d, &clock{now: t.now}))
}

// MatchURL returns the live indicator for the URL (compared after normalization).
func (t *ThreatIntel) MatchURL(u string) (Indicator, bool) {
	s := t.set()
	if s == nil {
		return Indicator{}, false
	}
	return s.at(s.matchURL(u, &clock{now: t.now}))
}

// MatchHash returns the live indicator for an MD5, SHA-1 or SHA-256 hash (any case).
func (t *ThreatIntel) MatchHash(h string) (Indicator, bool) {
	s := t.set()
	if s == nil {
		return Indicator{}, false
	}
	return s.at(s.matchHash(h, &clock{now: t.now}))
}

func (s *IndicatorSet) at(i int32) (Indicator, bool) {
	if i < 0 {
		return Indicator{}, false
	}
	return s.indicator(i), true
}

func (s *IndicatorSet) matchIP(a netip.Addr, clk *clock) int32 {
	found := int32(-1)
	s.ips.each(a, func(i int32, _ int) bool {
		found = s.nextLive(i, s.value(i), clk)
		return found < 0
	})
	return found
}

// matchDomain tries the domain, then each parent domain.
func (s *IndicatorSet) matchDomain(d string, clk *clock) int32 {
	if len(s.keyed[keyDomain]) == 0 {
		return -1
	}
	d = lowerASCII(strings.TrimSuffix(d, "."))
	for d != "" {
		if i := s.find(keyDomain, d, clk); i >= 0 {
			return i
		}
		dot := strings.IndexByte(d, '.')
		if dot < 0 {
			break
		}
		d = d[dot+1:]
	}
	return -1
}

func (s *IndicatorSet) matchURL(u string, clk *clock) int32 {
	if len(s.keyed[keyURL]) == 0 || u == "" {
		return -1
	}
	if i := s.find(keyURL, u, clk); i >= 0 {
		return i
	}
	if n, ok := normalizeURL(u); ok && n != u {
		return s.find(keyURL, n, clk)
	}
	return -1
}

func (s *IndicatorSet) matchHash(h string, clk *clock) int32 {
	if len(s.keyed[keyHash]) == 0 || !isHex(h) {
		return -1
	}
	return s.find(keyHash, lowerASCII(h), clk)
}

// Enrich implements vigil.Enricher: every indicator found in the configured fields is appended to
// threat.enrichments with the atomic value and the field it was found in.
func (t *ThreatIntel) Enrich(ctx context.Context, a *vigil.Alert) error {
	if err := ctx.Err(); err != nil {
		t.Skipped.Add(1)
		return err
	}
	s := t.set()
	if s == nil {
		return nil
	}
	clk := &clock{now: t.now}
	var out []any
	type hit struct {
		field string
		i     int32
	}
	var seen []hit
	for _, kind := range threatKinds {
		for _, field := range t.fields[kind] {
			eachStringAt(a.Doc, field, func(atomic string) {
				i := s.match(kind, atomic, clk)
				if i < 0 {
					return
				}
				// Every live indicator with the matched value (one per provider), not only the first.
				for v := s.value(i); i >= 0; i = s.nextLive(s.recs[i].next, v, clk) {
					if slices.Contains(seen, hit{field, i}) {
						continue
					}
					seen = append(seen, hit{field, i})
					out = append(out, enrichmentDoc(s.indicator(i), atomic, field))
				}
			})
		}
	}
	if len(out) > 0 {
		threat := vigil.Object(a.Doc, "threat")
		prev, _ := threat["enrichments"].([]any)
		threat["enrichments"] = append(prev, out...)
	}
	return nil
}

func (s *IndicatorSet) match(kind, v string, clk *clock) int32 {
	switch kind {
	case "ip":
		if a, ok := parseAddr(v); ok {
			return s.matchIP(a, clk)
		}
	case "domain":
		return s.matchDomain(v, clk)
	case "url":
		return s.matchURL(v, clk)
	case "hash":
		return s.matchHash(v, clk)
	}
	return -1
}

// enrichmentDoc is one ECS threat.enrichments object.
func enrichmentDoc(ind Indicator, atomic, field string) map[string]any {
	indicator := make(map[string]any, 8)
	indicator["type"], indicator["name"] = ind.Type.ECS(), ind.Value
	switch ind.Type {
	case TypeIPv4, TypeIPv6:
		if !strings.Contains(ind.Value, "/") {
			indicator["ip"] = ind.Value
		}
	case TypeDomain:
		indicator["url"] = map[string]any{"domain": ind.Value}
	case TypeURL:
		indicator["url"] = map[string]any{"full": ind.Value}
	default:
		indicator["file"] = map[string]any{"hash": map[string]any{ind.Type.hashName(): ind.Value}}
	}
	matched := map[string]any{"atomic": atomic, "field": field, "type": "indicator_match_enrichment"}
	if m := ind.Meta; m != nil {
		putString(indicator, "provider", m.Provider)
		putString(indicator, "confidence", m.Confidence)
		putString(indicator, "description", m.Description)
		putString(indicator, "reference", m.Reference)
		if m.ID != "" {
			matched["id"] = m.ID
		}
	}
	if ind.Expires != 0 {
		indicator["expires"] = time.Unix(ind.Expires, 0).UTC().Format(time.RFC3339)
	}
	return map[string]any{"indicator": indicator, "matched": matched}
}

package enrich

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// DefaultThreatFields are the alert fields searched for each kind of indicator.
var DefaultThreatFields = map[string][]string{
	"ip": {"source.ip", "destination.ip", "client.ip", "server.ip", "host.ip", "dns.resolved_ip", "dns.answers.data"},
	"domain": {"dns.question.name", "dns.answers.data", "url.domain", "destination.domain", "source.domain",
		"client.domain", "server.domain", "tls.client.server_name"},
	"url": {"url.full", "url.original"},
	"hash": {"file.hash.md5", "file.hash.sha1", "file.hash.sha256", "process.hash.md5", "process.hash.sha1",
		"process.hash.sha256", "dll.hash.md5", "dll.hash.sha1", "dll.hash.sha256"},
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

// Indicator is one known-bad value. Indicators from the same source record share their IndicatorMeta.
type Indicator struct {
	// Value is canonical: an address or CIDR, a lower-case domain, a normalized URL, a lower-case hash.
	Value string
	// Expires is the Unix time from which the indicator no longer matches; 0 means never.
	Expires int64
	Meta    *IndicatorMeta
	Type    IndicatorType
	next    int32 // the next indicator with the same value (another provider), or -1
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

func (ind *Indicator) live(now int64) bool { return ind.Expires == 0 || now < ind.Expires }

// IndicatorSet is one loaded version of the indicator table.
type IndicatorSet struct {
	ind     []Indicator
	ips     prefixMap[int32]
	domains map[string]int32
	urls    map[string]int32
	hashes  map[string]int32
	// Expired counts indicators dropped at load because they had already expired; Unsupported counts STIX
	// indicators whose patterns are not simple equality comparisons of a supported type.
	Expired, Unsupported int
}

// Len is the number of indicators.
func (s *IndicatorSet) Len() int { return len(s.ind) }

// NewThreatIntel returns a ThreatIntel over the configured files; its table still has to be loaded.
func NewThreatIntel(cfg ThreatIntelConfig) *ThreatIntel {
	t := &ThreatIntel{fields: map[string][]string{}, now: time.Now}
	for k, v := range DefaultThreatFields {
		t.fields[k] = v
	}
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

// MatchIP returns the live indicator of the most specific address or CIDR containing a, or nil.
func (t *ThreatIntel) MatchIP(a netip.Addr) *Indicator {
	s := t.set()
	if s == nil {
		return nil
	}
	i := s.matchIP(a, t.now().Unix())
	return s.at(i)
}

// MatchDomain returns the live indicator for the domain or its closest listed parent domain, or nil.
func (t *ThreatIntel) MatchDomain(d string) *Indicator {
	s := t.set()
	if s == nil {
		return nil
	}
	i, _ := s.matchDomain(d, t.now().Unix())
	return s.at(i)
}

// MatchURL returns the live indicator for the URL (compared after normalization), or nil.
func (t *ThreatIntel) MatchURL(u string) *Indicator {
	s := t.set()
	if s == nil {
		return nil
	}
	return s.at(s.matchURL(u, t.now().Unix()))
}

// MatchHash returns the live indicator for an MD5, SHA-1 or SHA-256 hash (any case), or nil.
func (t *ThreatIntel) MatchHash(h string) *Indicator {
	s := t.set()
	if s == nil {
		return nil
	}
	return s.at(s.matchHash(h, t.now().Unix()))
}

func (s *IndicatorSet) at(i int32) *Indicator {
	if i < 0 {
		return nil
	}
	return &s.ind[i]
}

// firstLive follows a chain of indicators with one value to the first that has not expired; -1 when none.
func (s *IndicatorSet) firstLive(i int32, now int64) int32 {
	for ; i >= 0; i = s.ind[i].next {
		if s.ind[i].live(now) {
			return i
		}
	}
	return -1
}

func (s *IndicatorSet) matchIP(a netip.Addr, now int64) int32 {
	found := int32(-1)
	s.ips.each(a, func(i int32, _ int) bool {
		found = s.firstLive(i, now)
		return found < 0
	})
	return found
}

// matchDomain tries the domain, then each parent domain; it returns the indicator and the listed domain.
func (s *IndicatorSet) matchDomain(d string, now int64) (int32, string) {
	d = lowerASCII(strings.TrimSuffix(d, "."))
	for d != "" {
		if i, ok := s.domains[d]; ok {
			if i = s.firstLive(i, now); i >= 0 {
				return i, d
			}
		}
		dot := strings.IndexByte(d, '.')
		if dot < 0 {
			break
		}
		d = d[dot+1:]
	}
	return -1, ""
}

func (s *IndicatorSet) matchURL(u string, now int64) int32 {
	if len(s.urls) == 0 || u == "" {
		return -1
	}
	if i, ok := s.urls[u]; ok {
		return s.firstLive(i, now)
	}
	if n, ok := normalizeURL(u); ok && n != u {
		if i, ok := s.urls[n]; ok {
			return s.firstLive(i, now)
		}
	}
	return -1
}

func (s *IndicatorSet) matchHash(h string, now int64) int32 {
	if i, ok := s.hashes[lowerASCII(h)]; ok {
		return s.firstLive(i, now)
	}
	return -1
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
	now := t.now().Unix()
	var out []any
	type hit struct {
		field string
		i     int32
	}
	var seen []hit
	for _, kind := range threatKinds {
		for _, field := range t.fields[kind] {
			eachStringAt(a.Doc, field, func(atomic string) {
				i := s.match(kind, atomic, now)
				for ; i >= 0; i = s.ind[i].next {
					ind := &s.ind[i]
					if !ind.live(now) || slices.Contains(seen, hit{field, i}) {
						continue
					}
					seen = append(seen, hit{field, i})
					out = append(out, enrichmentDoc(ind, atomic, field))
				}
			})
		}
	}
	if len(out) > 0 {
		threat := objectAt(a.Doc, "threat")
		prev, _ := threat["enrichments"].([]any)
		threat["enrichments"] = append(prev, out...)
	}
	return nil
}

func (s *IndicatorSet) match(kind, v string, now int64) int32 {
	switch kind {
	case "ip":
		if a, ok := parseAddr(v); ok {
			return s.matchIP(a, now)
		}
	case "domain":
		i, _ := s.matchDomain(v, now)
		return i
	case "url":
		return s.matchURL(v, now)
	case "hash":
		return s.matchHash(v, now)
	}
	return -1
}

// enrichmentDoc is one ECS threat.enrichments object.
func enrichmentDoc(ind *Indicator, atomic, field string) map[string]any {
	indicator := map[string]any{"type": ind.Type.ECS(), "name": ind.Value}
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

// LoadIndicators reads indicator files into one set, dropping indicators already expired at now. The format follows
// the extension: .csv, .json (STIX 2.1 bundle), anything else a plain list. Errors carry file and line.
func LoadIndicators(files []string, now time.Time) (*IndicatorSet, error) {
	if len(files) == 0 {
		return nil, errNoFiles
	}
	b := newIndicatorBuilder(now)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		switch strings.ToLower(filepath.Ext(f)) {
		case ".csv":
			err = b.readCSV(f, data)
		case ".json":
			err = b.readSTIX(f, data)
		default:
			err = b.readList(f, data)
		}
		if err != nil {
			return nil, err
		}
	}
	b.set.ips.finish()
	return b.set, nil
}

type indicatorBuilder struct {
	set    *IndicatorSet
	now    int64
	metas  map[IndicatorMeta]*IndicatorMeta
	intern map[string]string
}

func newIndicatorBuilder(now time.Time) *indicatorBuilder {
	return &indicatorBuilder{
		set: &IndicatorSet{domains: map[string]int32{}, urls: map[string]int32{}, hashes: map[string]int32{}},
		now: now.Unix(), metas: map[IndicatorMeta]*IndicatorMeta{}, intern: map[string]string{},
	}
}

// meta interns metadata, so the thousands of rows of one feed share one IndicatorMeta.
func (b *indicatorBuilder) meta(m IndicatorMeta) *IndicatorMeta {
	if p, ok := b.metas[m]; ok {
		return p
	}
	p := &m
	b.metas[m] = p
	return p
}

// add classifies value (as the given type, or by its shape when typ is empty) and adds it.
func (b *indicatorBuilder) add(file string, line int, typ, value string, expires int64, meta *IndicatorMeta) error {
	t, canon, err := classify(typ, value)
	if err != nil {
		return lineErr(file, line, "%v", err)
	}
	if expires != 0 && expires <= b.now {
		b.set.Expired++
		return nil
	}
	idx := int32(len(b.set.ind))
	ind := Indicator{Value: canon, Expires: expires, Meta: meta, Type: t, next: -1}
	switch t {
	case TypeIPv4, TypeIPv6:
		p, _ := parsePrefix(canon)
		if old, ok := b.set.ips.insert(p, idx); ok {
			ind.next = old
		}
	default:
		m := b.set.hashes
		switch t {
		case TypeDomain:
			m = b.set.domains
		case TypeURL:
			m = b.set.urls
		}
		if old, ok := m[canon]; ok {
			ind.next = old
		}
		m[canon] = idx
	}
	b.set.ind = append(b.set.ind, ind)
	return nil
}

// classify checks value against typ (one of the names in indicatorTypes, or empty to recognise the value by its
// shape) and returns its type and canonical form.
func classify(typ, value string) (IndicatorType, string, error) {
	value = strings.TrimSpace(value)
	want, ok := indicatorTypes[strings.ToLower(strings.TrimSpace(typ))]
	if !ok {
		return 0, "", fmt.Errorf("unknown indicator type %q", typ)
	}
	if value == "" {
		return 0, "", fmt.Errorf("empty indicator value")
	}
	got, canon := shapeOf(value, want)
	if got == 0 || want != 0 && want != got && !(want == typeIP && (got == TypeIPv4 || got == TypeIPv6)) &&
		!(want == typeHash && (got == TypeMD5 || got == TypeSHA1 || got == TypeSHA256)) {
		if typ == "" {
			return 0, "", fmt.Errorf("%q is not an IP address, CIDR, domain, URL or MD5/SHA-1/SHA-256 hash", value)
		}
		return 0, "", fmt.Errorf("%q is not a valid %s indicator", value, typ)
	}
	return got, canon, nil
}

// Pseudo-types accepted in files that stand for a family of types.
const (
	typeIP   IndicatorType = 100
	typeHash IndicatorType = 101
)

// indicatorTypes maps the type names accepted in CSV files to types; 0 means "recognise by shape".
var indicatorTypes = map[string]IndicatorType{
	"": 0, "ip": typeIP, "cidr": typeIP, "ipv4": TypeIPv4, "ipv4-addr": TypeIPv4, "ipv6": TypeIPv6,
	"ipv6-addr": TypeIPv6, "domain": TypeDomain, "domain-name": TypeDomain, "hostname": TypeDomain, "url": TypeURL,
	"md5": TypeMD5, "sha1": TypeSHA1, "sha-1": TypeSHA1, "sha256": TypeSHA256, "sha-256": TypeSHA256,
	"hash": typeHash, "file": typeHash,
}

// shapeOf recognises a value's type and canonical form; 0 when it has no recognised shape. A value of 32, 40 or 64
// hex digits is a hash unless want says domain (a hex string without a dot is never a domain anyway).
func shapeOf(v string, want IndicatorType) (IndicatorType, string) {
	if p, ok := parsePrefix(v); ok {
		canon := p.String()
		if p.IsSingleIP() {
			canon = p.Addr().String()
		}
		if p.Addr().Is4() {
			return TypeIPv4, canon
		}
		return TypeIPv6, canon
	}
	if strings.Contains(v, "://") {
		if n, ok := normalizeURL(v); ok {
			return TypeURL, n
		}
		return 0, ""
	}
	if isHex(v) {
		switch len(v) {
		case 32:
			return TypeMD5, strings.ToLower(v)
		case 40:
			return TypeSHA1, strings.ToLower(v)
		case 64:
			return TypeSHA256, strings.ToLower(v)
		}
	}
	d := lowerASCII(strings.TrimSuffix(v, "."))
	if validHostname(d) && (strings.Contains(d, ".") || want == TypeDomain) {
		return TypeDomain, d
	}
	return 0, ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// normalizeURL lower-cases the scheme and host, drops a default port and the fragment, and gives an empty path "/",
// so that differently written forms of one URL compare equal.
func normalizeURL(s string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" || u.Scheme == "http" && port == "80" || u.Scheme == "https" && port == "443" {
		u.Host = host
		if strings.Contains(host, ":") {
			u.Host = "[" + host + "]"
		}
	} else {
		u.Host = strings.ToLower(u.Host)
	}
	u.Fragment, u.RawFragment = "", ""
	if u.Path == "" && u.Opaque == "" {
		u.Path = "/"
	}
	return u.String(), true
}

// readList reads a plain list: one indicator per line, recognised by its shape; blank lines and # comments are
// skipped. The provider is the file's name without its extension.
func (b *indicatorBuilder) readList(file string, data []byte) error {
	meta := b.meta(IndicatorMeta{Provider: strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))})
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if i := strings.Index(text, "#"); i >= 0 && (i == 0 || text[i-1] == ' ' || text[i-1] == '\t') {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		if err := b.add(file, line, "", text, 0, meta); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return &FileError{File: file, Err: err}
	}
	return nil
}

var indicatorColumns = []string{"type", "value", "provider", "confidence", "expiry", "description", "reference"}

// readCSV reads a CSV file with a header naming some of indicatorColumns; value is required, an empty type means
// "recognise by shape", expiry is an RFC 3339 time or a date (midnight UTC), empty for never.
func (b *indicatorBuilder) readCSV(file string, data []byte) error {
	defaultProvider := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	return readCSV(file, data, indicatorColumns, "value", func(line int, col map[string]string) error {
		conf, err := confidenceWord(col["confidence"])
		if err != nil {
			return lineErr(file, line, "%v", err)
		}
		expires, err := parseExpiry(col["expiry"])
		if err != nil {
			return lineErr(file, line, "%v", err)
		}
		provider := strings.TrimSpace(col["provider"])
		if provider == "" {
			provider = defaultProvider
		}
		meta := b.meta(IndicatorMeta{Provider: provider, Confidence: conf,
			Description: strings.TrimSpace(col["description"]), Reference: strings.TrimSpace(col["reference"])})
		return b.add(file, line, col["type"], col["value"], expires, meta)
	})
}

// confidenceWord turns a confidence into ECS's words: a word (any case) or a STIX-style number 0-100
// (0 None, 1-29 Low, 30-69 Medium, 70-100 High). Empty stays empty.
func confidenceWord(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		switch {
		case n < 0 || n > 100:
			return "", fmt.Errorf("confidence %d: want 0-100", n)
		case n == 0:
			return "None", nil
		case n < 30:
			return "Low", nil
		case n < 70:
			return "Medium", nil
		}
		return "High", nil
	}
	for _, w := range []string{"Not Specified", "None", "Low", "Medium", "High"} {
		if strings.EqualFold(s, w) {
			return w, nil
		}
	}
	return "", fmt.Errorf("confidence %q: want a number 0-100 or Not Specified, None, Low, Medium, High", s)
}

// parseExpiry reads an RFC 3339 time or a YYYY-MM-DD date; empty means never (0).
func parseExpiry(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Unix(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Unix(), nil
	}
	return 0, fmt.Errorf("expiry %q: want an RFC 3339 time or a YYYY-MM-DD date", s)
}

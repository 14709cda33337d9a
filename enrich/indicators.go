package enrich

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// IndicatorSet is one loaded version of the indicator table. Its bulk holds no pointers: values live in one string,
// records in one pointer-free slice, and the domain, URL and hash maps are keyed by a 64-bit hash of the value
// (collisions are chained and resolved by comparing values). A million indicators are thus a handful of objects for
// the garbage collector to mark, not millions.
type IndicatorSet struct {
	recs   []record
	values string
	metas  []*IndicatorMeta
	ips    prefixMap[int32]
	keyed  [3]map[uint64]int32 // by keyKind
	seed   maphash.Seed
	// Expired counts indicators dropped at load because they had already expired; Unsupported counts STIX
	// indicators whose patterns are not simple equality comparisons of a supported type.
	Expired, Unsupported int
}

// record is one indicator; see Indicator.
type record struct {
	expires uint32 // Unix seconds; 0 means never
	off, n  uint32 // the value is values[off:off+n]
	meta    uint32 // index in metas
	next    int32  // the next record with the same key (another provider, or a hash collision), or -1
	typ     IndicatorType
}

// keyKind selects one of the hashed maps.
type keyKind int

const (
	keyDomain keyKind = iota
	keyURL
	keyHash
)

// Len is the number of indicators.
func (s *IndicatorSet) Len() int { return len(s.recs) }

func (s *IndicatorSet) live(i int32, clk *clock) bool {
	e := s.recs[i].expires
	return e == 0 || clk.unix() < int64(e)
}

// clock reads the time once per lookup, and only when an indicator with an expiry needs it: most indicators never
// expire, and reading the clock costs about as much as a lookup.
type clock struct {
	now func() time.Time
	t   int64
}

func (c *clock) unix() int64 {
	if c.t == 0 {
		c.t = c.now().Unix()
	}
	return c.t
}

func (s *IndicatorSet) value(i int32) string {
	r := &s.recs[i]
	return s.values[r.off : r.off+r.n]
}

// indicator materializes record i; it does not allocate.
func (s *IndicatorSet) indicator(i int32) Indicator {
	r := &s.recs[i]
	return Indicator{Value: s.value(i), Type: r.typ, Expires: int64(r.expires), Meta: s.metas[r.meta]}
}

// find returns the first live record whose value is v in the map of kind k, or -1.
func (s *IndicatorSet) find(k keyKind, v string, clk *clock) int32 {
	i, ok := s.keyed[k][maphash.String(s.seed, v)]
	if !ok {
		return -1
	}
	return s.nextLive(i, v, clk)
}

// nextLive follows the chain from i to the first live record with value v; -1 when none.
func (s *IndicatorSet) nextLive(i int32, v string, clk *clock) int32 {
	for ; i >= 0; i = s.recs[i].next {
		if s.live(i, clk) && s.value(i) == v {
			return i
		}
	}
	return -1
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
	return b.finish()
}

type indicatorBuilder struct {
	set    *IndicatorSet
	values strings.Builder
	now    int64
	metas  map[IndicatorMeta]uint32
}

func newIndicatorBuilder(now time.Time) *indicatorBuilder {
	set := &IndicatorSet{seed: maphash.MakeSeed()}
	for k := range set.keyed {
		set.keyed[k] = map[uint64]int32{}
	}
	return &indicatorBuilder{set: set, now: now.Unix(), metas: map[IndicatorMeta]uint32{}}
}

func (b *indicatorBuilder) finish() (*IndicatorSet, error) {
	if b.values.Len() > math.MaxUint32 {
		return nil, errors.New("indicator values exceed 4 GiB")
	}
	b.set.values = b.values.String()
	b.set.recs = append(make([]record, 0, len(b.set.recs)), b.set.recs...) // drop append's spare capacity
	b.set.ips.finish()
	return b.set, nil
}

// meta interns metadata, so the thousands of rows of one feed share one IndicatorMeta.
func (b *indicatorBuilder) meta(m IndicatorMeta) uint32 {
	if i, ok := b.metas[m]; ok {
		return i
	}
	m.Provider, m.Confidence = strings.Clone(m.Provider), strings.Clone(m.Confidence)
	m.Description, m.Reference, m.ID = strings.Clone(m.Description), strings.Clone(m.Reference), strings.Clone(m.ID)
	i := uint32(len(b.set.metas))
	b.set.metas = append(b.set.metas, &m)
	b.metas[m] = i
	return i
}

// add classifies value (as the given type, or by its shape when typ is empty) and adds it.
func (b *indicatorBuilder) add(file string, line int, typ, value string, expires int64, meta uint32) error {
	t, canon, err := classify(typ, value)
	if err != nil {
		return lineErr(file, line, "%v", err)
	}
	if len(b.set.recs) == math.MaxInt32 {
		return lineErr(file, line, "too many indicators")
	}
	b.addCanonical(t, canon, expires, meta)
	return nil
}

// addCanonical adds an indicator already classified, unless it has expired.
func (b *indicatorBuilder) addCanonical(t IndicatorType, canon string, expires int64, meta uint32) {
	if expires != 0 && expires <= b.now {
		b.set.Expired++
		return
	}
	idx := int32(len(b.set.recs))
	r := record{expires: uint32(min(expires, math.MaxUint32)), off: uint32(b.values.Len()), n: uint32(len(canon)), meta: meta, typ: t, next: -1}
	b.values.WriteString(canon)
	switch t {
	case TypeIPv4, TypeIPv6:
		p, _ := parsePrefix(canon)
		if old, ok := b.set.ips.insert(p, idx); ok {
			r.next = old
		}
	default:
		m := b.set.keyed[keyOf(t)]
		h := maphash.String(b.set.seed, canon)
		if old, ok := m[h]; ok {
			r.next = old
		}
		m[h] = idx
	}
	b.set.recs = append(b.set.recs, r)
}

func keyOf(t IndicatorType) keyKind {
	switch t {
	case TypeDomain:
		return keyDomain
	case TypeURL:
		return keyURL
	}
	return keyHash
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

package enrich

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

// The sizes of docs/benchmarks.md: one million indicators and 100,000 asset entries.
const (
	benchIndicators = 1_000_000
	benchAssets     = 100_000
)

// writeIndicatorCSV writes n generated indicators: 40% IPv4 addresses, 5% IPv4 /24s, 5% IPv6 addresses, 25% domains,
// 5% URLs and 20% hashes (MD5, SHA-1, SHA-256 in turn), with two providers.
func writeIndicatorCSV(path string, n int) error {
	var b strings.Builder
	b.WriteString("type,value,provider,confidence\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s,FeedA,high\n", benchIndicator(i))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// benchIndicator is the i-th generated indicator as "type,value".
func benchIndicator(i int) string {
	switch k := i % 20; {
	case k < 8:
		a := 0x0B000000 + uint32(i) // 11.0.0.0 onwards
		return fmt.Sprintf("ipv4,%d.%d.%d.%d", a>>24, a>>16&255, a>>8&255, a&255)
	case k == 8:
		return fmt.Sprintf("cidr,12.%d.%d.0/24", i>>16&255, i>>8&255)
	case k == 9:
		return fmt.Sprintf("ipv6,2001:db8:1000::%x:%x", i>>16, i&0xffff)
	case k < 15:
		return fmt.Sprintf("domain,host%d.bad%d.example", i, i%1000)
	case k == 15:
		return fmt.Sprintf("url,http://u%d.example/dl/%d.exe", i%5000, i)
	}
	sum := sha256.Sum256([]byte(fmt.Sprint(i)))
	h := hex.EncodeToString(sum[:])
	switch i % 3 {
	case 0:
		return "md5," + h[:32]
	case 1:
		return "sha1," + h[:40]
	}
	return "sha256," + h
}

// writeInventoryCSV writes n generated assets: 80% single addresses in 10.0.0.0/8, 10% /24 networks, 10% hostnames.
func writeInventoryCSV(path string, n int) error {
	var b strings.Builder
	b.WriteString("asset,name,owner,criticality,business_unit,environment\n")
	crit := []string{"low", "medium", "high", "critical"}
	for i := 0; i < n; i++ {
		var key string
		switch i % 10 {
		case 0:
			key = fmt.Sprintf("10.%d.%d.0/24", 128+i>>16&127, i>>8&255)
		case 1:
			key = fmt.Sprintf("srv-%d.corp.example", i)
		default:
			key = fmt.Sprintf("10.%d.%d.%d", i>>16&127, i>>8&255, i&255)
		}
		fmt.Fprintf(&b, "%s,asset-%d,team-%d,%s,BU-%d,production\n", key, i, i%50, crit[i%4], i%7)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

var (
	benchOnce   sync.Once
	benchGeo    *GeoIP
	benchAssetT *Assets
	benchTI     *ThreatIntel
	benchErr    error
)

// benchTables builds the large tables once per test binary.
func benchTables(b *testing.B) (*GeoIP, *Assets, *ThreatIntel) {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-enrich-bench")
		if err != nil {
			benchErr = err
			return
		}
		defer os.RemoveAll(dir)
		ind, inv := filepath.Join(dir, "ind.csv"), filepath.Join(dir, "assets.csv")
		if benchErr = writeIndicatorCSV(ind, benchIndicators); benchErr != nil {
			return
		}
		if benchErr = writeInventoryCSV(inv, benchAssets); benchErr != nil {
			return
		}
		benchTI = NewThreatIntel(ThreatIntelConfig{Files: []string{ind}})
		benchAssetT = NewAssets(AssetsConfig{Files: []string{inv}})
		if benchErr = benchTI.Table.Reload(); benchErr != nil {
			return
		}
		benchErr = benchAssetT.Shared.Reload()
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	if benchGeo == nil {
		benchGeo = newTestGeoIP(b)
	}
	return benchGeo, benchAssetT, benchTI
}

// BenchmarkLoad reports the heap a loaded table holds (runtime.MemStats.HeapAlloc after GC, minus before) and the
// time to load it from CSV. Run with -benchtime=1x.
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	for _, tc := range []struct {
		name  string
		n     int
		write func(string, int) error
		load  func(string) (any, error)
	}{
		{"indicators=1000000", benchIndicators, writeIndicatorCSV, func(p string) (any, error) {
			return LoadIndicators([]string{p}, time.Now())
		}},
		{"assets=100000", benchAssets, writeInventoryCSV, func(p string) (any, error) {
			return LoadInventory([]string{p})
		}},
	} {
		path := filepath.Join(dir, tc.name+".csv")
		if err := tc.write(path, tc.n); err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				start := time.Now()
				v, err := tc.load(path)
				took := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(tc.n), "heap-B/entry")
				b.ReportMetric(took.Seconds(), "load-s")
				runtime.KeepAlive(v)
			}
		})
	}
}

// BenchmarkLookup measures single lookups in the large tables, hits and misses.
func BenchmarkLookup(b *testing.B) {
	geo, assets, ti := benchTables(b)
	ip := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	sha := strings.TrimPrefix(benchIndicator(17), "sha256,")
	cases := []struct {
		name string
		fn   func() bool
	}{
		{"ioc.ip/hit", func() bool { return found(ti.MatchIP(ip("11.0.0.1"))) }},
		{"ioc.ip/hit-cidr", func() bool { return found(ti.MatchIP(ip("12.0.0.77"))) }},
		{"ioc.ip/miss", func() bool { return !found(ti.MatchIP(ip("8.8.8.8"))) }},
		{"ioc.ip/hit-v6", func() bool { return found(ti.MatchIP(ip("2001:db8:1000::0:9"))) }},
		{"ioc.domain/hit-subdomain", func() bool { return found(ti.MatchDomain("www.host10.bad10.example")) }},
		{"ioc.domain/miss", func() bool { return !found(ti.MatchDomain("www.example.com")) }},
		{"ioc.url/hit", func() bool { return found(ti.MatchURL("http://u15.example/dl/15.exe")) }},
		{"ioc.url/miss-normalized", func() bool { return !found(ti.MatchURL("HTTP://u15.example/x")) }},
		{"ioc.hash/hit", func() bool { return found(ti.MatchHash(sha)) }},
		{"ioc.hash/miss", func() bool { return !found(ti.MatchHash("d41d8cd98f00b204e9800998ecf8427e")) }},
		{"asset/hit-address", func() bool { return assets.Lookup("acme", "10.0.1.2") != nil }},
		{"asset/hit-cidr", func() bool { return assets.Lookup("acme", "10.128.1.9") != nil }},
		{"asset/hit-hostname", func() bool { return assets.Lookup("acme", "srv-11.corp.example") != nil }},
		{"asset/miss", func() bool { return assets.Lookup("acme", "192.0.2.1") == nil }},
		{"geoip/hit", func() bool { info, _ := geo.Lookup(ip("203.0.113.9")); return info != nil }},
		{"geoip/private", func() bool { info, _ := geo.Lookup(ip("10.0.0.1")); return info == nil }},
	}
	for _, c := range cases {
		if !c.fn() {
			b.Fatalf("%s: wrong answer", c.name)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				c.fn()
			}
			reportCPU(b, start)
		})
	}
}

// benchAlertDoc is a typical network alert: addresses, a DNS name, a URL, a file hash, a host.
func benchAlertDoc() map[string]any {
	return map[string]any{
		"@timestamp": "2026-06-01T10:00:00Z",
		"event":      map[string]any{"kind": "alert", "category": []any{"network"}},
		"source":     map[string]any{"ip": "10.0.1.2", "port": int64(51234)},
		"destination": map[string]any{"ip": "203.0.113.9", "port": int64(443),
			"domain": "www.host10.bad10.example"},
		"host": map[string]any{"name": "srv-11.corp.example", "ip": []any{"10.0.1.2"}},
		"dns":  map[string]any{"question": map[string]any{"name": "www.host10.bad10.example"}},
		"url":  map[string]any{"full": "http://u15.example/dl/15.exe"},
		"file": map[string]any{"hash": map[string]any{"sha256": strings.TrimPrefix(benchIndicator(17), "sha256,")}},
		"rule": map[string]any{"id": "bench", "name": "bench"},
	}
}

// BenchmarkEnrichAlert is the cost per alert of the three enrichers over the large tables, as the pipeline runs them.
// "baseline" only builds the alert document, which every case also does.
func BenchmarkEnrichAlert(b *testing.B) {
	geo, assets, ti := benchTables(b)
	ctx := context.Background()
	run := func(b *testing.B, enrichers ...vigil.Enricher) {
		b.ReportAllocs()
		start := cpuTime()
		for b.Loop() {
			a := &vigil.Alert{Tenant: "acme", Doc: benchAlertDoc()}
			for _, e := range enrichers {
				if err := e.Enrich(ctx, a); err != nil {
					b.Fatal(err)
				}
			}
		}
		reportCPU(b, start)
	}
	a := &vigil.Alert{Tenant: "acme", Doc: benchAlertDoc()}
	for _, e := range []vigil.Enricher{geo, assets, ti} {
		_ = e.Enrich(ctx, a)
	}
	if n := len(vigil.Get(a.Doc, "threat", "enrichments").([]any)); n != 4 {
		b.Fatalf("got %d indicator matches, want 4", n)
	}
	b.Run("baseline", func(b *testing.B) { run(b) })
	b.Run("geoip", func(b *testing.B) { run(b, geo) })
	b.Run("assets", func(b *testing.B) { run(b, assets) })
	b.Run("threat_intel", func(b *testing.B) { run(b, ti) })
	b.Run("all", func(b *testing.B) { run(b, geo, assets, ti) })
}

// reportCPU reports the process CPU time per operation since start (see cpuTime).
func reportCPU(b *testing.B, start time.Duration) {
	if used := cpuTime() - start; used > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkGC is the cost the large tables put on the garbage collector: one full collection with and without them
// live. Every GC cycle marks what is live, so this is paid once per cycle, not per alert.
func BenchmarkGC(b *testing.B) {
	// Drop the tables other benchmarks built, so that "none" means none; they are rebuilt when needed again.
	benchOnce, benchGeo, benchAssetT, benchTI, benchErr = sync.Once{}, nil, nil, nil, nil
	b.Run("tables=none", func(b *testing.B) {
		start := cpuTime()
		for b.Loop() {
			runtime.GC()
		}
		reportCPU(b, start)
	})
	_, assets, ti := benchTables(b)
	b.Run("indicators=1000000,assets=100000", func(b *testing.B) {
		start := cpuTime()
		for b.Loop() {
			runtime.GC()
		}
		reportCPU(b, start)
		runtime.KeepAlive(assets)
		runtime.KeepAlive(ti)
	})
}

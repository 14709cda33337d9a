package enrich

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Config is the `enrich:` block of Vigil's configuration. Every part is optional: an empty Config enriches nothing,
// and the lookup functions of rules then answer "not found". Paths are relative to the working directory, like rule
// paths.
type Config struct {
	// GeoIP names the MaxMind-format databases for location and network owner.
	GeoIP GeoIPConfig `yaml:"geoip"`
	// Assets names the asset inventories.
	Assets AssetsConfig `yaml:"assets"`
	// ThreatIntel names the indicator files.
	ThreatIntel ThreatIntelConfig `yaml:"threat_intel"`
	// Reload says how changed files are noticed.
	Reload ReloadConfig `yaml:"reload"`
	// Timeout bounds the enrichment of one alert by all enrichers together; an enricher still running then is
	// recorded under vigil.enrichment.skipped. Default 100ms.
	Timeout time.Duration `yaml:"timeout"`
}

// GeoIPConfig names the MaxMind DB (.mmdb) files. Either may be empty.
type GeoIPConfig struct {
	// City is a GeoIP2/GeoLite2 City or Country database: it fills *.geo.* (country, region, city, location).
	City string `yaml:"city"`
	// ASN is a GeoIP2/GeoLite2 ASN database: it fills *.as.number and *.as.organization.name.
	ASN string `yaml:"asn"`
}

// AssetsConfig names the asset inventories: CSV or JSON files mapping an IP, a CIDR or a hostname to owner,
// criticality, business unit and environment (see docs/rules.md, "Lookup functions").
type AssetsConfig struct {
	// Files form the inventory shared by every tenant. Later files win over earlier ones for the same key.
	Files []string `yaml:"files"`
	// Tenants maps a tenant to its own inventory files, consulted before the shared inventory for that tenant's
	// alerts and never for another tenant's.
	Tenants map[string][]string `yaml:"tenants"`
}

// ThreatIntelConfig names the indicator files. The format follows the extension: .csv is a CSV with a header
// (type, value, provider, confidence, expiry, description, reference), .json a STIX 2.1 bundle, anything else a
// plain list with one indicator per line whose type is recognised from its shape.
type ThreatIntelConfig struct {
	// Files are the indicator files; all are loaded into one table.
	Files []string `yaml:"files"`
	// Fields lists the alert fields searched for indicators, by indicator kind (ip, domain, url, hash). Empty means
	// the defaults (DefaultThreatFields()); a kind given here replaces that kind's defaults.
	Fields map[string][]string `yaml:"fields"`
	// Retrohunt searches the records Kafka retains for the indicators a reload adds (docs/hunting.md); off by
	// default.
	Retrohunt RetrohuntConfig `yaml:"retrohunt"`
}

// ReloadConfig says how table files are watched. A changed file is loaded in the background and swapped in whole; a
// file that does not load leaves the previous table in place.
type ReloadConfig struct {
	// Watch uses file-system notifications on the files' folders (so rename-on-save and Kubernetes ConfigMap
	// updates are seen). Default true.
	Watch *bool `yaml:"watch"`
	// PollInterval also checks every file's size and modification time at this interval, for file systems without
	// notifications. 0 means the default, 1m; a negative value (-1s) turns polling off.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Debounce waits this long after the last change before loading, so a file being written is read once it is
	// complete. Default 250ms.
	Debounce time.Duration `yaml:"debounce"`
}

// Defaults of Config.
const (
	DefaultTimeout      = 100 * time.Millisecond
	DefaultPollInterval = time.Minute
	DefaultDebounce     = 250 * time.Millisecond
)

// SetDefaults fills in the defaults of unset fields.
func (c *Config) SetDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Reload.Watch == nil {
		watch := true
		c.Reload.Watch = &watch
	}
	if c.Reload.PollInterval == 0 {
		c.Reload.PollInterval = DefaultPollInterval
	}
	if c.Reload.Debounce <= 0 {
		c.Reload.Debounce = DefaultDebounce
	}
}

// Enabled reports whether any table is configured.
func (c *Config) Enabled() bool {
	return c.GeoIP.City != "" || c.GeoIP.ASN != "" || len(c.Assets.Files) > 0 || len(c.Assets.Tenants) > 0 ||
		len(c.ThreatIntel.Files) > 0
}

// Validate checks the configuration without reading any file.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("enrich."+format, args...)) }
	for _, db := range [][2]string{{"geoip.city", c.GeoIP.City}, {"geoip.asn", c.GeoIP.ASN}} {
		if db[1] != "" && filepath.Ext(db[1]) != ".mmdb" {
			add("%s: %q is not a MaxMind DB (.mmdb) file", db[0], db[1])
		}
	}
	checkFiles := func(key string, files []string, exts ...string) {
		for i, f := range files {
			switch ext := strings.ToLower(filepath.Ext(f)); {
			case strings.TrimSpace(f) == "":
				add("%s[%d]: empty path", key, i)
			case len(exts) > 0 && !contains(exts, ext):
				add("%s[%d]: %q: want a %s file", key, i, f, strings.Join(exts, " or "))
			}
		}
	}
	checkFiles("assets.files", c.Assets.Files, ".csv", ".json")
	for _, t := range sortedKeys(c.Assets.Tenants) {
		files := c.Assets.Tenants[t]
		if t == "" {
			add("assets.tenants: empty tenant name")
		}
		if len(files) == 0 {
			add("assets.tenants.%s: no files", t)
		}
		checkFiles("assets.tenants."+t, files, ".csv", ".json")
	}
	checkFiles("threat_intel.files", c.ThreatIntel.Files)
	for _, kind := range sortedKeys(c.ThreatIntel.Fields) {
		fields := c.ThreatIntel.Fields[kind]
		if _, ok := DefaultThreatFields()[kind]; !ok {
			add("threat_intel.fields: unknown kind %q (want ip, domain, url or hash)", kind)
		}
		for _, f := range fields {
			if f == "" || strings.HasPrefix(f, ".") || strings.HasSuffix(f, ".") {
				add("threat_intel.fields.%s: bad field name %q", kind, f)
			}
		}
	}
	if err := c.ThreatIntel.Retrohunt.validate(); err != nil {
		errs = append(errs, fmt.Errorf("enrich.%w", err))
	}
	if c.Timeout < 0 {
		add("timeout: must not be negative")
	}
	if c.Reload.Debounce < 0 {
		add("reload.debounce: must not be negative")
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

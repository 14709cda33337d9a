package enrich

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the tables' load counters and the enrichers' skip counters to Prometheus. It reads the counters
// at scrape time. Register it on the registry the process serves.
type Collector struct {
	tables   []Reloadable
	skipped  map[string]*atomic.Int64
	entries  *prometheus.Desc
	loads    *prometheus.Desc
	errors   *prometheus.Desc
	loadedAt *prometheus.Desc
	skips    *prometheus.Desc
}

// NewCollector returns a collector over the tables and the enrichers of geo, assets and ti (any may be nil).
func NewCollector(tables []Reloadable, geo *GeoIP, assets *Assets, ti *ThreatIntel) *Collector {
	table := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("vigil_enrich_table_"+name, help, []string{"table"}, nil)
	}
	c := &Collector{tables: tables, skipped: map[string]*atomic.Int64{},
		entries:  table("entries", "Entries in the table's current version."),
		loads:    table("loads_total", "Successful loads of the table, the first one included."),
		errors:   table("load_errors_total", "Loads that failed; the previous version was kept."),
		loadedAt: table("loaded_timestamp_seconds", "When the current version was loaded."),
		skips: prometheus.NewDesc("vigil_enrich_skipped_total",
			"Alerts an enricher skipped (recorded on the alert under vigil.enrichment.skipped).", []string{"enricher"}, nil),
	}
	if geo != nil {
		c.skipped[geo.Name()] = &geo.Skipped
	}
	if assets != nil {
		c.skipped[assets.Name()] = &assets.Skipped
	}
	if ti != nil {
		c.skipped[ti.Name()] = &ti.Skipped
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.entries, c.loads, c.errors, c.loadedAt, c.skips} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.tables {
		s := t.TableStats()
		ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(s.Entries.Load()), t.Name())
		ch <- prometheus.MustNewConstMetric(c.loads, prometheus.CounterValue, float64(s.Loads.Load()), t.Name())
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(s.Errors.Load()), t.Name())
		ch <- prometheus.MustNewConstMetric(c.loadedAt, prometheus.GaugeValue, float64(s.LoadedAt.Load())/1e9, t.Name())
	}
	for _, name := range sortedKeys(c.skipped) {
		ch <- prometheus.MustNewConstMetric(c.skips, prometheus.CounterValue, float64(c.skipped[name].Load()), name)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/enrich"
	"github.com/vigilsoc/vigil/rules"
)

// enrichment is what the enrich block builds: the three enrichers, their tables, and the rule functions over them.
// A nil *enrichment stands for "nothing configured": no enrichers, and lookup functions that find nothing.
type enrichment struct {
	cfg    enrich.Config
	geo    *enrich.GeoIP
	assets *enrich.Assets
	ti     *enrich.ThreatIntel
}

// newEnrichment builds the configured tables and loads them. A table that does not load at start-up is an error:
// there is no previous version to keep.
func newEnrichment(cfg enrich.Config) (*enrichment, error) {
	e := &enrichment{cfg: cfg, geo: enrich.NewGeoIP(cfg.GeoIP), assets: enrich.NewAssets(cfg.Assets),
		ti: enrich.NewThreatIntel(cfg.ThreatIntel)}
	var errs []error
	for _, t := range e.tables() {
		if _, err := t.ReloadIfChanged(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("enrich:\n%w", err)
	}
	return e, nil
}

func (e *enrichment) tables() []enrich.Reloadable {
	if e == nil {
		return nil
	}
	return append(append(e.geo.Tables(), e.assets.Tables()...), e.ti.Tables()...)
}

// enrichers are the enrichers that have a table to read, in the order they run.
func (e *enrichment) enrichers() []vigil.Enricher {
	if e == nil {
		return nil
	}
	var out []vigil.Enricher
	if len(e.geo.Tables()) > 0 {
		out = append(out, e.geo)
	}
	if len(e.assets.Tables()) > 0 {
		out = append(out, e.assets)
	}
	if len(e.ti.Tables()) > 0 {
		out = append(out, e.ti)
	}
	return out
}

// ruleLibrary gives rules the lookup functions over these tables. Pass it to newRuleEnv, which otherwise adds the
// same functions over no tables.
func (e *enrichment) ruleLibrary() rules.EnvOption {
	if e == nil {
		return rules.WithLibrary(enrich.Library(nil, nil, nil))
	}
	return rules.WithLibrary(enrich.Library(e.geo, e.assets, e.ti))
}

// timeout bounds the enrichment of one alert.
func (e *enrichment) timeout() time.Duration {
	if e == nil {
		return 0
	}
	return e.cfg.Timeout
}

// collector exports the tables' and enrichers' counters to Prometheus.
func (e *enrichment) collector() *enrich.Collector {
	return enrich.NewCollector(e.tables(), e.geo, e.assets, e.ti)
}

// logLoaded reports what was loaded, one line per table.
func (e *enrichment) logLoaded(log *slog.Logger) {
	for _, t := range e.tables() {
		log.Info("enrichment table loaded", "table", t.Name(), "entries", t.TableStats().Entries.Load(), "files", t.Files())
	}
	if e != nil && e.ti.Table != nil {
		if s := e.ti.Table.Get(); s.Expired > 0 || s.Unsupported > 0 {
			log.Info("threat intel: indicators not loaded", "expired", s.Expired, "unsupported_stix_patterns", s.Unsupported)
		}
	}
}

// watch reloads changed tables until ctx is done. A watcher that cannot start is logged; polling, when configured,
// still runs.
func (e *enrichment) watch(ctx context.Context, log *slog.Logger) {
	tables := e.tables()
	if len(tables) == 0 {
		return
	}
	cfg := e.cfg.Reload
	err := enrich.NewWatcher(cfg, log, tables...).Run(ctx)
	if err == nil {
		return
	}
	log.Warn("enrichment files are not watched for changes", "err", err)
	if cfg.PollInterval > 0 {
		off := false
		cfg.Watch = &off
		_ = enrich.NewWatcher(cfg, log, tables...).Run(ctx)
	}
}

// loadEnrichConfig reads the enrich block of a configuration file, for the commands that take --enrich: the rest of
// the file is ignored, so the file can be a full `vigil run` configuration such as configs/quickstart.yaml.
func loadEnrichConfig(path string) (*enrichment, error) {
	var f struct {
		Enrich enrich.Config  `yaml:"enrich"`
		Rest   map[string]any `yaml:",inline"`
	}
	if err := decodeConfig(path, &f); err != nil {
		return nil, err
	}
	f.Enrich.SetDefaults()
	if err := f.Enrich.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return newEnrichment(f.Enrich)
}

// enrichFlagHelp is the help of the --enrich flag of replay and rules test.
const enrichFlagHelp = "configuration file whose enrich block supplies the lookup tables (e.g. configs/quickstart.yaml)"

// ruleEnvFromFlag builds the rule environment with the lookup tables of the --enrich configuration; without the flag
// the tables are empty (enrichment nil) and lookups find nothing.
func ruleEnvFromFlag(path string) (*rules.Env, *enrichment, error) {
	var enr *enrichment
	if path != "" {
		var err error
		if enr, err = loadEnrichConfig(path); err != nil {
			return nil, nil, err
		}
	}
	env, err := newRuleEnv(enr.ruleLibrary())
	return env, enr, err
}

// lookupHint explains a failed test of a rule that calls lookup functions when no tables were given.
func lookupHint(e *enrichment, r *rules.Rule) string {
	if e != nil {
		return ""
	}
	text := r.Condition + " " + strings.Join(r.Exceptions, " ")
	for _, fn := range []string{"ioc.", "asset(", "geoip("} {
		if strings.Contains(text, fn) {
			return " (the rule calls lookup functions, which find nothing without tables: add --enrich CONFIG)"
		}
	}
	return ""
}

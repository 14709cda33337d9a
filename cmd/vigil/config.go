package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/correlate"
	"github.com/vigilsoc/vigil/enrich"
	"github.com/vigilsoc/vigil/fleet"
	"github.com/vigilsoc/vigil/ingest"
	"github.com/vigilsoc/vigil/sinks"
)

// Config is the whole of `vigil run`'s configuration file. configs/vigil.example.yaml shows every option with its
// default. Unknown keys are errors; ${NAME} and ${NAME:-default} are replaced by environment variables before parsing,
// so secrets stay out of the file.
type Config struct {
	// Rules says where the rules are.
	Rules RulesConfig `yaml:"rules"`
	// Tenants are the known tenants. A multi-tenant Kafka topic's tenant header must name one of them; when the
	// list is set, every tenant named in the configuration must be in it.
	Tenants []string `yaml:"tenants"`
	// Sources are read concurrently, each by its own pipeline; all share the rules and the sinks.
	Sources []SourceConfig `yaml:"sources"`
	// Sinks receive every alert.
	Sinks []SinkConfig `yaml:"sinks"`
	// DeadLetter is where records and alerts that cannot be processed are parked.
	DeadLetter DeadLetterConfig `yaml:"dead_letter"`
	// Pipeline tunes concurrency and shutdown.
	Pipeline PipelineConfig `yaml:"pipeline"`
	// Correlate configures the correlation engine (lateness, idle advance and memory bounds: docs/rules.md,
	// "Correlation rules") and where it runs: in-process, or on Kafka (docs/operations.md, "Correlation stage").
	Correlate CorrelateConfig `yaml:"correlate"`
	// Enrich names the GeoIP databases, asset inventories and threat-intel files that add context to alerts and
	// that rules read through lookup functions; empty means no enrichment.
	Enrich enrich.Config `yaml:"enrich"`
	// Log configures logging.
	Log LogConfig `yaml:"log"`
	// Metrics configures the HTTP endpoint for Prometheus and health checks (docs/operations.md).
	Metrics MetricsConfig `yaml:"metrics"`
}

// CorrelateConfig configures the correlation stage.
type CorrelateConfig struct {
	correlate.Config `yaml:",inline"`
	// KafkaConfig, once its kafka block is set (`kafka: {}` takes the first Kafka source's connection), runs
	// correlation on Kafka: the pipelines publish match records to a topic, and correlation stages consume it. It is
	// required when a Kafka source and correlation rules are both present.
	correlate.KafkaConfig `yaml:",inline"`
	// Stage runs a correlation stage in this process (default true); false makes it detection only, publishing
	// matches for the stages of other instances. Only with kafka.
	Stage *bool `yaml:"stage"`
}

// MetricsConfig configures the HTTP server of /metrics, /healthz and /readyz.
type MetricsConfig struct {
	// Addr is the listen address, such as ":9464" or "127.0.0.1:9464"; empty (the default) serves nothing. The
	// --metrics-addr flag overrides it.
	Addr string `yaml:"addr"`
	// WebConfigFile is a Prometheus web configuration file (the format of the exporters' --web.config.file): TLS
	// and basic authentication for every endpoint. Empty (the default): plain HTTP, no authentication. The
	// --web-config-file flag overrides it.
	WebConfigFile string `yaml:"web_config_file"`
}

// RulesConfig locates the rules.
type RulesConfig struct {
	// Paths are rule files or folders (searched recursively for *.yml and *.yaml).
	Paths []string `yaml:"paths"`
	// CostLimit bounds each condition's estimated worst-case evaluation cost; 0 means the default (10,000,000).
	CostLimit uint64 `yaml:"cost_limit"`
	// Watch reloads the rules when a file under Paths (or Exceptions) changes; default true. SIGHUP reloads them in
	// any case. A reload that fails keeps the running rules.
	Watch *bool `yaml:"watch"`
	// Exceptions are the files or folders of exception lists (docs/rules.md, "Exception lists"); default: the
	// folder "exceptions" beside each rule path, where it exists (configs/exceptions for configs/rules).
	Exceptions []string `yaml:"exceptions"`
	// From is where the rules come from: "files" (the default: Paths and Exceptions) or "kafka" (the latest bundle
	// published by `vigil rules deploy`, followed as new ones arrive; docs/fleet.md).
	From string `yaml:"from"`
	// Config places the bundle and status topics for from: kafka (kafka, topic, status_topic, instance_id,
	// status_interval, max_bundle_bytes, replication_factor), inline; kafka defaults to the first Kafka source's
	// connection.
	fleet.Config `yaml:",inline"`
}

// Rule origins (RulesConfig.From).
const (
	rulesFromFiles = "files"
	rulesFromKafka = "kafka"
)

// SourceConfig is one source; Type selects which of the blocks applies.
type SourceConfig struct {
	// Name identifies the source in logs, metrics and alert origins; default: the type.
	Name string `yaml:"name"`
	// Type is "file" or "kafka".
	Type  string              `yaml:"type"`
	File  *ingest.FileConfig  `yaml:"file"`
	Kafka *ingest.KafkaConfig `yaml:"kafka"`
}

// SinkConfig is one sink; Type selects which of the blocks applies.
type SinkConfig struct {
	// Type is "file" (JSON Lines), "stdout" (a summary line per alert), "elasticsearch" (Elasticsearch or
	// OpenSearch, see docs/alerts.md) or "notify" (webhooks: JSON, Slack, Teams; see docs/notifications.md).
	Type          string                     `yaml:"type"`
	File          *FileSinkConfig            `yaml:"file"`
	Elasticsearch *sinks.ElasticsearchConfig `yaml:"elasticsearch"`
	Notify        *sinks.NotifyConfig        `yaml:"notify"`
}

// FileSinkConfig configures the JSON Lines alert file.
type FileSinkConfig struct {
	// Path is the file alerts are appended to; "-" is standard output.
	Path string `yaml:"path"`
	// Truncate empties the file at start-up (default false: append). For runs that read their sources from the
	// start every time (file sources, the quickstart), where appending would add a second copy of every alert. Not
	// allowed with a Kafka source, which resumes after its committed offsets: the alerts of the records committed
	// before the restart would be lost.
	Truncate bool `yaml:"truncate"`
}

// DeadLetterConfig says where dead letters go.
type DeadLetterConfig struct {
	// Type is "file" or "kafka"; default "file".
	Type string `yaml:"type"`
	// Kafka configures type kafka: the topic, and the connection (default: the first Kafka source's).
	Kafka *sinks.KafkaDeadLetterConfig `yaml:"kafka"`
	// Path is the JSON Lines file for type file; default "deadletters.jsonl".
	Path string `yaml:"path"`
}

// PipelineConfig tunes the pipeline.
type PipelineConfig struct {
	// Workers evaluating rules per batch; 0 means one per CPU.
	Workers int `yaml:"workers"`
	// MaxInFlight is the number of batches processed at once per source; default 4.
	MaxInFlight int `yaml:"max_in_flight"`
	// ShutdownTimeout bounds the drain of in-flight batches after SIGTERM; default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info, warn or error; default info.
	Level string `yaml:"level"`
	// Format is text, json, or auto (text on a terminal, JSON otherwise); default auto.
	Format string `yaml:"format"`
}

func (c *Config) setDefaults() {
	for i := range c.Sources {
		if c.Sources[i].Name == "" {
			c.Sources[i].Name = c.Sources[i].Type
		}
	}
	if c.DeadLetter.Type == "" {
		c.DeadLetter.Type = "file"
	}
	if k := c.DeadLetter.Kafka; c.DeadLetter.Type == "kafka" && k != nil && len(k.Brokers) == 0 {
		for _, s := range c.Sources {
			if s.Kafka != nil {
				k.Config = s.Kafka.Config
				break
			}
		}
	}
	if k := c.Correlate.Kafka; k != nil && len(k.Brokers) == 0 {
		for _, s := range c.Sources {
			if s.Kafka != nil {
				*k = s.Kafka.Config
				break
			}
		}
	}
	if c.Rules.From == "" {
		c.Rules.From = rulesFromFiles
	}
	if c.Rules.From == rulesFromKafka && (c.Rules.Kafka == nil || len(c.Rules.Kafka.Brokers) == 0) {
		for _, s := range c.Sources {
			if s.Kafka != nil {
				conn := s.Kafka.Config
				c.Rules.Kafka = &conn
				break
			}
		}
	}
	if c.Correlate.Stage == nil {
		stage := true
		c.Correlate.Stage = &stage
	}
	if c.DeadLetter.Type == "file" && c.DeadLetter.Path == "" {
		c.DeadLetter.Path = "deadletters.jsonl"
	}
	if c.Pipeline.MaxInFlight <= 0 {
		c.Pipeline.MaxInFlight = 4
	}
	if c.Pipeline.ShutdownTimeout <= 0 {
		c.Pipeline.ShutdownTimeout = 30 * time.Second
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "auto"
	}
	if c.Rules.Watch == nil {
		watch := true
		c.Rules.Watch = &watch
	}
	c.Enrich.SetDefaults()
}

// Validate checks the configuration without any I/O.
func (c *Config) Validate() error {
	var errs []error
	switch c.Rules.From {
	case rulesFromFiles:
		if len(c.Rules.Paths) == 0 {
			errs = append(errs, errors.New("rules.paths: at least one rule path is required"))
		}
	case rulesFromKafka:
		if len(c.Rules.Paths) > 0 {
			errs = append(errs, errors.New("rules.paths: not read with rules.from: kafka (deploy them with vigil rules deploy)"))
		}
		if err := c.Rules.Config.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("rules: %w", err))
		}
	default:
		errs = append(errs, fmt.Errorf("rules.from: %q is neither files nor kafka", c.Rules.From))
	}
	if len(c.Sources) == 0 {
		errs = append(errs, errors.New("sources: at least one source is required"))
	}
	for _, t := range c.Tenants {
		if err := vigil.CheckTenant(t); err != nil {
			errs = append(errs, fmt.Errorf("tenants: %w", err))
		}
	}
	names := map[string]bool{}
	for i, s := range c.Sources {
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("sources[%d]: duplicate name %q", i, s.Name))
		}
		names[s.Name] = true
		switch {
		case s.Type == "file" && s.File != nil:
			if err := s.File.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("sources[%d]: %w", i, err))
			}
		case s.Type == "file":
			errs = append(errs, fmt.Errorf("sources[%d]: type file needs a file block", i))
		case s.Type == "kafka" && s.Kafka != nil:
			if err := errors.Join(s.Kafka.Validate(), s.Kafka.CheckTenants(c.Tenants)); err != nil {
				errs = append(errs, fmt.Errorf("sources[%d] (kafka): %w", i, err))
			}
		case s.Type == "kafka":
			errs = append(errs, fmt.Errorf("sources[%d]: type kafka needs a kafka block", i))
		default:
			errs = append(errs, fmt.Errorf("sources[%d]: unknown type %q (want file or kafka)", i, s.Type))
		}
	}
	if len(c.Sinks) == 0 {
		errs = append(errs, errors.New("sinks: at least one sink is required"))
	}
	for i, s := range c.Sinks {
		switch {
		case s.Type == "file" && (s.File == nil || s.File.Path == ""):
			errs = append(errs, fmt.Errorf("sinks[%d]: type file needs file.path", i))
		case s.Type == "file" && s.File.Truncate:
			errs = append(errs, c.checkTruncate(i, s.File.Path)...)
		case s.Type == "file", s.Type == "stdout":
		case s.Type == "elasticsearch" && s.Elasticsearch == nil:
			errs = append(errs, fmt.Errorf("sinks[%d]: type elasticsearch needs an elasticsearch block", i))
		case s.Type == "elasticsearch":
			if err := s.Elasticsearch.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("sinks[%d]: %w", i, err))
			}
		case s.Type == "notify" && s.Notify == nil:
			errs = append(errs, fmt.Errorf("sinks[%d]: type notify needs a notify block", i))
		case s.Type == "notify":
			errs = append(errs, c.checkNotify(i, s.Notify)...)
		default:
			errs = append(errs, fmt.Errorf("sinks[%d]: unknown type %q (want file, stdout, elasticsearch or notify)", i, s.Type))
		}
	}
	switch {
	case c.DeadLetter.Type == "kafka" && c.DeadLetter.Kafka == nil:
		errs = append(errs, errors.New("dead_letter: type kafka needs a kafka block"))
	case c.DeadLetter.Type == "kafka":
		if err := c.DeadLetter.Kafka.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("dead_letter.kafka: %w", err))
		}
	case c.DeadLetter.Type != "file":
		errs = append(errs, fmt.Errorf("dead_letter.type: unknown type %q (want file or kafka)", c.DeadLetter.Type))
	}
	if err := c.Correlate.KafkaConfig.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("correlate: %w", err))
	}
	if c.Correlate.Stage != nil && !*c.Correlate.Stage && c.Correlate.Kafka == nil {
		errs = append(errs, errors.New("correlate.stage: false (detection only) needs correlate.kafka: without the match topic there is nothing to publish to"))
	}
	if err := c.Enrich.Validate(); err != nil {
		errs = append(errs, err)
	}
	if a := c.Metrics.Addr; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("metrics.addr: %w (want host:port or :port)", err))
		}
	}
	return errors.Join(errs...)
}

// checkNotify validates the notify sink at sinks[i]: its routes, their tenants against the known tenants, and a
// queue folder of its own.
func (c *Config) checkNotify(i int, n *sinks.NotifyConfig) []error {
	var errs []error
	if err := n.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("sinks[%d]: %w", i, err))
	}
	for j, r := range n.Routes {
		for _, t := range r.Tenants {
			if err := vigil.CheckTenant(t); err != nil {
				errs = append(errs, fmt.Errorf("sinks[%d]: notify: routes[%d].tenants: %w", i, j, err))
			} else if len(c.Tenants) > 0 && !slices.Contains(c.Tenants, t) {
				errs = append(errs, fmt.Errorf("sinks[%d]: notify: routes[%d].tenants: %q is not in tenants", i, j, t))
			}
		}
	}
	for k, other := range c.Sinks[:i] {
		if other.Type == "notify" && other.Notify != nil && notifyDir(other.Notify) == notifyDir(n) {
			errs = append(errs, fmt.Errorf("sinks[%d]: notify.dir: %q is also sinks[%d]'s: each notify sink needs its own", i, notifyDir(n), k))
		}
	}
	return errs
}

// notifyDir is a notify sink's queue folder, defaulted.
func notifyDir(n *sinks.NotifyConfig) string {
	d := *n
	d.Routes = nil
	d.SetDefaults()
	return filepath.Clean(d.Dir)
}

// checkTruncate refuses file.truncate where it would lose alerts or means nothing.
func (c *Config) checkTruncate(i int, path string) []error {
	var errs []error
	if path == "-" {
		errs = append(errs, fmt.Errorf("sinks[%d]: file.truncate: standard output cannot be truncated", i))
	}
	for _, s := range c.Sources {
		if s.Type == "kafka" {
			errs = append(errs, fmt.Errorf("sinks[%d]: file.truncate with the Kafka source %s: a restart resumes "+
				"after the committed offsets, so truncating would lose the alerts of the records read before it", i, s.Name))
		}
	}
	return errs
}

// envRef matches ${NAME} and ${NAME:-default}.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// expandEnv replaces environment references outside comment lines; an unset variable without a default is an error.
// It works line by line so that YAML errors keep their line numbers.
func expandEnv(data []byte) ([]byte, error) {
	return expandEnvRefs(data, true)
}

// expandEnvRefs is expandEnv; with strict false an unset variable without a default is replaced by nothing.
func expandEnvRefs(data []byte, strict bool) ([]byte, error) {
	var missing []string
	expand := func(m []byte) []byte {
		sub := envRef.FindSubmatch(m)
		if v, ok := os.LookupEnv(string(sub[1])); ok {
			return []byte(v)
		}
		if bytes.Contains(m, []byte(":-")) {
			return sub[2]
		}
		if !strict {
			return nil
		}
		missing = append(missing, string(sub[1]))
		return m
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, l := range lines {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			lines[i] = envRef.ReplaceAllFunc(l, expand)
		}
	}
	out := bytes.Join(lines, nil)
	if len(missing) > 0 {
		return nil, fmt.Errorf("environment variables not set: %v", missing)
	}
	return out, nil
}

// loadConfig reads, expands, parses (strictly), defaults and validates a configuration file.
func loadConfig(path string) (*Config, error) {
	var c Config
	if err := decodeConfig(path, &c); err != nil {
		return nil, err
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, withLines(path, err))
	}
	return &c, nil
}

// loadSinks reads the sinks section of a configuration file, and nothing else: `vigil alerts search -c` needs only
// the search engine's connection, and must not fail on the environment variables of a Kafka connection it never
// opens, nor on a source or a rule path that does not exist where the analyst runs it. The rest of the file must be
// YAML; its environment references are not required and its options are not checked. The sinks are decoded
// strictly (unknown keys are errors, with their line) but not validated.
func loadSinks(path string) ([]SinkConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	lenient, _ := expandEnvRefs(data, false)
	var root yaml.Node
	if err := yaml.Unmarshal(lenient, &root); err != nil {
		return nil, fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	first, last := sectionLines(&root, "sinks")
	if first == 0 {
		return nil, fmt.Errorf("config %s: no sinks", path)
	}
	// Keep the section's lines where they are, so that errors name the lines of the file.
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i := range lines {
		if n := i + 1; n < first || (last > 0 && n > last) {
			lines[i] = lines[i][len(bytes.TrimSuffix(lines[i], []byte("\n"))):] // only its newline
		}
	}
	var c struct {
		Sinks []SinkConfig `yaml:"sinks"`
	}
	if err := decodeConfigData(path, bytes.Join(lines, nil), &c); err != nil {
		return nil, err
	}
	return c.Sinks, nil
}

// sectionLines returns the first and last line (1-based) of a top-level key's section in a parsed document: from
// the key to the line before the next top-level key; last is 0 when the section runs to the end. first is 0 when
// the key is not there.
func sectionLines(doc *yaml.Node, key string) (first, last int) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return 0, 0
	}
	m := doc.Content[0].Content
	for i := 0; i+1 < len(m); i += 2 {
		if m[i].Value != key {
			continue
		}
		first = m[i].Line
		if i+2 < len(m) && m[i+2].Line > first {
			last = m[i+2].Line - 1
		}
		return first, last
	}
	return 0, 0
}

// decodeConfig reads a configuration file, replaces its environment references and decodes it strictly into v.
func decodeConfig(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return decodeConfigData(path, data, v)
}

// decodeConfigData replaces the environment references of a configuration file's content and decodes it strictly
// into v.
func decodeConfigData(path string, data []byte, v any) error {
	data, err := expandEnv(data)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %s", path, bytes.TrimPrefix([]byte(err.Error()), []byte("yaml: ")))
	}
	return nil
}

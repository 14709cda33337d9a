package sinks

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Search engine flavours accepted in ElasticsearchConfig.Flavor.
const (
	// FlavorElasticsearch is Elasticsearch 8 (or 7.14+): the go-elasticsearch client with its product check.
	FlavorElasticsearch = "elasticsearch"
	// FlavorOpenSearch is OpenSearch: the same API calls over the client's transport layer, without the check.
	FlavorOpenSearch = "opensearch"
)

// DefaultIndexPrefix names the alert indices (<prefix>-<tenant>-YYYY.MM.DD), their template and their alias.
const DefaultIndexPrefix = "vigil-alerts"

// DefaultShadowIndexPrefix names the indices of shadow rules' alerts (vigil.Alert.Shadow).
const DefaultShadowIndexPrefix = "vigil-shadow"

// ElasticsearchConfig configures the Elasticsearch/OpenSearch alert sink (sinks[].elasticsearch) and the
// `vigil alerts search` command. Secrets belong in the environment: write `password: ${VIGIL_SEARCH_PASSWORD}` and
// the value never appears in the file; no field of this struct is ever logged.
type ElasticsearchConfig struct {
	// Flavor is "elasticsearch" (Elasticsearch 8, or 7.14+; the client checks the product header) or
	// "opensearch" (OpenSearch 1.x/2.x). Default "elasticsearch".
	Flavor string `yaml:"flavor"`
	// URLs are the base URLs of the nodes, e.g. https://es1:9200; requests are spread over them and a node that
	// fails is skipped for a while. Required.
	URLs []string `yaml:"urls"`
	// Username and Password enable HTTP basic authentication.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// APIKey is an Elasticsearch API key, base64-encoded ("id:key" encoded, as returned by the create API key
	// API); it takes precedence over basic authentication. Not supported by OpenSearch.
	APIKey string `yaml:"api_key"`
	// CACert is a PEM file with the certificate authorities that sign the nodes' certificates; default: the
	// system's trust store.
	CACert string `yaml:"ca_cert"`
	// InsecureSkipVerify disables TLS certificate and host name verification. UNSAFE: anyone on the network path
	// can read and alter the alerts and capture the credentials. For a throwaway test cluster only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// RequestTimeout bounds one HTTP request; a request that times out is retried. Default 60s.
	RequestTimeout time.Duration `yaml:"request_timeout"`

	// IndexPrefix names the daily indices <prefix>-<tenant>-YYYY.MM.DD, the index template <prefix> matching
	// <prefix>-*, and the alias <prefix> over all of them. Default "vigil-alerts".
	IndexPrefix string `yaml:"index_prefix"`
	// ShadowIndexPrefix names the indices of shadow rules' alerts the same way (<prefix>-<tenant>-YYYY.MM.DD, a
	// template and an alias of that name): they never mix with live alerts. Default "vigil-shadow".
	ShadowIndexPrefix string `yaml:"shadow_index_prefix"`
	// InstallTemplate installs or updates the index template at start-up. Turn it off when the credentials lack
	// the manage_index_templates privilege and an administrator installs the template. Default true.
	InstallTemplate *bool `yaml:"install_template"`
	// Shards is the number of primary shards of each daily index. Default 1.
	Shards int `yaml:"shards"`
	// Replicas is the number of replicas of each daily index. Default 1.
	Replicas *int `yaml:"replicas"`
	// AutoExpandReplicas lets the engine lower the replica count to what its data nodes can hold
	// (index.auto_expand_replicas 0-<replicas>): a single node stays green with no replica, a cluster of two or more
	// nodes gets Replicas. False fixes number_of_replicas at Replicas. Default true.
	AutoExpandReplicas *bool `yaml:"auto_expand_replicas"`
	// EventTimeWindow bounds the alert times that may choose a daily index (docs/alerts.md, "Index layout"): an
	// alert whose time lies outside it is indexed by its reference day and marked vigil.alert.time_out_of_range.
	EventTimeWindow EventTimeWindow `yaml:"event_time_window"`

	// Workers is the number of bulk requests in flight at once, shared by all pipelines. Default 4.
	Workers int `yaml:"workers"`
	// FlushBytes is the size at which a bulk request is sent without waiting further. Default 5 MiB.
	FlushBytes int `yaml:"flush_bytes"`
	// FlushInterval is how long a bulk request that is not full waits for alerts from other pipelines and
	// batches before it is sent. Write never waits for a timer beyond this. Default 5ms; 0 sends at once.
	FlushInterval *time.Duration `yaml:"flush_interval"`
	// RetryInitialBackoff is the wait before the first retry of a failed request or of alerts the server asked to
	// retry (429, 5xx); it doubles per attempt, with jitter. Default 100ms.
	RetryInitialBackoff time.Duration `yaml:"retry_initial_backoff"`
	// RetryMaxBackoff caps the wait between retries. Retries never stop while the pipeline runs. It is also how late
	// the sink may notice that a cluster which was away is back: measured with a 60 s outage (docs/benchmarks.md,
	// "Catch-up"), 30s kept the backlog waiting for up to 30 s after the engine returned. Default 5s.
	RetryMaxBackoff time.Duration `yaml:"retry_max_backoff"`
	// StallTimeout is how long the sink may have alerts waiting without storing (or dead-lettering) any before its
	// readiness check fails: a cluster that hangs, refuses every request or rejects every alert with 429. It passes
	// again with the next alert stored. Default 30s.
	StallTimeout time.Duration `yaml:"stall_timeout"`
}

// EventTimeWindow is a window around an alert's reference time (when its record reached Kafka, else when the alert
// was created) in which the alert's own time chooses its daily index.
type EventTimeWindow struct {
	// Past is how long before the reference time an alert's time may lie. Default 720h (30 days).
	Past time.Duration `yaml:"past"`
	// Future is how long after it. Default 24h.
	Future time.Duration `yaml:"future"`
}

// SetDefaults fills in every unset field with its default. It is the one place the defaults are defined.
func (c *ElasticsearchConfig) SetDefaults() {
	if c.Flavor == "" {
		c.Flavor = FlavorElasticsearch
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.IndexPrefix == "" {
		c.IndexPrefix = DefaultIndexPrefix
	}
	if c.ShadowIndexPrefix == "" {
		c.ShadowIndexPrefix = DefaultShadowIndexPrefix
	}
	if c.InstallTemplate == nil {
		c.InstallTemplate = ptr(true)
	}
	if c.Shards <= 0 {
		c.Shards = 1
	}
	if c.Replicas == nil {
		c.Replicas = ptr(1)
	}
	if c.AutoExpandReplicas == nil {
		c.AutoExpandReplicas = ptr(true)
	}
	if c.EventTimeWindow.Past <= 0 {
		c.EventTimeWindow.Past = 30 * 24 * time.Hour
	}
	if c.EventTimeWindow.Future <= 0 {
		c.EventTimeWindow.Future = 24 * time.Hour
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.FlushBytes <= 0 {
		c.FlushBytes = 5 << 20
	}
	if c.FlushInterval == nil {
		c.FlushInterval = ptr(5 * time.Millisecond)
	}
	if c.RetryInitialBackoff <= 0 {
		c.RetryInitialBackoff = 100 * time.Millisecond
	}
	if c.RetryMaxBackoff <= 0 {
		c.RetryMaxBackoff = 5 * time.Second
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = 30 * time.Second
	}
}

// Validate checks the configuration without any I/O (the CA file is read when the sink starts).
func (c *ElasticsearchConfig) Validate() error {
	var errs []error
	switch c.Flavor {
	case "", FlavorElasticsearch, FlavorOpenSearch:
	default:
		errs = append(errs, fmt.Errorf("flavor: unknown flavor %q (want %s or %s)", c.Flavor, FlavorElasticsearch, FlavorOpenSearch))
	}
	if len(c.URLs) == 0 {
		errs = append(errs, errors.New("urls: at least one URL is required"))
	}
	for _, u := range c.URLs {
		if err := validateURL(u); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Flavor == FlavorOpenSearch && c.APIKey != "" {
		errs = append(errs, errors.New("api_key: OpenSearch has no API keys; use username and password"))
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, errors.New("password: set without username"))
	}
	if err := validateIndexPart(c.IndexPrefix); c.IndexPrefix != "" && err != nil {
		errs = append(errs, fmt.Errorf("index_prefix: %w", err))
	}
	if err := validateIndexPart(c.ShadowIndexPrefix); c.ShadowIndexPrefix != "" && err != nil {
		errs = append(errs, fmt.Errorf("shadow_index_prefix: %w", err))
	}
	if a, b := c.IndexPrefix+"-", c.ShadowIndexPrefix+"-"; c.IndexPrefix != "" && c.ShadowIndexPrefix != "" &&
		(strings.HasPrefix(a, b) || strings.HasPrefix(b, a)) {
		errs = append(errs, fmt.Errorf("shadow_index_prefix %q and index_prefix %q: the indices of one would match the other's template", c.ShadowIndexPrefix, c.IndexPrefix))
	}
	if c.Replicas != nil && *c.Replicas < 0 {
		errs = append(errs, errors.New("replicas: must not be negative"))
	}
	if c.EventTimeWindow.Past < 0 || c.EventTimeWindow.Future < 0 {
		errs = append(errs, errors.New("event_time_window: past and future must not be negative"))
	}
	if c.StallTimeout < 0 {
		errs = append(errs, errors.New("stall_timeout: must not be negative"))
	}
	if c.FlushInterval != nil && *c.FlushInterval < 0 {
		errs = append(errs, errors.New("flush_interval: must not be negative"))
	}
	if c.RetryMaxBackoff > 0 && c.RetryInitialBackoff > c.RetryMaxBackoff {
		errs = append(errs, errors.New("retry_initial_backoff: larger than retry_max_backoff"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("elasticsearch: %w", err)
	}
	return nil
}

// validateURL accepts http and https URLs; it names the URL without its credentials.
func validateURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("urls: %q is not a URL", redactURL(s))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("urls: %q: want http://host:port or https://host:port", redactURL(s))
	}
	return nil
}

// redactURL hides a password given in a URL, for messages.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return "xxxxx" + s[i:]
	}
	return s
}

// validateIndexPart checks a tenant or prefix against the rules for index names: lowercase, none of
// \ / * ? " < > | , # : or space, not starting with - _ +, not . or .., at most 100 bytes (the index name as a whole
// may have 255).
func validateIndexPart(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case s == "." || s == "..":
		return fmt.Errorf("%q is not allowed", s)
	case len(s) > 100:
		return errors.New("longer than 100 bytes")
	case strings.ToLower(s) != s:
		return fmt.Errorf("%q has upper-case letters", s)
	case strings.ContainsAny(s, "\\/*?\"<>|,#: \t\r\n"):
		return fmt.Errorf("%q contains one of \\ / * ? \" < > | , # : or white space", s)
	case strings.ContainsAny(s[:1], "-_+"):
		return fmt.Errorf("%q starts with - _ or +", s)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

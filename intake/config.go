package intake

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/ingest"
	"github.com/vigilsoc/vigil/kafkaconn"
)

// Config is the intake: section of the configuration file. configs/intake.example.yaml shows every option with its
// default.
type Config struct {
	// Listen is the HTTP(S) address for HEC, _bulk and NDJSON. Default ":8088" (HEC's port).
	Listen string `yaml:"listen"`
	// TLS serves HTTPS (and TLS syslog) when cert_file is set; client_ca_file adds client certificates (mTLS).
	TLS TLSConfig `yaml:"tls"`
	// TokensFile holds the partners' tokens as SHA-256 hashes (see tokens.go); re-read when it changes.
	TokensFile string `yaml:"tokens_file"`
	// TokensReload is how often the tokens file's modification time and size are checked. Default 5s.
	TokensReload time.Duration `yaml:"tokens_reload"`
	// Kafka says where records go.
	Kafka KafkaConfig `yaml:"kafka"`
	// Limits bound bodies, lines and events.
	Limits Limits `yaml:"limits"`
	// Quotas apply per tenant; tenants not listed in quotas.tenants get quotas.default.
	Quotas QuotasConfig `yaml:"quotas"`
	// Timeouts bound slow clients and the shutdown.
	Timeouts Timeouts `yaml:"timeouts"`
	// Syslog are the syslog listeners, each with its own address.
	Syslog []SyslogConfig `yaml:"syslog"`
	// ElasticsearchVersion is the version GET / reports to Elasticsearch clients and shippers, which pick their
	// protocol by it. Default "8.17.0".
	ElasticsearchVersion string `yaml:"elasticsearch_version"`
}

// TLSConfig is the server side of TLS.
type TLSConfig struct {
	// CertFile and KeyFile are the server's PEM certificate (chain) and key. Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile is a PEM file of the CAs that sign partners' client certificates; set, a verified client
	// certificate names its tenant (ClientTenant). Requires cert_file.
	ClientCAFile string `yaml:"client_ca_file"`
	// RequireClientCert refuses connections without a valid client certificate. Default false: a certificate is
	// optional and tokens still work.
	RequireClientCert bool `yaml:"require_client_cert"`
	// ClientTenant says where a client certificate names its tenant: "cn" (the subject's common name, the
	// default), "dns" (the first DNS SAN), "uri" (the first URI SAN), or "email" (the first e-mail SAN).
	ClientTenant string `yaml:"client_tenant"`
	// ClientTenantPrefix and ClientTenantSuffix are stripped from that name ("partner-" for CN partner-acme, or
	// ".partners.example.com" for a DNS SAN acme.partners.example.com); a name without them names no tenant.
	ClientTenantPrefix string `yaml:"client_tenant_prefix"`
	ClientTenantSuffix string `yaml:"client_tenant_suffix"`
}

// KafkaConfig says how to reach Kafka and which topic a tenant's records go to.
type KafkaConfig struct {
	// Config is the connection (brokers, client_id, tls, sasl; package kafkaconn), as for `vigil run`'s Kafka source.
	kafkaconn.Config `yaml:",inline"`
	// Topic is the topic of a tenant's records: a pattern with {tenant} ("partner.{tenant}.events", the default),
	// or one topic for every tenant with multi_tenant: true.
	Topic string `yaml:"topic"`
	// SyslogTopic is the topic of the syslog listeners' records (raw lines, which `vigil run` decodes by their format
	// header): a pattern with {tenant}, or one topic with multi_tenant. Default: Topic + ".syslog".
	SyslogTopic string `yaml:"syslog_topic"`
	// MultiTenant writes every tenant to Topic, with the tenant in the TenantHeader header; `vigil run` reads it
	// as a multi_tenant topic.
	MultiTenant bool `yaml:"multi_tenant"`
	// TenantHeader names the tenant header, set on every record. Default "tenant", as `vigil run`'s.
	TenantHeader string `yaml:"tenant_header"`
	// WriteTimeout bounds the wait for Kafka's acknowledgement of a request's records; past it the client gets
	// 503 and should retry. Default 10s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// BatchTimeout is how long the producer waits to fill a batch to a partition; a request's answer waits at least
	// this long. Default 1ms (under load batches still fill while the partition's previous one is in flight).
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// BatchSize is the most records in a batch to one partition. Default 1000.
	BatchSize int `yaml:"batch_size"`
}

// Limits bound what one request may carry; the error names the limit that was hit.
type Limits struct {
	// MaxBodyBytes bounds a request body after gzip decompression. Default 16 MiB.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxLineBytes bounds one line (NDJSON, _bulk, HEC raw, syslog). Default 1 MiB.
	MaxLineBytes int `yaml:"max_line_bytes"`
	// MaxEventBytes bounds one event (a HEC event object, a _bulk document). Default 1 MiB, as `vigil run`'s
	// max_record_bytes.
	MaxEventBytes int `yaml:"max_event_bytes"`
}

// Timeouts bound slow clients.
type Timeouts struct {
	// ReadHeader bounds reading a request's headers (slowloris). Default 10s.
	ReadHeader time.Duration `yaml:"read_header"`
	// Read bounds reading a whole request, body included. Default 60s.
	Read time.Duration `yaml:"read"`
	// Idle closes a keep-alive connection (HTTP) or a syslog connection that sent nothing for this long.
	// Default 120s for HTTP; syslog connections use SyslogIdle.
	Idle time.Duration `yaml:"idle"`
	// SyslogIdle closes a syslog connection silent for this long. Default 10m.
	SyslogIdle time.Duration `yaml:"syslog_idle"`
	// Shutdown bounds the wait for accepted requests to finish after SIGTERM. Default 30s.
	Shutdown time.Duration `yaml:"shutdown"`
}

// SyslogConfig is one syslog listener (RFC 6587 framing over TCP, RFC 5425 over TLS).
type SyslogConfig struct {
	// Name identifies the listener in the route header (syslog/NAME) and metrics.
	Name string `yaml:"name"`
	// Listen is the TCP address, e.g. ":6514".
	Listen string `yaml:"listen"`
	// TLS serves TLS with the intake's certificate (tls.cert_file).
	TLS bool `yaml:"tls"`
	// Tenant is the tenant of every record received here. Empty: the client certificate names the tenant (needs
	// tls and tls.client_ca_file). With both, a certificate naming another tenant is refused.
	Tenant string `yaml:"tenant"`
	// Format is the format of the lines received here: syslog (the default), cef, leef, kv or lines (a firewall
	// sending bare CEF, an appliance sending key=value). Each record carries it in the header format, and `vigil run`
	// decodes the line by it whatever its topic's format (docs/formats.md).
	Format string `yaml:"format"`
}

// lineFormats are the formats of syslog listeners' lines.
var lineFormats = []string{"syslog", "cef", "leef", "kv", "lines"}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = ":8088"
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur(&c.TokensReload, 5*time.Second)
	if c.ElasticsearchVersion == "" {
		c.ElasticsearchVersion = "8.17.0"
	}
	if c.Kafka.Topic == "" && !c.Kafka.MultiTenant {
		c.Kafka.Topic = "partner.{tenant}.events"
	}
	if c.Kafka.SyslogTopic == "" && c.Kafka.Topic != "" {
		c.Kafka.SyslogTopic = c.Kafka.Topic + ".syslog"
	}
	if c.Kafka.TenantHeader == "" {
		c.Kafka.TenantHeader = "tenant"
	}
	if c.TLS.ClientTenant == "" {
		c.TLS.ClientTenant = "cn"
	}
	defDur(&c.Kafka.WriteTimeout, 10*time.Second)
	defDur(&c.Kafka.BatchTimeout, time.Millisecond)
	def(&c.Kafka.BatchSize, 1000)
	def(&c.Limits.MaxBodyBytes, 16<<20)
	def(&c.Limits.MaxLineBytes, 1<<20)
	def(&c.Limits.MaxEventBytes, ingest.DefaultMaxRecordBytes)
	defDur(&c.Timeouts.ReadHeader, 10*time.Second)
	defDur(&c.Timeouts.Read, 60*time.Second)
	defDur(&c.Timeouts.Idle, 120*time.Second)
	defDur(&c.Timeouts.SyslogIdle, 10*time.Minute)
	defDur(&c.Timeouts.Shutdown, 30*time.Second)
	c.Quotas.setDefaults()
}

// WithDefaults returns a copy of c with every default filled in.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

// Validate checks the configuration without any I/O. Zero values stand for their defaults.
func (c *Config) Validate() error {
	d := c.WithDefaults()
	var errs []error
	if _, _, err := net.SplitHostPort(d.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %w", err))
	}
	errs = append(errs, d.TLS.validate()...)
	if d.TokensFile == "" && d.TLS.ClientCAFile == "" && !hasFixedSyslog(d.Syslog) {
		errs = append(errs, errors.New("tokens_file: required (or tls.client_ca_file, or syslog listeners with a tenant): no partner could authenticate"))
	}
	if err := d.Kafka.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("kafka: %w", err))
	}
	switch {
	case d.Kafka.MultiTenant && strings.Contains(d.Kafka.Topic, "{tenant}"):
		errs = append(errs, fmt.Errorf("kafka.topic: %q: a multi_tenant topic is one topic, without {tenant}", d.Kafka.Topic))
	case d.Kafka.MultiTenant && d.Kafka.Topic == "":
		errs = append(errs, errors.New("kafka.topic: multi_tenant needs the topic"))
	case !d.Kafka.MultiTenant && !strings.Contains(d.Kafka.Topic, "{tenant}"):
		errs = append(errs, fmt.Errorf("kafka.topic: %q has no {tenant} (or set multi_tenant: true)", d.Kafka.Topic))
	case !d.Kafka.MultiTenant && !strings.Contains(d.Kafka.SyslogTopic, "{tenant}"):
		errs = append(errs, fmt.Errorf("kafka.syslog_topic: %q has no {tenant} (or set multi_tenant: true)", d.Kafka.SyslogTopic))
	}
	errs = append(errs, d.Quotas.validate()...)
	errs = append(errs, d.validateSyslog()...)
	return errors.Join(errs...)
}

func (t *TLSConfig) validate() []error {
	var errs []error
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file go together"))
	}
	if t.ClientCAFile != "" && t.CertFile == "" {
		errs = append(errs, errors.New("tls.client_ca_file: needs tls.cert_file (client certificates need TLS)"))
	}
	if t.RequireClientCert && t.ClientCAFile == "" {
		errs = append(errs, errors.New("tls.require_client_cert: needs tls.client_ca_file"))
	}
	switch t.ClientTenant {
	case "cn", "dns", "uri", "email":
	default:
		errs = append(errs, fmt.Errorf("tls.client_tenant: %q is not cn, dns, uri or email", t.ClientTenant))
	}
	return errs
}

func (c *Config) validateSyslog() []error {
	var errs []error
	names := map[string]bool{}
	for i, s := range c.Syslog {
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("syslog[%d]: name is required", i))
		case names[s.Name]:
			errs = append(errs, fmt.Errorf("syslog[%d]: name %q used twice", i, s.Name))
		}
		names[s.Name] = true
		if _, _, err := net.SplitHostPort(s.Listen); err != nil {
			errs = append(errs, fmt.Errorf("syslog[%d] (%s): listen: %w", i, s.Name, err))
		}
		if s.TLS && c.TLS.CertFile == "" {
			errs = append(errs, fmt.Errorf("syslog[%d] (%s): tls needs tls.cert_file", i, s.Name))
		}
		if s.Format != "" && !slices.Contains(lineFormats, s.Format) {
			errs = append(errs, fmt.Errorf("syslog[%d] (%s): format %q: want one of %s", i, s.Name, s.Format, strings.Join(lineFormats, ", ")))
		}
		if s.Tenant != "" {
			if err := vigil.CheckTenant(s.Tenant); err != nil {
				errs = append(errs, fmt.Errorf("syslog[%d] (%s): %w", i, s.Name, err))
			}
		} else if !s.TLS || c.TLS.ClientCAFile == "" {
			errs = append(errs, fmt.Errorf("syslog[%d] (%s): set tenant, or tls with tls.client_ca_file so that client certificates name it", i, s.Name))
		}
	}
	return errs
}

func hasFixedSyslog(list []SyslogConfig) bool {
	for _, s := range list {
		if s.Tenant != "" {
			return true
		}
	}
	return false
}

// TopicFor returns the topic of a tenant's records; the syslog listeners' lines have their own (SyslogTopic).
func (k *KafkaConfig) TopicFor(tenant string, lines bool) string {
	t := k.Topic
	if lines {
		t = k.SyslogTopic
	}
	if k.MultiTenant {
		return t
	}
	return strings.ReplaceAll(t, "{tenant}", tenant)
}

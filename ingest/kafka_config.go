package ingest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/formats"
)

// KafkaConfig configures a Kafka source: one consumer group reading several topics.
type KafkaConfig struct {
	// KafkaConnection says how to reach the brokers (brokers, client_id, tls, sasl), inline.
	KafkaConnection `yaml:",inline"`
	// GroupID is the consumer group; instances sharing it split the partitions. Default "vigil".
	GroupID string `yaml:"group_id"`
	// Topics are read by the group; each names its tenant or is multi-tenant.
	Topics []KafkaTopic `yaml:"topics"`
	// TenantHeader is the record header that names the tenant on multi-tenant topics. Default "tenant".
	TenantHeader string `yaml:"tenant_header"`
	// StartOffset is where a group with no committed offset for a partition starts: earliest or latest.
	// Default earliest, so nothing that reached Kafka before the first start is skipped.
	StartOffset string `yaml:"start_offset"`
	// MaxRecordBytes bounds one record's value; a larger record is dead-lettered. Default 1 MiB.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// BatchSize is the most records returned by one Read. Default 1000.
	BatchSize int `yaml:"batch_size"`
	// BatchWait is how long Read waits to fill a batch once it has a first record. Default 50ms.
	BatchWait time.Duration `yaml:"batch_wait"`
	// FetchMaxWait is how long the broker may hold a fetch request waiting for FetchMinBytes. Default 250ms.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// FetchMinBytes is the data a fetch waits for (up to FetchMaxWait) before it returns. Default 64 KiB.
	FetchMinBytes int `yaml:"fetch_min_bytes"`
	// FetchMaxBytes bounds one fetch response per partition. Default 16 MiB.
	FetchMaxBytes int `yaml:"fetch_max_bytes"`
	// QueueCapacity is how many fetched records are buffered per partition. Default 2000.
	QueueCapacity int `yaml:"queue_capacity"`
	// SessionTimeout: a member silent for this long is removed from the group. Default 30s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// HeartbeatInterval is how often the member tells the coordinator it is alive. Default 3s.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// RebalanceTimeout is how long the coordinator waits for every member to rejoin in a rebalance. Default 30s.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// RevokeTimeout is how long, when a rebalance starts, the member waits for its batches in flight to be acked
	// and committed before it gives up its partitions. Batches acked later are not committed and are read again
	// by the partitions' next owner. Default 10s; must be below RebalanceTimeout and SessionTimeout.
	RevokeTimeout time.Duration `yaml:"revoke_timeout"`
	// LagInterval is how often the partitions' end offsets are read to compute consumer lag (and how often
	// `vigil run` logs it). Default 30s.
	LagInterval time.Duration `yaml:"lag_interval"`
}

// KafkaTopic is one topic read by a Kafka source.
type KafkaTopic struct {
	// Name is the topic.
	Name string `yaml:"name"`
	// Tenant is the tenant of every record on the topic. Exactly one of Tenant and MultiTenant is set.
	Tenant string `yaml:"tenant"`
	// MultiTenant says the topic carries several tenants: the record header TenantHeader names each record's
	// tenant, which must be one of the known tenants.
	MultiTenant bool `yaml:"multi_tenant"`
	// AlertID says what identifies a record for alert ids: "content" (the default: the hash of the record's bytes)
	// or "event_id" (the event's event.id, for a source whose ids are unique per record; see docs/alerts.md).
	AlertID string `yaml:"alert_id"`
	// Config is the records' format (format: json, syslog, cef, leef, kv or lines; default json), the zone of
	// timestamps without one (timezone) and the message parsers (parsers), inline: see docs/formats.md.
	formats.Config `yaml:",inline"`
}

// KafkaConnection says how to reach a Kafka cluster. The Kafka source and the Kafka dead-letter queue share it.
type KafkaConnection struct {
	// Brokers are bootstrap addresses (host:port); one reachable broker is enough to discover the others.
	Brokers []string `yaml:"brokers"`
	// ClientID names Vigil in the brokers' logs and quotas. Default "vigil".
	ClientID string `yaml:"client_id"`
	// ConnectTimeout bounds a dial (with TLS handshake and SASL authentication) and the start-up check. Default 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// TLS encrypts the connections when enabled.
	TLS KafkaTLS `yaml:"tls"`
	// SASL authenticates the connections when a mechanism is set.
	SASL KafkaSASL `yaml:"sasl"`
}

// KafkaTLS configures TLS to the brokers.
type KafkaTLS struct {
	// Enabled turns TLS on; the other fields are optional.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of the certificate authorities to trust; default: the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for brokers that require client
	// authentication. Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name expected in the brokers' certificates; default: the host dialled.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any broker certificate. For tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// KafkaSASL configures SASL authentication.
type KafkaSASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (any case); empty means no SASL.
	Mechanism string `yaml:"mechanism"`
	// Username is the SASL user.
	Username string `yaml:"username"`
	// Password is the SASL password; write it as ${ENV_VAR} so it stays out of the file. Exclusive with
	// PasswordFile.
	Password string `yaml:"password"`
	// PasswordFile is a file holding the password (trailing newline ignored), e.g. a mounted secret.
	PasswordFile string `yaml:"password_file"`
}

// Start offsets for a group without committed offsets.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// setDefaults fills in every default of a KafkaConfig; it is the only place they are written down.
func (c *KafkaConfig) setDefaults() {
	c.KafkaConnection.setDefaults()
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
	if c.GroupID == "" {
		c.GroupID = "vigil"
	}
	if c.TenantHeader == "" {
		c.TenantHeader = "tenant"
	}
	if c.StartOffset == "" {
		c.StartOffset = StartEarliest
	}
	def(&c.MaxRecordBytes, DefaultMaxRecordBytes)
	def(&c.BatchSize, 1000)
	def(&c.FetchMinBytes, 64<<10)
	def(&c.FetchMaxBytes, 16<<20)
	def(&c.QueueCapacity, 2000)
	defDur(&c.BatchWait, 50*time.Millisecond)
	defDur(&c.FetchMaxWait, 250*time.Millisecond)
	defDur(&c.SessionTimeout, 30*time.Second)
	defDur(&c.HeartbeatInterval, 3*time.Second)
	defDur(&c.RebalanceTimeout, 30*time.Second)
	defDur(&c.RevokeTimeout, 10*time.Second)
	defDur(&c.LagInterval, 30*time.Second)
}

func (c *KafkaConnection) setDefaults() {
	if c.ClientID == "" {
		c.ClientID = "vigil"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
}

// WithDefaults returns a copy of c with every default filled in.
func (c KafkaConfig) WithDefaults() KafkaConfig {
	c.setDefaults()
	return c
}

// Validate checks the configuration without any I/O. Zero values stand for their defaults.
func (c *KafkaConfig) Validate() error {
	d := c.WithDefaults()
	errs := d.KafkaConnection.validate()
	if len(d.Topics) == 0 {
		errs = append(errs, errors.New("topics: at least one topic is required"))
	}
	seen := map[string]bool{}
	for i, t := range d.Topics {
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("topics[%d]: name is required", i))
		case seen[t.Name]:
			errs = append(errs, fmt.Errorf("topics[%d]: topic %q listed twice", i, t.Name))
		}
		seen[t.Name] = true
		if t.Tenant != "" {
			if err := vigil.CheckTenant(t.Tenant); err != nil {
				errs = append(errs, fmt.Errorf("topics[%d] (%s): %w", i, t.Name, err))
			}
		}
		if err := checkAlertID(t.AlertID); err != nil {
			errs = append(errs, fmt.Errorf("topics[%d] (%s): %w", i, t.Name, err))
		}
		if err := t.Config.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("topics[%d] (%s): %w", i, t.Name, err))
		}
		if (t.Tenant == "") == !t.MultiTenant {
			errs = append(errs, fmt.Errorf("topics[%d] (%s): set exactly one of tenant and multi_tenant", i, t.Name))
		}
	}
	if d.StartOffset != StartEarliest && d.StartOffset != StartLatest {
		errs = append(errs, fmt.Errorf("start_offset: %q is neither earliest nor latest", d.StartOffset))
	}
	if d.HeartbeatInterval >= d.SessionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat_interval (%s) must be below session_timeout (%s)",
			d.HeartbeatInterval, d.SessionTimeout))
	}
	if d.RevokeTimeout >= min(d.RebalanceTimeout, d.SessionTimeout) {
		// The member sends no heartbeat while it waits for its batches in flight, and must rejoin in time.
		errs = append(errs, fmt.Errorf("revoke_timeout (%s) must be below rebalance_timeout (%s) and session_timeout (%s)",
			d.RevokeTimeout, d.RebalanceTimeout, d.SessionTimeout))
	}
	return errors.Join(errs...)
}

// CheckTenants checks the topics against the known tenants: a multi-tenant topic needs a list of known tenants,
// and a topic's fixed tenant must be in the list when there is one.
func (c *KafkaConfig) CheckTenants(known []string) error {
	var errs []error
	for i, t := range c.Topics {
		switch {
		case t.MultiTenant && len(known) == 0:
			errs = append(errs, fmt.Errorf("topics[%d] (%s): multi_tenant needs the list of known tenants (tenants:)", i, t.Name))
		case t.Tenant != "" && len(known) > 0 && !contains(known, t.Tenant):
			errs = append(errs, fmt.Errorf("topics[%d] (%s): tenant %q is not in the list of known tenants", i, t.Name, t.Tenant))
		}
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Validate checks the connection settings without any I/O.
func (c *KafkaConnection) Validate() error {
	d := *c
	d.setDefaults()
	return errors.Join(d.validate()...)
}

func (c *KafkaConnection) validate() []error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: at least one broker address is required"))
	}
	for i, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("brokers[%d]: %q is not host:port", i, b))
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file go together"))
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "" || c.TLS.ServerName != "") {
		errs = append(errs, errors.New("tls: settings given but tls.enabled is false"))
	}
	s := c.SASL
	switch strings.ToUpper(s.Mechanism) {
	case "":
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			errs = append(errs, errors.New("sasl: credentials given but no mechanism"))
		}
		return errs
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		errs = append(errs, fmt.Errorf("sasl.mechanism: %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism))
	}
	if s.Username == "" {
		errs = append(errs, errors.New("sasl.username is required"))
	}
	if (s.Password == "") == (s.PasswordFile == "") {
		errs = append(errs, errors.New("sasl: set exactly one of password and password_file"))
	}
	return errs
}

// Dialer builds the kafka-go dialer (consumer group, partition readers). It reads the TLS and password files.
func (c *KafkaConnection) Dialer() (*kafka.Dialer, error) {
	tlsCfg, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{ClientID: c.clientID(), Timeout: c.timeout(), DualStack: true, KeepAlive: 30 * time.Second,
		TLS: tlsCfg, SASLMechanism: mech}, nil
}

// Transport builds the kafka-go transport (writers, admin requests). It reads the TLS and password files.
func (c *KafkaConnection) Transport() (*kafka.Transport, error) {
	tlsCfg, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{ClientID: c.clientID(), DialTimeout: c.timeout(), TLS: tlsCfg, SASL: mech}, nil
}

func (c *KafkaConnection) clientID() string {
	if c.ClientID == "" {
		return "vigil"
	}
	return c.ClientID
}

func (c *KafkaConnection) timeout() time.Duration {
	if c.ConnectTimeout <= 0 {
		return 10 * time.Second
	}
	return c.ConnectTimeout
}

// security builds the TLS configuration and the SASL mechanism (nil when not configured).
func (c *KafkaConnection) security() (*tls.Config, sasl.Mechanism, error) {
	var tlsCfg *tls.Config
	if c.TLS.Enabled {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLS.ServerName,
			InsecureSkipVerify: c.TLS.InsecureSkipVerify} // #nosec G402 -- opt-in, documented as tests only
		if c.TLS.CAFile != "" {
			pem, err := os.ReadFile(c.TLS.CAFile)
			if err != nil {
				return nil, nil, fmt.Errorf("kafka tls: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("kafka tls: %s holds no PEM certificate", c.TLS.CAFile)
			}
			tlsCfg.RootCAs = pool
		}
		if c.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
			if err != nil {
				return nil, nil, fmt.Errorf("kafka tls: client certificate: %w", err)
			}
			tlsCfg.Certificates = []tls.Certificate{cert}
		}
	}
	mech, err := c.saslMechanism()
	return tlsCfg, mech, err
}

func (c *KafkaConnection) saslMechanism() (sasl.Mechanism, error) {
	s := c.SASL
	if s.Mechanism == "" {
		return nil, nil
	}
	password := s.Password
	if s.PasswordFile != "" {
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("kafka sasl: password_file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	switch strings.ToUpper(s.Mechanism) {
	case "PLAIN":
		return plain.Mechanism{Username: s.Username, Password: password}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, s.Username, password)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, s.Username, password)
	}
	return nil, fmt.Errorf("kafka sasl: unknown mechanism %q", s.Mechanism)
}

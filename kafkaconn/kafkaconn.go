// Package kafkaconn says how Vigil reaches a Kafka cluster: the bootstrap brokers, the client id, TLS and SASL. It is
// the one connection type shared by every component that talks to Kafka: the Kafka source (ingest), the partner
// intake, the dead-letter queue (sinks), correlation state (correlate), the rule deploy and status topics (fleet) and
// hunting. Each of them embeds Config inline in its own YAML block, so the YAML keys (brokers, client_id,
// connect_timeout, tls, sasl) are the same everywhere, and builds its kafka-go Dialer or Transport from it.
//
// The package does no I/O until Dialer, Transport or Check is called; Validate only looks at the values.
package kafkaconn

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Config says how to reach a Kafka cluster.
type Config struct {
	// Brokers are bootstrap addresses (host:port); one reachable broker is enough to discover the others.
	Brokers []string `yaml:"brokers"`
	// ClientID names Vigil in the brokers' logs and quotas. Default "vigil".
	ClientID string `yaml:"client_id"`
	// ConnectTimeout bounds a dial (with TLS handshake and SASL authentication) and the start-up check. Default 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// TLS encrypts the connections when enabled.
	TLS TLS `yaml:"tls"`
	// SASL authenticates the connections when a mechanism is set.
	SASL SASL `yaml:"sasl"`
}

// TLS configures TLS to the brokers.
type TLS struct {
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

// SASL configures SASL authentication.
type SASL struct {
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

// Defaults of Config, written down once.
const (
	DefaultClientID       = "vigil"
	DefaultConnectTimeout = 10 * time.Second
)

// WithDefaults returns a copy of c with every default filled in.
func (c Config) WithDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	return c
}

// Validate checks the connection settings without any I/O. Zero values stand for their defaults.
func (c *Config) Validate() error {
	return errors.Join(c.Problems()...)
}

// Problems is Validate's list of errors, for configurations that embed Config and join them with their own.
func (c *Config) Problems() []error {
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
	return append(errs, c.SASL.problems()...)
}

func (s SASL) problems() []error {
	var errs []error
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

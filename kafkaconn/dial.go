package kafkaconn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Dialer builds the kafka-go dialer (consumer groups, partition readers). It reads the TLS and password files.
func (c *Config) Dialer() (*kafka.Dialer, error) {
	tlsCfg, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	d := c.WithDefaults()
	return &kafka.Dialer{ClientID: d.ClientID, Timeout: d.ConnectTimeout, DualStack: true, KeepAlive: 30 * time.Second,
		TLS: tlsCfg, SASLMechanism: mech}, nil
}

// Transport builds the kafka-go transport (writers, admin requests). It reads the TLS and password files.
func (c *Config) Transport() (*kafka.Transport, error) {
	tlsCfg, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	d := c.WithDefaults()
	return &kafka.Transport{ClientID: d.ClientID, DialTimeout: d.ConnectTimeout, TLS: tlsCfg, SASL: mech}, nil
}

// security builds the TLS configuration and the SASL mechanism (nil when not configured).
func (c *Config) security() (*tls.Config, sasl.Mechanism, error) {
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
	mech, err := c.SASL.mechanism()
	return tlsCfg, mech, err
}

func (s SASL) mechanism() (sasl.Mechanism, error) {
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

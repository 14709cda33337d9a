package fleet

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/vigilsoc/vigil/kafkaconn"
)

// Config says where the bundles and the instances' status live. It is part of the rules block of `vigil run`'s
// configuration (rules: {from: kafka, ...}) and is read by the `vigil rules` fleet commands.
type Config struct {
	// Kafka is the cluster of both topics (brokers, client_id, tls, sasl). `vigil run` fills one without brokers
	// from the first Kafka source.
	Kafka *kafkaconn.Config `yaml:"kafka"`
	// Topic holds the bundles, compacted, one partition. Default "vigil.rules".
	Topic string `yaml:"topic"`
	// StatusTopic holds what each instance runs, compacted, keyed by instance id. Default "vigil.rules-status".
	StatusTopic string `yaml:"status_topic"`
	// InstanceID names this instance in the status topic; stable across restarts. Default: the host name.
	InstanceID string `yaml:"instance_id"`
	// StatusInterval is how often an instance repeats its status; `vigil rules status` calls an instance live when
	// its last status is younger than three intervals. Default 10s.
	StatusInterval time.Duration `yaml:"status_interval"`
	// MaxBundleBytes bounds a bundle record (compressed). Default 1000000, under the broker's default
	// message.max.bytes (1048588); the topic is created with max.message.bytes a little above it. Raise both together.
	MaxBundleBytes int `yaml:"max_bundle_bytes"`
	// ReplicationFactor of both topics when Vigil creates them; -1 (the default) is the broker's default.
	ReplicationFactor int `yaml:"replication_factor"`
}

// Defaults of Config.
const (
	DefaultTopic          = "vigil.rules"
	DefaultStatusTopic    = "vigil.rules-status"
	DefaultMaxBundleBytes = 1_000_000
)

// WithDefaults returns a copy of c with every default filled in.
func (c Config) WithDefaults() Config {
	if c.Kafka != nil {
		k := c.Kafka.WithDefaults()
		c.Kafka = &k
	}
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.StatusTopic == "" {
		c.StatusTopic = DefaultStatusTopic
	}
	if c.InstanceID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "vigil-" + strconv.Itoa(os.Getpid())
		}
		c.InstanceID = host
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = 10 * time.Second
	}
	if c.MaxBundleBytes <= 0 {
		c.MaxBundleBytes = DefaultMaxBundleBytes
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	return c
}

// Validate checks the configuration without any I/O.
func (c *Config) Validate() error {
	d := c.WithDefaults()
	var errs []error
	if d.Kafka == nil {
		errs = append(errs, errors.New("kafka: the connection is required (or a Kafka source to take it from)"))
	} else if err := d.Kafka.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("kafka: %w", err))
	}
	if d.Topic == d.StatusTopic {
		errs = append(errs, fmt.Errorf("topic and status_topic are both %q: they must differ", d.Topic))
	}
	if d.ReplicationFactor < -1 {
		errs = append(errs, fmt.Errorf("replication_factor: %d (want -1 for the broker's default, or at least 1)", d.ReplicationFactor))
	}
	return errors.Join(errs...)
}

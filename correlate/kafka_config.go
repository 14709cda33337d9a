package correlate

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigilsoc/vigil/kafkaconn"
)

// KafkaConfig places correlation on Kafka (DESIGN.md section 10): the match topic that the detection side publishes
// match records to (Publisher), the compacted changelog topic that holds the state of each of its partitions, and the
// consumer group of the correlation stage (Stage). The changelog has as many partitions as the match topic: the state
// of match partition N lives in changelog partition N.
type KafkaConfig struct {
	// Kafka is the cluster of both topics and of the stage's group (brokers, client_id, tls, sasl). Nil keeps
	// correlation in-process. `vigil run` fills one without brokers from the first Kafka source.
	Kafka *kafkaconn.Config `yaml:"kafka"`
	// Topic is the match topic. Default "vigil.matches".
	Topic string `yaml:"topic"`
	// ChangelogTopic holds the checkpointed state, compacted. Default "vigil.correlation-state".
	ChangelogTopic string `yaml:"changelog_topic"`
	// Partitions is the partition count of both topics when Vigil creates them (default 12): the most correlation
	// stages that can share the work. Topics that exist keep theirs; both must have the same.
	Partitions int `yaml:"partitions"`
	// ReplicationFactor of both topics when Vigil creates them; -1 (the default) is the broker's default.
	ReplicationFactor int `yaml:"replication_factor"`
	// GroupID is the correlation stage's consumer group. Default "vigil-correlate".
	GroupID string `yaml:"group_id"`
	// BatchSize is the most match records one partition processes (and checkpoints) at once. Default 1000.
	BatchSize int `yaml:"batch_size"`
	// SessionTimeout, HeartbeatInterval, RebalanceTimeout and RevokeTimeout are those of the stage's consumer group,
	// as for a Kafka source (defaults 30s, 3s, 30s, 10s): RevokeTimeout bounds how long a partition given up in a
	// rebalance may take to finish its batch, checkpoint and commit.
	SessionTimeout    time.Duration `yaml:"session_timeout"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	RebalanceTimeout  time.Duration `yaml:"rebalance_timeout"`
	RevokeTimeout     time.Duration `yaml:"revoke_timeout"`
	// WriteTimeout bounds one attempt to write match or changelog records; a failed attempt is retried with backoff
	// for as long as the batch may take. Default 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
}

// WithDefaults returns a copy of c with every default filled in (the connection's too, when there is one).
func (c KafkaConfig) WithDefaults() KafkaConfig {
	if c.Kafka != nil {
		conn := c.Kafka.WithDefaults()
		c.Kafka = &conn
	}
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.Topic, "vigil.matches")
	def(&c.ChangelogTopic, "vigil.correlation-state")
	def(&c.GroupID, "vigil-correlate")
	if c.Partitions <= 0 {
		c.Partitions = 12
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	for _, d := range []struct {
		v *time.Duration
		d time.Duration
	}{{&c.SessionTimeout, 30 * time.Second}, {&c.HeartbeatInterval, 3 * time.Second},
		{&c.RebalanceTimeout, 30 * time.Second}, {&c.RevokeTimeout, 10 * time.Second}, {&c.WriteTimeout, 30 * time.Second}} {
		if *d.v <= 0 {
			*d.v = d.d
		}
	}
	return c
}

// Validate checks the configuration without any I/O. Zero values stand for their defaults.
func (c *KafkaConfig) Validate() error {
	d := c.WithDefaults()
	var errs []error
	if d.Kafka != nil {
		if err := d.Kafka.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("kafka: %w", err))
		}
	}
	if d.Topic == d.ChangelogTopic {
		errs = append(errs, fmt.Errorf("topic and changelog_topic are both %q: they must differ", d.Topic))
	}
	if d.HeartbeatInterval >= d.SessionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat_interval (%s) must be below session_timeout (%s)",
			d.HeartbeatInterval, d.SessionTimeout))
	}
	if d.RevokeTimeout >= min(d.RebalanceTimeout, d.SessionTimeout) {
		errs = append(errs, fmt.Errorf("revoke_timeout (%s) must be below rebalance_timeout (%s) and session_timeout (%s)",
			d.RevokeTimeout, d.RebalanceTimeout, d.SessionTimeout))
	}
	if d.ReplicationFactor < -1 {
		errs = append(errs, fmt.Errorf("replication_factor: %d (want -1 for the broker's default, or at least 1)", d.ReplicationFactor))
	}
	return errors.Join(errs...)
}

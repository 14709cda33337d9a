package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/formats"
	"github.com/vigilsoc/vigil/kafkaconn"
)

// KafkaConfig configures a Kafka source: one consumer group reading several topics.
type KafkaConfig struct {
	// Config says how to reach the brokers (brokers, client_id, connect_timeout, tls, sasl), inline.
	kafkaconn.Config `yaml:",inline"`
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

// Start offsets for a group without committed offsets.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// setDefaults fills in every default of a KafkaConfig; it is the only place they are written down.
func (c *KafkaConfig) setDefaults() {
	c.Config = c.Config.WithDefaults()
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

// WithDefaults returns a copy of c with every default filled in.
func (c KafkaConfig) WithDefaults() KafkaConfig {
	c.setDefaults()
	return c
}

// Validate checks the configuration without any I/O. Zero values stand for their defaults.
func (c *KafkaConfig) Validate() error {
	d := c.WithDefaults()
	errs := d.Config.Problems()
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

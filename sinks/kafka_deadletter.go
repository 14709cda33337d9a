package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/kafkaconn"
)

// KafkaDeadLetterConfig configures the Kafka dead-letter queue.
type KafkaDeadLetterConfig struct {
	// Config says how to reach the brokers (brokers, client_id, tls, sasl; package kafkaconn), inline. `vigil run` fills it
	// from the first Kafka source when brokers is empty.
	kafkaconn.Config `yaml:",inline"`
	// Topic receives the dead letters. Default "vigil.deadletter".
	Topic string `yaml:"topic"`
	// CreateTopic creates the topic at start-up when it does not exist (as Kafka Connect does for its dead-letter
	// topics), with Partitions partitions and ReplicationFactor replicas; -1, the default of both, means the
	// broker's defaults. Without it a missing topic is a start-up error.
	CreateTopic       bool `yaml:"create_topic"`
	Partitions        int  `yaml:"partitions"`
	ReplicationFactor int  `yaml:"replication_factor"`
	// MaxPayloadBytes bounds the record value written; a longer payload is cut, and the header
	// vigil.payload.truncated gives its original length. Default 1,000,000 (below Kafka's default 1 MB limit).
	MaxPayloadBytes int `yaml:"max_payload_bytes"`
	// BatchTimeout is how long the writer waits to fill a produce request. Default 5ms.
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// WriteTimeout bounds one write attempt; a failed attempt is retried with backoff until the batch's context
	// ends. Default 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
}

// Headers of a dead-letter record. The record's value is the original payload.
const (
	HeaderKind            = "vigil.kind"              // event or alert
	HeaderReason          = "vigil.reason"            // decode, oversize, tenant, mapping, ...
	HeaderDetail          = "vigil.detail"            // the error, for humans
	HeaderSource          = "vigil.source"            // the configured source name
	HeaderSourceTopic     = "vigil.source.topic"      // where a Kafka record came from
	HeaderSourcePartition = "vigil.source.partition"  //
	HeaderSourceOffset    = "vigil.source.offset"     //
	HeaderSourceFile      = "vigil.source.file"       // where a file record came from
	HeaderSourceLine      = "vigil.source.line"       //
	HeaderSourceTime      = "vigil.source.time"       // the record's own time, RFC 3339
	HeaderTenant          = "vigil.tenant"            // when known
	HeaderTruncated       = "vigil.payload.truncated" // the original payload length, when cut
)

func (c *KafkaDeadLetterConfig) setDefaults() {
	c.Config = c.Config.WithDefaults()
	if c.Topic == "" {
		c.Topic = "vigil.deadletter"
	}
	if c.Partitions == 0 {
		c.Partitions = -1
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.MaxPayloadBytes <= 0 {
		c.MaxPayloadBytes = 1_000_000
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 5 * time.Millisecond
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
}

// Validate checks the configuration without any I/O.
func (c *KafkaDeadLetterConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return fmt.Errorf("kafka dead-letter queue: %w", err)
	}
	return nil
}

// KafkaDeadLetter parks dead letters in a Kafka topic, each acknowledged by all in-sync replicas before Park returns.
// A failed write is retried with backoff until the context ends (backpressure, as for any sink write): a dead
// letter is never dropped while the pipeline waits for it.
type KafkaDeadLetter struct {
	cfg KafkaDeadLetterConfig
	w   *kafka.Writer
	log *slog.Logger

	// Parked and Retries count letters written and failed write attempts.
	Parked, Retries atomic.Int64
}

// NewKafkaDeadLetter checks, within the connect timeout, that the brokers accept the credentials and that the topic
// exists, and returns the queue. log receives retried failures; nil discards them.
func NewKafkaDeadLetter(ctx context.Context, cfg KafkaDeadLetterConfig, log *slog.Logger) (*KafkaDeadLetter, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr, err := cfg.Transport()
	if err != nil {
		return nil, fmt.Errorf("kafka dead-letter queue: %w", err)
	}
	if err := cfg.Check(ctx, cfg.Topic); err != nil {
		if !cfg.CreateTopic || !errors.Is(err, kafkaconn.ErrTopicMissing) {
			return nil, fmt.Errorf("kafka dead-letter queue %s: %w", cfg.Topic, err)
		}
		if err := createTopic(ctx, cfg, tr); err != nil {
			return nil, fmt.Errorf("kafka dead-letter queue %s: create topic: %w", cfg.Topic, err)
		}
		log.Info("kafka dead-letter queue: topic created", "topic", cfg.Topic)
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(cfg.Brokers...), Topic: cfg.Topic, Transport: tr,
		Balancer:     &kafka.Hash{}, // key: the origin, so letters of one source partition stay in order
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: cfg.BatchTimeout, BatchSize: 1000, WriteTimeout: cfg.WriteTimeout,
		MaxAttempts: 1, // Park retries, without limit
	}
	return &KafkaDeadLetter{cfg: cfg, w: w, log: log.With("dead_letter_topic", cfg.Topic)}, nil
}

// createTopic creates the dead-letter topic and waits until the brokers know it.
func createTopic(ctx context.Context, cfg KafkaDeadLetterConfig, tr *kafka.Transport) error {
	ctx, cancel := context.WithTimeout(ctx, 2*cfg.ConnectTimeout)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: tr}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: cfg.Topic, NumPartitions: cfg.Partitions, ReplicationFactor: cfg.ReplicationFactor}}})
	if err != nil {
		return err
	}
	if err := res.Errors[cfg.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return err
	}
	for {
		err := cfg.Check(ctx, cfg.Topic)
		if err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Park implements vigil.DeadLetterQueue.
func (q *KafkaDeadLetter) Park(ctx context.Context, letters []vigil.DeadLetter) error {
	if len(letters) == 0 {
		return nil
	}
	now := time.Now()
	msgs := make([]kafka.Message, len(letters))
	for i, l := range letters {
		msgs[i] = q.message(l, now)
	}
	for attempt := 0; ; attempt++ {
		err := q.w.WriteMessages(ctx, msgs...)
		if err == nil {
			q.Parked.Add(int64(len(letters)))
			return nil
		}
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(msgs) { // retry only what failed
			failed := msgs[:0:0]
			for i, e := range werrs {
				if e != nil {
					failed = append(failed, msgs[i])
					err = e // one error stands for all: the list can be thousands long
				}
			}
			q.Parked.Add(int64(len(msgs) - len(failed)))
			msgs = failed
		}
		if ctx.Err() != nil {
			return fmt.Errorf("kafka dead-letter queue %s: %d letters not written: %w", q.cfg.Topic, len(msgs), err)
		}
		q.Retries.Add(1)
		delay := min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
		q.log.Warn("kafka dead-letter queue: write failed; retrying", "letters", len(msgs),
			"attempt", attempt+1, "retry_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka dead-letter queue %s: %d letters not written: %w", q.cfg.Topic, len(msgs), err)
		case <-time.After(delay):
		}
	}
}

// message builds the dead-letter record: the original payload, with headers naming the reason and the origin.
func (q *KafkaDeadLetter) message(l vigil.DeadLetter, now time.Time) kafka.Message {
	o := l.Origin
	h := []kafka.Header{
		{Key: HeaderKind, Value: []byte(l.Kind)},
		{Key: HeaderReason, Value: []byte(l.Reason)},
		{Key: HeaderDetail, Value: []byte(truncate(l.Detail, 2048))},
		{Key: HeaderSource, Value: []byte(o.Source)},
	}
	add := func(k, v string) { h = append(h, kafka.Header{Key: k, Value: []byte(v)}) }
	key := o.Source
	switch {
	case o.Topic != "":
		key = o.Topic + "/" + strconv.Itoa(o.Partition)
		add(HeaderSourceTopic, o.Topic)
		add(HeaderSourcePartition, strconv.Itoa(o.Partition))
		add(HeaderSourceOffset, strconv.FormatInt(o.Offset, 10))
	case o.File != "":
		key = o.File
		add(HeaderSourceFile, o.File)
		add(HeaderSourceLine, strconv.FormatInt(o.Line, 10))
	}
	if !o.Time.IsZero() {
		add(HeaderSourceTime, o.Time.UTC().Format(time.RFC3339Nano))
	}
	if l.Tenant != "" {
		add(HeaderTenant, l.Tenant)
	}
	payload := l.Payload
	if len(payload) > q.cfg.MaxPayloadBytes {
		add(HeaderTruncated, strconv.Itoa(len(payload)))
		payload = payload[:q.cfg.MaxPayloadBytes]
	}
	return kafka.Message{Key: []byte(key), Value: payload, Headers: h, Time: now}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Close flushes and closes the writer.
func (q *KafkaDeadLetter) Close() error {
	return q.w.Close()
}

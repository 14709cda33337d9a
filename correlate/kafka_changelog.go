package correlate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// changelog writes the checkpoints of the stage's partitions to the changelog topic and reads a partition's back.
// The state of match partition N is in changelog partition N; its records are the StateRecords of Partition.Checkpoint
// in the order they were returned, a tombstone (null value) for a freed group. Compaction keeps the last record per
// key, which is all Restore needs.
type changelog struct {
	cfg    KafkaConfig
	dialer *kafka.Dialer
	w      *kafka.Writer
	log    *slog.Logger

	written, retries atomic.Int64
}

// restoreFetchTimeout bounds one fetch of a restore; a restore that fails is started again.
const restoreFetchTimeout = 30 * time.Second

// newChangelog returns the changelog of cfg; its batches are at most maxBatch bytes (the topic's max.message.bytes).
func newChangelog(cfg KafkaConfig, tr *kafka.Transport, maxBatch int, log *slog.Logger) (*changelog, error) {
	dialer, err := cfg.Kafka.Dialer()
	if err != nil {
		return nil, err
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(cfg.Kafka.Brokers...), Topic: cfg.ChangelogTopic, Transport: tr,
		// Every record goes to the partition it names: that of the match partition whose state it is.
		Balancer:     kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }),
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, BatchSize: 1000, BatchBytes: int64(maxBatch), WriteTimeout: cfg.WriteTimeout,
		MaxAttempts: 1, // write retries, without limit
	}
	return &changelog{cfg: cfg, dialer: dialer, w: w, log: log.With("topic", cfg.ChangelogTopic)}, nil
}

// write appends recs to changelog partition and returns once every record is acknowledged by all in-sync replicas.
func (c *changelog) write(ctx context.Context, partition int, recs []StateRecord) error {
	if len(recs) == 0 {
		return nil
	}
	now := time.Now()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value, Partition: partition, Time: now}
	}
	return writeRetrying(ctx, c.w, msgs, &c.written, &c.retries, c.log, "state records")
}

// restore reads changelog partition from its first record up to its end offset as it is when restore starts, and
// hands every record to apply, in order. It returns the number of records read.
//
// It reads with fetch requests on a connection to the partition's leader rather than with a kafka.Reader, because it
// must know when it is done: a compacted partition may have no record at offsets just below its end (compaction
// removed them), and a fetch that returns nothing below the end offset says exactly that.
func (c *changelog) restore(ctx context.Context, partition int, apply func(StateRecord) error) (int, error) {
	conn, err := c.dialLeader(ctx, partition)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // unblocks a fetch when the generation ends
	defer stop()
	if err := conn.SetDeadline(time.Now().Add(restoreFetchTimeout)); err != nil {
		return 0, err
	}
	offset, end, err := conn.ReadOffsets()
	if err != nil {
		return 0, fmt.Errorf("read the offsets of %s/%d: %w", c.cfg.ChangelogTopic, partition, err)
	}
	n := 0
	for offset < end {
		if err := conn.SetDeadline(time.Now().Add(restoreFetchTimeout)); err != nil {
			return n, err
		}
		if _, err := conn.Seek(offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
			return n, err
		}
		batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond})
		var applyErr error
		for applyErr == nil {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			if m.Offset < offset || m.Offset >= end {
				continue // a fetch starts at its batch's first record; records after the end are not ours to read
			}
			rec := StateRecord{Key: m.Key, Value: m.Value}
			if len(rec.Value) == 0 {
				rec.Value = nil // a tombstone: a real state is never empty
			}
			applyErr = apply(rec)
			n++
		}
		err := batch.Close()
		if applyErr != nil {
			return n, applyErr
		}
		if err != nil {
			return n, fmt.Errorf("fetch %s/%d at offset %d: %w", c.cfg.ChangelogTopic, partition, offset, err)
		}
		next := batch.Offset()
		if next <= offset {
			break // nothing left below the end: compaction removed the last records
		}
		offset = next
	}
	return n, ctx.Err()
}

// dialLeader connects to the leader of changelog partition, through the first broker that answers.
func (c *changelog) dialLeader(ctx context.Context, partition int) (*kafka.Conn, error) {
	var errs []error
	for _, b := range c.cfg.Kafka.Brokers {
		conn, err := c.dialer.DialLeader(ctx, "tcp", b, c.cfg.ChangelogTopic, partition)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("connect to the leader of %s/%d: %w", c.cfg.ChangelogTopic, partition, errors.Join(errs...))
}

func (c *changelog) close() error { return c.w.Close() }

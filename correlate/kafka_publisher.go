package correlate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/kafkaconn"
)

// Publisher is the vigil.Correlator of the detection side when correlation runs on Kafka (DESIGN.md section 10):
// it turns the matches of the rules that correlations name into match records (Engine.Records) and writes them to
// the match topic, where a Stage, in this process or another, evaluates the correlations. It returns no alerts.
//
// A record's Kafka key is Record.Key (tenant and group values) and its partition PartitionOf that key, so every
// record of a group, of every correlation that groups by the same values, lands on one partition. Records are
// written with acks=all; Correlate returns once every record of the batch is acknowledged, so the source commits
// only matches that are in the topic.
type Publisher struct {
	e      *Engine
	cfg    KafkaConfig
	n      int
	layout topicLayout
	tr     *kafka.Transport
	w      *kafka.Writer
	log    *slog.Logger

	// Published counts records acknowledged by the brokers, Retries failed write attempts (retried).
	Published, Retries atomic.Int64
}

// NewPublisher checks within the connect timeout that the brokers accept the connection, creates the match and
// changelog topics when they are missing, and checks that both have the same number of partitions and that the
// changelog is compacted. e is the detection side's engine; the Publisher only asks it which correlations name a
// rule (Engine.Records). log receives topic creation and retried failures; nil discards them.
func NewPublisher(ctx context.Context, cfg KafkaConfig, e *Engine, log *slog.Logger) (*Publisher, error) {
	cfg = cfg.WithDefaults()
	if cfg.Kafka == nil {
		return nil, errors.New("correlation: no Kafka connection configured")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("correlation: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr, err := cfg.Kafka.Transport()
	if err != nil {
		return nil, fmt.Errorf("correlation: %w", err)
	}
	if err := cfg.Kafka.Check(ctx, cfg.Topic); err != nil && !errors.Is(err, kafkaconn.ErrTopicMissing) {
		return nil, fmt.Errorf("correlation: %w", err)
	}
	layout, err := ensureTopics(ctx, cfg, tr, log)
	if err != nil {
		return nil, fmt.Errorf("correlation: %w", err)
	}
	n := layout.partitions
	p := &Publisher{e: e, cfg: cfg, n: n, layout: layout, tr: tr, log: log.With("topic", cfg.Topic)}
	p.w = &kafka.Writer{
		Addr: kafka.TCP(cfg.Kafka.Brokers...), Topic: cfg.Topic, Transport: tr,
		Balancer:     kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return PartitionOf(m.Key, n) }),
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 2 * time.Millisecond, BatchSize: 1000, BatchBytes: int64(layout.matchBatch), WriteTimeout: cfg.WriteTimeout,
		MaxAttempts: 1, // publish retries, without limit
	}
	return p, nil
}

// Partitions is the number of partitions of the match topic (and of the changelog).
func (p *Publisher) Partitions() int { return p.n }

// Config is the configuration in use, defaults filled in.
func (p *Publisher) Config() KafkaConfig { return p.cfg }

// Correlate implements vigil.Correlator: it publishes the match records of alerts and returns no alerts.
//
// The records of a batch are published in event-time order. The pipeline's alerts are in no particular order within
// a batch (rule workers), which the in-process engine does not mind: it adds a whole batch before it advances. A
// stage's batches need not end where the pipeline's did, and a record behind one of its batch's newest by more than
// allowed_lateness would then be late there and counted in-process.
func (p *Publisher) Correlate(ctx context.Context, alerts []*vigil.Alert) ([]*vigil.Alert, error) {
	var recs []Record
	for _, a := range alerts {
		recs = p.e.Records(a, recs)
	}
	slices.SortStableFunc(recs, func(a, b Record) int { return a.Time.Compare(b.Time) })
	return nil, p.publish(ctx, recs)
}

// Flush implements vigil.Correlator. Open windows are the stage's: nothing is decided at the end of a source.
func (p *Publisher) Flush(context.Context) ([]*vigil.Alert, error) { return nil, nil }

// publish writes the records to the match topic and returns once the brokers have acknowledged all of them. A failed
// write is retried with backoff until ctx ends.
func (p *Publisher) publish(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	now := time.Now()
	msgs := make([]kafka.Message, len(recs))
	for i := range recs {
		msgs[i] = kafka.Message{Key: recs[i].Key(), Value: recs[i].AppendBinary(nil), Time: now}
	}
	return writeRetrying(ctx, p.w, msgs, &p.Published, &p.Retries, p.log, "match records")
}

// writeRetrying writes msgs with w, retrying what failed with backoff until ctx ends; written counts the messages
// acknowledged, retries the failed attempts.
func writeRetrying(ctx context.Context, w *kafka.Writer, msgs []kafka.Message, written, retries *atomic.Int64,
	log *slog.Logger, what string) error {
	for attempt := 0; ; attempt++ {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			written.Add(int64(len(msgs)))
			return nil
		}
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(msgs) { // retry only what failed, in order
			failed := msgs[:0:0]
			for i, e := range werrs {
				if e != nil {
					failed = append(failed, msgs[i])
					err = e // one error stands for all
				}
			}
			written.Add(int64(len(msgs) - len(failed)))
			msgs = failed
		}
		delay := min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
		if ctx.Err() != nil {
			return fmt.Errorf("write %d %s to %s: %w", len(msgs), what, w.Topic, err)
		}
		retries.Add(1)
		log.Warn("correlation: write failed; retrying", "what", what, "records", len(msgs), "attempt", attempt+1,
			"retry_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("write %d %s to %s: %w", len(msgs), what, w.Topic, err)
		case <-time.After(delay):
		}
	}
}

// Close flushes and closes the writer.
func (p *Publisher) Close() error {
	err := p.w.Close()
	p.tr.CloseIdleConnections()
	return err
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
)

// Kafka is a Source that reads topics as a member of a Kafka consumer group, at least once (DESIGN.md section 7).
//
// # Why kafka-go's ConsumerGroup and not its group Reader
//
// kafka-go's Reader with a GroupID hides the group's generations: it has no callback when partitions are revoked,
// commits through whatever generation is current when CommitMessages is called, and can hand out messages fetched
// before a rebalance after it (kafka-go issues #1398, #1308, #1023). A consumer that processes several batches
// concurrently could then commit, under the new generation, offsets of a partition that another member now owns.
// Kafka is therefore built on the lower-level kafka.ConsumerGroup: each Generation says exactly which partitions this
// member owns and gives CommitOffsets bound to that generation; one partition-mode kafka.Reader per assigned
// partition does the fetching (leader discovery, reconnects, fetch tuning), started with Generation.Start so that the
// group cannot rejoin before they stop.
//
// # Commit tracking
//
// Each generation has its own offsetTracker. Read hands out batches in offset order per partition and registers,
// per partition, the offset after the batch's last record. The batch's ack (called by the pipeline once every alert
// from it is stored or dead-lettered) marks that span done; the tracker offers for commit only the end of the
// contiguous done prefix of each partition, so a commit never passes a record still in flight, and commits per
// partition only grow. Commits are made by one goroutine per generation, started with Generation.Start: kafka-go does
// not rejoin the group (and so cannot be assigned new partitions, nor can another member get ours) until it returns.
// When the generation ends (a rebalance), that goroutine closes the generation for new batches, drops records still
// buffered, waits up to RevokeTimeout for the batches in flight to be acked and commits them, then exits. An ack that
// comes later finds the generation dead and commits nothing: a partition lost in a rebalance is never committed by
// its old owner; its new owner reads those records again, and deterministic alert ids make the repeat harmless.
//
// A failed commit is retried with backoff while the generation lives (the ack waits: backpressure); errors that
// mean the generation is over end the retries. Offsets not committed are read again: duplicates, never loss.
//
// # Records
//
// Every record becomes an event: decoded in its topic's format (package formats: JSON by default, syslog, CEF...), or
// marked invalid with the reason when it is over MaxRecordBytes ("oversize"), cannot be decoded ("decode": not a JSON
// object, or empty), or has no known tenant ("tenant"); the pipeline
// dead-letters invalid events, and they count as handled, so a bad record never blocks its partition.
type Kafka struct {
	name      string
	cfg       KafkaConfig
	log       *slog.Logger
	dialer    *kafka.Dialer
	transport *kafka.Transport
	group     *kafka.ConsumerGroup
	dec       *KafkaDecoder // records to events, shared with the other readers of the topics (vigil hunt)

	records chan record
	carry   *record // the first record of the next batch, when it came from a newer generation

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	mu      sync.Mutex
	current *generation
	lagNow  chan struct{} // a new generation asks the lag monitor to read the end offsets at once

	// Stats counts the source's work; safe to read while it runs.
	Stats KafkaStats
}

// KafkaStats are a Kafka source's counters.
type KafkaStats struct {
	Records      atomic.Int64 // records fetched
	Invalid      atomic.Int64 // records marked invalid, to be dead-lettered
	Dropped      atomic.Int64 // buffered records dropped at a rebalance (read again by the partition's owner)
	Generations  atomic.Int64 // group generations joined: the first join, then one per rebalance
	GroupErrors  atomic.Int64 // failures to join the group (retried)
	Commits      atomic.Int64 // offset commits accepted
	CommitErrors atomic.Int64 // offset commits refused or failed
	LateAcks     atomic.Int64 // acks after their generation ended: not committed, the records are read again
}

// KafkaOptions are a Kafka source's collaborators.
type KafkaOptions struct {
	// Tenants are the known tenants; the tenant header of a multi-tenant topic must name one of them.
	Tenants []string
	// Logger receives group membership changes, commit failures and connection problems; nil discards them.
	Logger *slog.Logger
	// Registerer receives the source's metrics when set (see kafka_metrics.go).
	Registerer prometheus.Registerer
}

// record is one fetched record on its way to Read.
type record struct {
	gen *generation
	ev  *vigil.Event
}

// NewKafka validates cfg, checks within the connect timeout that the brokers are reachable, that authentication
// succeeds and that every topic exists (so a wrong password fails here, not in a background retry loop), and joins
// the consumer group. Records flow once the group has assigned partitions.
func NewKafka(ctx context.Context, name string, cfg KafkaConfig, opts KafkaOptions) (*Kafka, error) {
	cfg.setDefaults()
	if err := errors.Join(cfg.Validate(), cfg.CheckTenants(opts.Tenants)); err != nil {
		return nil, fmt.Errorf("kafka source %s: %w", name, err)
	}
	k := &Kafka{name: name, cfg: cfg, log: opts.Logger, records: make(chan record, cfg.BatchSize),
		lagNow: make(chan struct{}, 1)}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	k.log = k.log.With("source", name)
	var topics []string
	for _, t := range cfg.Topics {
		topics = append(topics, t.Name)
	}
	var err error
	if k.dec, err = NewKafkaDecoder(name, cfg, opts.Tenants); err != nil {
		return nil, fmt.Errorf("kafka source %s: %w", name, err)
	}
	if k.dialer, err = cfg.Dialer(); err != nil {
		return nil, fmt.Errorf("kafka source %s: %w", name, err)
	}
	if k.transport, err = cfg.Transport(); err != nil {
		return nil, fmt.Errorf("kafka source %s: %w", name, err)
	}
	if err := cfg.Check(ctx, topics...); err != nil {
		return nil, fmt.Errorf("kafka source %s: %w", name, err)
	}
	start := kafka.FirstOffset
	if cfg.StartOffset == StartLatest {
		start = kafka.LastOffset
	}
	k.group, err = kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: cfg.GroupID, Brokers: cfg.Brokers, Dialer: k.dialer, Topics: topics, StartOffset: start,
		HeartbeatInterval: cfg.HeartbeatInterval, SessionTimeout: cfg.SessionTimeout,
		RebalanceTimeout: cfg.RebalanceTimeout, JoinGroupBackoff: time.Second, Timeout: cfg.ConnectTimeout,
		WatchPartitionChanges: true, PartitionWatchInterval: 10 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("kafka source %s: %w", name, err)
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(newKafkaCollector(k)); err != nil {
			k.group.Close()
			return nil, fmt.Errorf("kafka source %s: metrics: %w", name, err)
		}
	}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	k.wg.Add(2)
	go k.runGroup()
	go k.watchLag()
	return k, nil
}

// event turns a record into an event: decoded, or marked invalid with the reason.
func (k *Kafka) event(m kafka.Message) *vigil.Event {
	ev := k.dec.Event(m)
	if ev.Invalid != "" {
		k.Stats.Invalid.Add(1)
	}
	return ev
}

// Read implements vigil.Source. It waits for a first record, then gathers what else arrives within BatchWait, up to
// BatchSize records, all from one generation. Read must not be called concurrently. After Close it returns io.EOF.
func (k *Kafka) Read(ctx context.Context) ([]*vigil.Event, vigil.AckFunc, error) {
	for {
		first, err := k.first(ctx)
		if err != nil {
			return nil, nil, err
		}
		events := k.fill(ctx, first)
		if b := first.gen.handOut(events); b != nil {
			return events, b.ack, nil
		}
		k.Stats.Dropped.Add(int64(len(events))) // the generation ended while the batch was gathered
	}
}

// first returns the next record of a live generation.
func (k *Kafka) first(ctx context.Context) (record, error) {
	if c := k.carry; c != nil {
		k.carry = nil
		if !c.gen.isClosed() {
			return *c, nil
		}
		k.Stats.Dropped.Add(1)
	}
	for {
		select {
		case r := <-k.records:
			if !r.gen.isClosed() {
				return r, nil
			}
			k.Stats.Dropped.Add(1)
		case <-ctx.Done():
			return record{}, ctx.Err()
		case <-k.ctx.Done():
			return record{}, io.EOF
		}
	}
}

// fill gathers the rest of a batch after its first record.
func (k *Kafka) fill(ctx context.Context, first record) []*vigil.Event {
	events := make([]*vigil.Event, 1, k.cfg.BatchSize)
	events[0] = first.ev
	timer := time.NewTimer(k.cfg.BatchWait)
	defer timer.Stop()
	for len(events) < k.cfg.BatchSize {
		select {
		case r := <-k.records:
			if r.gen != first.gen {
				k.carry = &r
				return events
			}
			events = append(events, r.ev)
		case <-timer.C:
			return events
		case <-ctx.Done():
			return events
		}
	}
	return events
}

// Lag returns the position of every partition this member owns, sorted by topic and partition; nil between
// generations. Right after a rebalance a partition's end offset (and, for a group that never committed it, its
// start) may not be known yet: its Lag is then -1, which is "unknown", not a number to add up. The end offsets are
// read as soon as a generation starts, and then every lag_interval.
func (k *Kafka) Lag() []PartitionLag {
	k.mu.Lock()
	g := k.current
	k.mu.Unlock()
	if g == nil {
		return nil
	}
	return g.tracker.lags()
}

// Close leaves the group and stops fetching. Batches not yet acked are not committed: the group reads them again.
// Call it after the pipeline has finished, so that its last acks are committed first.
func (k *Kafka) Close() error {
	if k.closed.Swap(true) {
		return nil
	}
	k.cancel()
	err := k.group.Close()
	k.wg.Wait()
	k.transport.CloseIdleConnections()
	return err
}

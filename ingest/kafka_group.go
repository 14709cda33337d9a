package ingest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
)

// This file holds a Kafka source's consumer-group side: one generation at a time, its partition fetchers, its
// committer and its revocation (see the Kafka doc comment).

// runGroup takes each generation of the group in turn; kafka-go only offers the next one after the previous one's
// goroutines (fetchers and committer) have all returned.
func (k *Kafka) runGroup() {
	defer k.wg.Done()
	for {
		gen, err := k.group.Next(k.ctx)
		if err != nil {
			if k.ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			k.Stats.GroupErrors.Add(1)
			k.log.Warn("kafka: joining the consumer group failed; retrying", "group", k.cfg.GroupID,
				"err", k.cfg.Explain(err))
			continue
		}
		k.startGeneration(gen)
	}
}

func (k *Kafka) startGeneration(gen *kafka.Generation) {
	g := &generation{k: k, gen: gen, tracker: newOffsetTracker(), commitc: make(chan chan error),
		dead: make(chan struct{}), released: make(chan struct{}, 1)}
	var owned []string
	for topic, parts := range gen.Assignments {
		for _, pa := range parts {
			g.tracker.assign(topicPartition{topic, pa.ID}, pa.Offset)
			owned = append(owned, topic+"/"+strconv.Itoa(pa.ID))
		}
	}
	sort.Strings(owned)
	k.Stats.Generations.Add(1)
	k.mu.Lock()
	k.current = g
	k.mu.Unlock()
	select { // the new partitions' end offsets now, not a lag_interval later
	case k.lagNow <- struct{}{}:
	default:
	}
	k.log.Info("kafka: joined consumer group", "group", gen.GroupID, "generation", gen.ID,
		"member", gen.MemberID, "partitions", strings.Join(owned, " "))
	gen.Start(g.commitLoop)
	for topic, parts := range gen.Assignments {
		for _, pa := range parts {
			gen.Start(func(ctx context.Context) { k.fetch(ctx, g, topic, pa) })
		}
	}
}

// fetch reads one assigned partition until the generation ends, turning each record into an event.
func (k *Kafka) fetch(ctx context.Context, g *generation, topic string, pa kafka.PartitionAssignment) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: k.cfg.Brokers, Topic: topic, Partition: pa.ID, Dialer: k.dialer,
		MinBytes: k.cfg.FetchMinBytes, MaxBytes: k.cfg.FetchMaxBytes, MaxWait: k.cfg.FetchMaxWait,
		QueueCapacity: k.cfg.QueueCapacity, ReadBatchTimeout: 10 * time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			k.log.Warn("kafka: fetch: "+fmt.Sprintf(msg, args...), "topic", topic, "partition", pa.ID)
		}),
	})
	defer r.Close()
	if err := r.SetOffset(pa.Offset); err != nil {
		k.log.Error("kafka: set offset", "topic", topic, "partition", pa.ID, "err", err)
		return
	}
	tp := topicPartition{topic, pa.ID}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			k.log.Warn("kafka: fetch failed; retrying", "topic", topic, "partition", pa.ID, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		g.tracker.fetchedUpTo(tp, m.Offset, m.Offset+1+r.Lag())
		k.Stats.Records.Add(1)
		select {
		case k.records <- record{gen: g, ev: k.event(m)}:
		case <-ctx.Done():
			return
		}
	}
}

// generation is one consumer-group generation of a Kafka source: the partitions it owns, their offset tracker, and
// the goroutine that commits for it.
type generation struct {
	k        *Kafka
	gen      *kafka.Generation
	tracker  *offsetTracker
	commitc  chan chan error // commit requests from acks, served by commitLoop
	dead     chan struct{}   // closed when commitLoop has returned: nothing is committed for this generation any more
	released chan struct{}   // signalled when an outstanding batch is acked

	mu          sync.Mutex
	closed      bool // no more batches are handed out
	outstanding int  // batches handed out and not yet acked
}

// kafkaBatch is one batch handed out by Read: per partition, the offset after its last record.
type kafkaBatch struct {
	gen  *generation
	ends map[topicPartition]int64
}

func (g *generation) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// handOut registers a batch, or returns nil when the generation has ended (the batch must then be dropped).
func (g *generation) handOut(events []*vigil.Event) *kafkaBatch {
	ends := make(map[topicPartition]int64, 4)
	for _, ev := range events {
		ends[topicPartition{ev.Origin.Topic, ev.Origin.Partition}] = ev.Origin.Offset + 1
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.outstanding++
	for tp, next := range ends {
		g.tracker.add(tp, next)
	}
	return &kafkaBatch{gen: g, ends: ends}
}

// ack is the batch's vigil.AckFunc: it marks the batch done and commits what became committable, if the
// generation is still alive.
func (b *kafkaBatch) ack(ctx context.Context) error {
	g := b.gen
	defer g.release()
	for tp, next := range b.ends {
		g.tracker.complete(tp, next)
	}
	done := make(chan error, 1)
	select {
	case g.commitc <- done:
	case <-g.dead:
		g.k.Stats.LateAcks.Add(1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *generation) release() {
	g.mu.Lock()
	g.outstanding--
	g.mu.Unlock()
	select {
	case g.released <- struct{}{}:
	default:
	}
}

// commitLoop serves commit requests while the generation lives, then revokes it. It runs under Generation.Start,
// so kafka-go does not rejoin the group before it returns.
func (g *generation) commitLoop(ctx context.Context) {
	defer close(g.dead)
	for {
		select {
		case done := <-g.commitc:
			g.commit(ctx)
			done <- nil
		case <-ctx.Done():
			g.revoke(ctx)
			return
		}
	}
}

// revoke ends the generation: no more batches are handed out, and the batches in flight get up to RevokeTimeout
// (none when the source is closing) to be acked and committed before the partitions are given up.
func (g *generation) revoke(ctx context.Context) {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.k.mu.Lock()
	if g.k.current == g {
		g.k.current = nil
	}
	g.k.mu.Unlock()
	wait := g.k.cfg.RevokeTimeout
	if g.k.closed.Load() {
		wait = 0
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for g.inFlight() > 0 {
		select {
		case done := <-g.commitc:
			g.commit(ctx) // ctx is done: one attempt, retrying cannot help once the generation is over
			done <- nil
		case <-g.released:
		case <-timer.C:
			g.k.log.Warn("kafka: partitions revoked with batches still in flight; their records will be read again",
				"generation", g.gen.ID, "batches", g.inFlight())
			return
		}
	}
	g.commit(ctx)
	g.k.log.Info("kafka: consumer group generation ended", "generation", g.gen.ID)
}

func (g *generation) inFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.outstanding
}

// commit commits the tracker's committable offsets. While ctx (the generation) lives, a failure is retried with
// backoff; once the generation is over, or the coordinator says so, the offsets are left uncommitted.
func (g *generation) commit(ctx context.Context) {
	for attempt := 0; ; attempt++ {
		offsets := g.tracker.committable()
		if offsets == nil {
			return
		}
		err := g.gen.CommitOffsets(offsets)
		if err == nil {
			g.tracker.committed(offsets)
			g.k.Stats.Commits.Add(1)
			return
		}
		g.k.Stats.CommitErrors.Add(1)
		if generationOver(err) || ctx.Err() != nil {
			g.k.log.Warn("kafka: offsets not committed, the generation is over; the records will be read again",
				"generation", g.gen.ID, "err", err)
			return
		}
		g.k.log.Warn("kafka: commit offsets failed; retrying", "generation", g.gen.ID, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)):
		}
	}
}

// generationOver reports whether a commit error means this member's generation is no longer valid.
func generationOver(err error) bool {
	return errors.Is(err, kafka.RebalanceInProgress) || errors.Is(err, kafka.IllegalGeneration) ||
		errors.Is(err, kafka.UnknownMemberId) || errors.Is(err, kafka.FencedInstanceID)
}

// watchLag reads the owned partitions' end offsets every LagInterval, so lag stays true while fetching is paused
// by backpressure, and at once when a generation starts, so that the partitions of a rebalance do not show an
// unknown lag for a whole interval.
func (k *Kafka) watchLag() {
	defer k.wg.Done()
	client := &kafka.Client{Addr: kafka.TCP(k.cfg.Brokers...), Transport: k.transport, Timeout: k.cfg.ConnectTimeout}
	tick := time.NewTicker(k.cfg.LagInterval)
	defer tick.Stop()
	for {
		select {
		case <-k.ctx.Done():
			return
		case <-tick.C:
		case <-k.lagNow:
		}
		k.mu.Lock()
		g := k.current
		k.mu.Unlock()
		if g == nil {
			continue
		}
		req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
		for _, l := range g.tracker.lags() {
			req.Topics[l.Topic] = append(req.Topics[l.Topic], kafka.LastOffsetOf(l.Partition))
		}
		if len(req.Topics) == 0 {
			continue
		}
		res, err := client.ListOffsets(k.ctx, req)
		if err != nil {
			k.log.Debug("kafka: read end offsets", "err", err)
			continue
		}
		for topic, parts := range res.Topics {
			for _, p := range parts {
				if p.Error == nil {
					g.tracker.setEnd(topicPartition{topic, p.Partition}, p.LastOffset)
				}
			}
		}
	}
}

package correlate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
)

// stagePartition is what metrics and readiness see of one partition the stage owns; its goroutine updates it.
type stagePartition struct {
	id        int
	restoring atomic.Bool
	// watermark is the lowest tenant watermark of the partition (Unix nanoseconds), math.MinInt64 while it has none.
	watermark  atomic.Int64
	stateBytes atomic.Int64 // estimated size of the partition's state
	groups     atomic.Int64 // open groups of the partition
}

// partitionRun is one assigned partition during one generation: restore, then batches until the generation ends.
type partitionRun struct {
	s       *Stage
	decoder Decoder // this partition's: its records name the same few tenants and rules
	gen     *kafka.Generation
	commits *sync.Mutex
	pa      kafka.PartitionAssignment
	fail    func(error)
	sp      *stagePartition
	p       *Partition

	observed time.Time // when the state size was last estimated
}

// errGenerationOver says a commit was refused because this member's generation is over.
var errGenerationOver = errors.New("the consumer group generation is over")

// stateSizeInterval is how long to wait before estimating again the state size of a partition of groups groups: the
// estimate walks every group (about 20 ns each), so it is repeated after a thousand times that, at most every 30 s.
func stateSizeInterval(groups int64) time.Duration {
	return min(time.Duration(groups)*20*time.Microsecond, 30*time.Second)
}

func (r *partitionRun) run(gctx, runCtx, workCtx context.Context) {
	log := r.s.log.With("partition", r.pa.ID, "generation", r.gen.ID)
	p, err := r.restore(gctx, log)
	if err != nil {
		return // the generation ended first
	}
	r.p = p
	defer func() {
		p.release() // the next owner restores it from the changelog
		r.sp.groups.Store(0)
		r.sp.stateBytes.Store(0)
	}()
	r.observe(true)
	r.sp.restoring.Store(false)
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers: r.s.cfg.Kafka.Brokers, Topic: r.s.cfg.Topic, Partition: r.pa.ID, Dialer: r.s.dialer,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: r.s.cfg.BatchSize,
		ReadBatchTimeout: 10 * time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Warn("correlation stage: fetch: " + fmt.Sprintf(msg, args...))
		}),
	})
	defer reader.Close()
	offset := r.pa.Offset
	if applied, ok := r.p.Resume(); ok && applied > offset {
		offset = applied // the records from the committed offset to here are in the restored state already
	}
	if err := reader.SetOffset(offset); err != nil {
		r.fail(fmt.Errorf("correlation stage: partition %d: set offset %d: %w", r.pa.ID, offset, err))
		return
	}
	for {
		msgs := r.fetch(gctx, reader, log)
		if len(msgs) == 0 && gctx.Err() != nil {
			return
		}
		ctx, done := r.batchContext(gctx, runCtx, workCtx)
		err := r.step(ctx, msgs)
		aborted := ctx.Err() != nil
		done()
		switch {
		case errors.Is(err, errGenerationOver):
			log.Warn("correlation stage: offsets not committed, the generation is over; "+
				"the partition's next owner processes the records again", "err", err)
			return
		case err != nil && aborted:
			r.s.Stats.Abandoned.Add(1)
			log.Warn("correlation stage: batch abandoned at a rebalance or shutdown; its records will be processed again",
				"records", len(msgs), "err", err)
			return
		case err != nil:
			r.fail(fmt.Errorf("correlation stage: partition %d: %w", r.pa.ID, err))
			return
		}
		if gctx.Err() != nil {
			return
		}
	}
}

// restore builds the partition's state from its changelog partition, retrying with backoff until it succeeds or the
// generation ends. A record that cannot be restored is logged and counted, and the rest restored.
func (r *partitionRun) restore(gctx context.Context, log *slog.Logger) (*Partition, error) {
	route := func(rec *Record) bool { return PartitionOf(rec.Key(), r.s.pub.n) == r.pa.ID }
	for attempt := 0; ; attempt++ {
		p := r.s.e.NewPartition(route)
		start := time.Now()
		bad := 0
		n, err := r.s.cl.restore(gctx, r.pa.ID, func(rec StateRecord) error {
			if err := p.Restore(rec); err != nil {
				if bad == 0 {
					log.Error("correlation stage: a state record cannot be restored; that group's state is lost",
						"key", fmt.Sprintf("%q", rec.Key), "err", err)
				}
				bad++
				r.s.Stats.RestoreErrors.Add(1)
			}
			return nil
		})
		if err == nil {
			r.s.Stats.Restores.Add(1)
			r.s.Stats.RestoredRecords.Add(int64(n))
			log.Info("correlation stage: partition restored", "records", n, "groups", len(p.groups),
				"unrestorable", bad, "offset", r.pa.Offset, "took", time.Since(start).Round(time.Millisecond).String())
			return p, nil
		}
		p.release()
		if gctx.Err() != nil {
			return nil, gctx.Err()
		}
		delay := min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
		log.Warn("correlation stage: restore failed; retrying", "attempt", attempt+1, "retry_in", delay, "err", err)
		select {
		case <-gctx.Done():
			return nil, gctx.Err()
		case <-time.After(delay):
		}
	}
}

// fetch returns the next batch: it waits up to IdleInterval for a first record (nothing: an idle step), then up to
// BatchWait for more, up to BatchSize.
func (r *partitionRun) fetch(gctx context.Context, reader *kafka.Reader, log *slog.Logger) []kafka.Message {
	ctx, cancel := context.WithTimeout(gctx, r.s.opts.IdleInterval)
	m, err := reader.FetchMessage(ctx)
	cancel()
	if err != nil {
		if gctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			log.Warn("correlation stage: fetch failed; retrying", "err", err)
			select {
			case <-gctx.Done():
			case <-time.After(time.Second):
			}
		}
		return nil
	}
	msgs := []kafka.Message{m}
	ctx, cancel = context.WithTimeout(gctx, r.s.opts.BatchWait)
	defer cancel()
	for len(msgs) < r.s.cfg.BatchSize {
		m, err := reader.FetchMessage(ctx)
		if err != nil {
			break
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// batchContext is the context of one batch: it lives through the end of the generation, for RevokeTimeout more when
// the generation ends in a rebalance, and for the stage's drain when the stage stops.
func (r *partitionRun) batchContext(gctx, runCtx, workCtx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(workCtx)
	var mu sync.Mutex
	var timer *time.Timer
	stop := context.AfterFunc(gctx, func() {
		if runCtx.Err() != nil {
			return // the stage is stopping: DrainTimeout bounds the batch
		}
		mu.Lock()
		timer = time.AfterFunc(r.s.cfg.RevokeTimeout, cancel)
		mu.Unlock()
	})
	return ctx, func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// step processes one batch (or, with no records, an idle advance): state, alerts, chained records and dead letters,
// checkpoint, commit.
func (r *partitionRun) step(ctx context.Context, msgs []kafka.Message) error {
	var letters []vigil.DeadLetter
	if len(msgs) > 0 {
		recs := make([]Record, 0, len(msgs))
		for _, m := range msgs {
			var rec Record
			if err := r.decoder.Decode(m.Value, &rec); err != nil {
				letters = append(letters, vigil.DeadLetter{Kind: "event", Reason: "decode", Detail: err.Error(),
					Payload: m.Value, Origin: vigil.Origin{Source: "correlation", Topic: m.Topic, Partition: m.Partition,
						Offset: m.Offset, Time: m.Time}})
				continue
			}
			recs = append(recs, rec)
		}
		for i := range recs {
			r.p.Add(&recs[i])
		}
		r.p.MarkApplied(msgs[len(msgs)-1].Offset + 1)
		r.s.Stats.Records.Add(int64(len(msgs)))
		r.s.Stats.Undecodable.Add(int64(len(letters)))
	}
	alerts, chains := r.p.Advance()
	if err := r.s.emit(ctx, alerts, chains, letters); err != nil {
		return err
	}
	if err := r.checkpoint(ctx); err != nil {
		return err
	}
	r.observe(false)
	if len(msgs) == 0 {
		return nil
	}
	return r.commit(ctx, msgs[len(msgs)-1].Offset+1)
}

// emit writes the alerts that are not internal (enriched first), publishes the chained records that belong to other
// partitions and parks the dead letters; it returns once all of them are stored.
func (s *Stage) emit(ctx context.Context, alerts []*vigil.Alert, chains []Record, letters []vigil.DeadLetter) error {
	kept := alerts[:0]
	for _, a := range alerts {
		if a.Internal {
			continue
		}
		if !a.Enriched {
			s.enrich(ctx, a)
		}
		kept = append(kept, a)
	}
	if len(kept) > 0 {
		if err := s.opts.Sink.Write(ctx, kept); err != nil {
			return fmt.Errorf("write alerts: %w", err)
		}
		s.Stats.AlertsWritten.Add(int64(len(kept)))
	}
	if len(chains) > 0 {
		if err := s.pub.publish(ctx, chains); err != nil {
			return fmt.Errorf("publish chained records: %w", err)
		}
		s.Stats.ChainsPublished.Add(int64(len(chains)))
	}
	if len(letters) > 0 {
		if s.opts.DeadLetters == nil {
			return fmt.Errorf("%d undecodable match records and no dead-letter queue configured", len(letters))
		}
		if err := s.opts.DeadLetters.Park(ctx, letters); err != nil {
			return fmt.Errorf("park undecodable match records: %w", err)
		}
	}
	return nil
}

// checkpoint writes the state changed since the last checkpoint to the partition's changelog partition.
func (r *partitionRun) checkpoint(ctx context.Context) error {
	recs := r.p.Checkpoint()
	if len(recs) == 0 {
		return nil
	}
	start := time.Now()
	if err := r.s.cl.write(ctx, r.pa.ID, recs); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	r.s.checkpoint.Observe(time.Since(start).Seconds())
	r.s.Stats.Checkpoints.Add(1)
	r.s.Stats.StateRecords.Add(int64(len(recs)))
	return nil
}

// commit commits next as the partition's offset, retrying with backoff while the generation lives.
func (r *partitionRun) commit(ctx context.Context, next int64) error {
	offsets := map[string]map[int]int64{r.s.cfg.Topic: {r.pa.ID: next}}
	for attempt := 0; ; attempt++ {
		r.commits.Lock()
		err := r.gen.CommitOffsets(offsets)
		r.commits.Unlock()
		if err == nil {
			r.s.Stats.Commits.Add(1)
			return nil
		}
		r.s.Stats.CommitErrors.Add(1)
		if generationOver(err) {
			return fmt.Errorf("%w: %w", errGenerationOver, err)
		}
		delay := min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
		if ctx.Err() != nil {
			return fmt.Errorf("commit offset %d: %w", next, err)
		}
		r.s.log.Warn("correlation stage: commit failed; retrying", "partition", r.pa.ID, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("commit offset %d: %w", next, err)
		case <-time.After(delay):
		}
	}
}

// observe publishes the partition's watermark, and now and then (see stateSizeInterval) its state size.
func (r *partitionRun) observe(force bool) {
	r.sp.watermark.Store(r.p.lowWatermark())
	if force || time.Since(r.observed) >= stateSizeInterval(r.sp.groups.Load()) {
		r.observed = time.Now()
		groups, size := r.p.stateSize()
		r.sp.groups.Store(int64(groups))
		r.sp.stateBytes.Store(size)
	}
}

// The Partition methods below read the engine's state for the stage; they live here so that the stage's needs stay
// in its own files.

// release gives the partition up: its groups stop counting toward the engine's open groups and toward the bound of
// their correlation (MaxGroupsPerRule). The partition must not be used afterwards; its state lives on in the
// changelog.
func (p *Partition) release() {
	for _, g := range p.groups {
		g.corr.groups.Add(-1)
		p.e.Stats.Groups.Add(-1)
	}
	p.groups, p.streams = nil, nil
}

// stateSize estimates the memory the partition's state takes: per group its key, its matches (40 bytes each) and
// about 100 bytes of bookkeeping.
func (p *Partition) stateSize() (groups int, bytes int64) {
	for key, g := range p.groups {
		bytes += int64(len(key)+100) + 40*int64(len(g.ev))
	}
	return len(p.groups), bytes
}

// lowWatermark is the lowest watermark of the partition's tenants (Unix nanoseconds), math.MinInt64 when none has one.
func (p *Partition) lowWatermark() int64 {
	low := int64(math.MaxInt64)
	for _, s := range p.streams {
		if s.wm != math.MinInt64 {
			low = min(low, s.wm)
		}
	}
	if low == math.MaxInt64 {
		return math.MinInt64
	}
	return low
}

package correlate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
)

// Stage is the correlation stage (DESIGN.md section 10): a member of its own consumer group on the match topic that
// keeps the correlation state of the partitions it is assigned, one Partition each, and writes the correlation
// alerts they raise to the sink.
//
// # Order of work
//
// Each assigned partition is run by one goroutine of the group's generation (kafka-go ConsumerGroup, as the Kafka
// source does: a generation names exactly the partitions this member owns, and the group does not rejoin until the
// generation's goroutines have returned). The goroutine first restores the partition's state: it reads changelog
// partition N from its start to its end offset and hands every record to Partition.Restore, in order. Then, per
// batch of match records:
//
//  1. decode each record (an undecodable one is dead-lettered with reason "decode" and counted), Add it, and
//     Advance the partition;
//  2. enrich the correlation alerts that raised or grew (Internal ones are not written) and write them to the sink;
//     publish the chained records that belong to other partitions to the match topic; park the dead letters;
//  3. checkpoint: write Partition.Checkpoint's records to changelog partition N (acks=all);
//  4. commit the offset after the batch.
//
// A partition that gets nothing for IdleInterval still advances (idle_timeout then closes windows and absence fires),
// and writes and checkpoints what that gives. A crash at any step repeats work whose results are idempotent: alert
// ids are deterministic and Update alerts are rewritten; records applied and checkpointed but not committed are
// delivered again and counted once (same alert id in the group, or older than the restored watermark); chained
// records are published before the checkpoint that remembers they were, so none is lost.
//
// When the generation ends (a rebalance, or Run's context) the batch in progress is finished, checkpointed and
// committed, and the partition's state dropped: its next owner restores it from the changelog. During a rebalance a
// batch gets at most RevokeTimeout; one that takes longer (the sink is down) is abandoned without checkpoint or
// commit, and its records are processed again by the next owner.
type Stage struct {
	cfg  KafkaConfig
	e    *Engine
	pub  *Publisher
	cl   *changelog
	opts StageOptions
	log  *slog.Logger

	dialer *kafka.Dialer

	mu    sync.Mutex
	parts map[int]*stagePartition // the partitions of the current generation

	joined     atomic.Bool
	failOnce   sync.Once
	err        error
	checkpoint prometheus.Histogram

	// Stats count the stage's work; safe to read while it runs.
	Stats StageStats
}

// StageOptions are a Stage's collaborators and tuning.
type StageOptions struct {
	// Sink stores the correlation alerts; Enrichers add context to them first, each bounded by EnrichTimeout (0: no
	// bound), as the pipeline does.
	Sink          vigil.Sink
	Enrichers     []vigil.Enricher
	EnrichTimeout time.Duration
	// DeadLetters parks undecodable match records.
	DeadLetters vigil.DeadLetterQueue
	// DrainTimeout bounds how long the batches in progress may take once Run's context ends; 0 waits without limit.
	// Batches that do not finish are neither checkpointed nor committed, and are processed again after a restart.
	DrainTimeout time.Duration
	// IdleInterval is how often a partition that receives nothing advances by the clock; default 1s.
	IdleInterval time.Duration
	// BatchWait is how long a batch waits for more records once it has one; default 20ms.
	BatchWait time.Duration
	// Logger receives group membership, restores and retried failures; nil discards them.
	Logger *slog.Logger
}

// StageStats are the stage's counters.
type StageStats struct {
	Records         atomic.Int64 // match records consumed
	Undecodable     atomic.Int64 // match records that could not be decoded: dead-lettered
	AlertsWritten   atomic.Int64 // correlation alert versions written to the sink
	ChainsPublished atomic.Int64 // chained records published for other partitions
	Checkpoints     atomic.Int64 // checkpoints written (batches and idle advances that changed state)
	StateRecords    atomic.Int64 // state records written to the changelog
	Restores        atomic.Int64 // partitions restored from the changelog
	RestoredRecords atomic.Int64 // changelog records read by restores
	RestoreErrors   atomic.Int64 // changelog records that could not be restored (that group's state is lost)
	Commits         atomic.Int64 // offset commits accepted
	CommitErrors    atomic.Int64 // offset commits refused or failed
	Generations     atomic.Int64 // consumer-group generations joined
	GroupErrors     atomic.Int64 // failures to join the group (retried)
	Abandoned       atomic.Int64 // batches given up at a rebalance or shutdown: processed again by the next owner
}

// NewStage returns the correlation stage of the topics pub publishes to (and created), running pub's engine. Run
// starts it.
func NewStage(pub *Publisher, opts StageOptions) (*Stage, error) {
	if opts.Sink == nil {
		return nil, errors.New("correlation stage: no sink")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.IdleInterval <= 0 {
		opts.IdleInterval = time.Second
	}
	if opts.BatchWait <= 0 {
		opts.BatchWait = 20 * time.Millisecond
	}
	log := opts.Logger.With("component", "correlation stage", "group", pub.cfg.GroupID)
	cl, err := newChangelog(pub.cfg, pub.tr, pub.layout.changelogBatch, log)
	if err != nil {
		return nil, fmt.Errorf("correlation stage: %w", err)
	}
	s := &Stage{cfg: pub.cfg, e: pub.e, pub: pub, cl: cl, opts: opts, log: log, dialer: cl.dialer,
		parts: map[int]*stagePartition{},
		checkpoint: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_correlation_checkpoint_seconds",
			Help:    "Time one checkpoint took to be acknowledged by the changelog topic (acks=all).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
	}
	return s, nil
}

// Run joins the group and processes the assigned partitions until ctx ends or a batch fails for another reason
// than the end of its generation (a sink that returns an error). On cancellation it finishes the batches in
// progress (within DrainTimeout), checkpoints and commits them, and leaves the group. It returns nil after a clean
// stop and the first failure otherwise.
func (s *Stage) Run(ctx context.Context) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	if s.opts.DrainTimeout > 0 {
		after := context.AfterFunc(runCtx, func() { time.AfterFunc(s.opts.DrainTimeout, cancelWork) })
		defer after()
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: s.cfg.GroupID, Brokers: s.cfg.Kafka.Brokers, Dialer: s.dialer, Topics: []string{s.cfg.Topic},
		StartOffset: kafka.FirstOffset, HeartbeatInterval: s.cfg.HeartbeatInterval, SessionTimeout: s.cfg.SessionTimeout,
		RebalanceTimeout: s.cfg.RebalanceTimeout, JoinGroupBackoff: time.Second, Timeout: s.cfg.Kafka.ConnectTimeout,
	})
	if err != nil {
		return fmt.Errorf("correlation stage: %w", err)
	}
	fail := func(err error) {
		s.failOnce.Do(func() { s.err = err })
		stop()
	}
	for {
		gen, err := group.Next(runCtx)
		if err != nil {
			if runCtx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				break
			}
			s.Stats.GroupErrors.Add(1)
			s.log.Warn("correlation stage: joining the consumer group failed; retrying", "err", err)
			continue
		}
		s.startGeneration(runCtx, workCtx, gen, fail)
	}
	group.Close() // ends the generation: its partitions finish their batch, checkpoint, commit; then leaves the group
	return s.err
}

// startGeneration starts one goroutine per assigned partition, bound to the generation.
func (s *Stage) startGeneration(runCtx, workCtx context.Context, gen *kafka.Generation, fail func(error)) {
	s.Stats.Generations.Add(1)
	s.joined.Store(true)
	var ids []int
	var parts []kafka.PartitionAssignment
	for _, pa := range gen.Assignments[s.cfg.Topic] {
		ids = append(ids, pa.ID)
		parts = append(parts, pa)
	}
	slices.Sort(ids)
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = strconv.Itoa(id)
	}
	s.log.Info("correlation stage: joined consumer group", "generation", gen.ID, "member", gen.MemberID,
		"partitions", strings.Join(names, " "))
	commits := &sync.Mutex{} // one commit at a time on the generation's coordinator connection
	for _, pa := range parts {
		gen.Start(func(gctx context.Context) {
			run := &partitionRun{s: s, gen: gen, commits: commits, pa: pa, fail: fail,
				sp: &stagePartition{id: pa.ID}}
			run.sp.restoring.Store(true)
			run.sp.watermark.Store(math.MinInt64)
			s.track(run.sp, true)
			defer s.track(run.sp, false)
			run.run(gctx, runCtx, workCtx)
		})
	}
}

// track adds or removes a partition of the current generation, for metrics and readiness.
func (s *Stage) track(sp *stagePartition, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.parts[sp.id] = sp
	} else if s.parts[sp.id] == sp {
		delete(s.parts, sp.id)
	}
}

// partitions returns the partitions of the current generation, sorted.
func (s *Stage) partitions() []*stagePartition {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*stagePartition, 0, len(s.parts))
	for _, sp := range s.parts {
		out = append(out, sp)
	}
	slices.SortFunc(out, func(a, b *stagePartition) int { return a.id - b.id })
	return out
}

// Ready reports why the stage is not ready: before it first joined its group, and while partitions restore.
func (s *Stage) Ready() error {
	if !s.joined.Load() {
		return errors.New("not yet a member of the consumer group")
	}
	var restoring []string
	for _, sp := range s.partitions() {
		if sp.restoring.Load() {
			restoring = append(restoring, strconv.Itoa(sp.id))
		}
	}
	if len(restoring) > 0 {
		return fmt.Errorf("restoring the state of partitions %s", strings.Join(restoring, " "))
	}
	return nil
}

// Close releases the changelog writer. Call it after Run has returned.
func (s *Stage) Close() error { return s.cl.close() }

// enrich runs every enricher on a, as the pipeline does: one that fails or times out is recorded under
// vigil.enrichment.skipped.
func (s *Stage) enrich(ctx context.Context, a *vigil.Alert) {
	if len(s.opts.Enrichers) == 0 {
		return
	}
	if s.opts.EnrichTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.EnrichTimeout)
		defer cancel()
	}
	var skipped []any
	for _, e := range s.opts.Enrichers {
		if err := e.Enrich(ctx, a); err != nil {
			skipped = append(skipped, e.Name())
		}
	}
	if len(skipped) > 0 {
		vigil.Object(a.Doc, "vigil")["enrichment"] = map[string]any{"skipped": skipped}
	}
}

// generationOver reports whether a commit error means this member's generation is no longer valid.
func generationOver(err error) bool {
	return errors.Is(err, kafka.RebalanceInProgress) || errors.Is(err, kafka.IllegalGeneration) ||
		errors.Is(err, kafka.UnknownMemberId) || errors.Is(err, kafka.FencedInstanceID)
}

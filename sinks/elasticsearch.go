package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/vigilsoc/vigil"
)

// Elasticsearch indexes alerts into Elasticsearch or OpenSearch with the bulk API (docs/alerts.md).
//
// Every alert is written with the `create` operation, its deterministic id, into <prefix>-<tenant>-YYYY.MM.DD (the
// event's day, UTC, within EventTimeWindow: es_placement.go), so writing the same alert twice leaves one document: a
// 409 counts as stored. An Update alert
// (a correlation alert that grows) is written with `update` and an upsert instead (es_update.go): its first version
// is inserted whole, later ones replace the fields of its document but vigil.alert.status, and fields an analyst
// added survive; its Time must stay the same from version to version, or the versions land in different indices.
// Alerts the server asks to retry (429, 5xx, and an update's 409: a concurrent writer) and requests that fail as a
// whole (connection refused, timeouts, 429, 5xx) are retried with exponential backoff and no limit; alerts it
// rejects (a 400 mapping conflict) are parked in the dead-letter queue with the reason. A write block of the cluster
// (cluster_block_exception: index.blocks.write, the disk flood stage) is an operational state, not a verdict on the
// alert: blocked alerts are retried like a 429, with a warning and the sink unready until the block is lifted
// (es_health.go). Write returns only when each of its alerts is stored or parked, so while the cluster is down or
// blocked the pipeline stops reading.
//
// A fixed pool of workers sends the bulk requests. Alerts from concurrent Writes (several batches or pipelines) share
// requests: a worker sends once a request reaches FlushBytes or FlushInterval has passed.
type Elasticsearch struct {
	cfg    ElasticsearchConfig
	tp     esapi.Transport
	dlq    vigil.DeadLetterQueue
	log    *slog.Logger
	queue  chan []*bulkItem
	ctx    context.Context // cancelled by Close: stops the workers and their requests
	cancel context.CancelFunc
	wg     sync.WaitGroup
	now    func() time.Time // the clock; tests replace it

	health     sinkHealth
	outOfRange every // rate-limits the log line about alerts outside EventTimeWindow

	// Stats counts the sink's work; safe to read while it runs.
	Stats ElasticsearchStats
}

// ElasticsearchStats are the sink's counters.
type ElasticsearchStats struct {
	Requests      atomic.Int64 // bulk requests sent
	RequestErrors atomic.Int64 // bulk requests that failed as a whole (and were retried)
	Created       atomic.Int64 // alerts stored as new documents
	Updated       atomic.Int64 // versions of Update alerts that replaced an earlier version (200)
	Duplicates    atomic.Int64 // alerts that were already stored (409 to a create): retries and replays
	Retries       atomic.Int64 // alerts the server asked to retry (429, 5xx, an update's 409)
	DeadLettered  atomic.Int64 // alerts rejected by the server (or unindexable) and parked in the dead-letter queue
	Blocked       atomic.Int64 // alerts waiting now because the cluster blocks writes to their index (a gauge)
	OutOfRange    atomic.Int64 // alerts whose time was outside EventTimeWindow, indexed by their reference day

	blocks [numBlockKinds]atomic.Int64 // answers that were write blocks, by kind: BlockedTotals
}

// ErrSinkClosed is returned by Write after Close.
var ErrSinkClosed = errors.New("elasticsearch: sink closed")

// bulkItem is one alert on its way into the index.
type bulkItem struct {
	alert *vigil.Alert
	index string
	lines []byte // the action line and the document line, each ending in \n
	doc   []byte // the alert document, a part of lines: the payload of its dead letter
	// update: written with the `update` operation (vigil.Alert.Update), whose 409 means a concurrent writer.
	update bool
	op     *writeOp
	races  int // rejections for a dynamic mapping race so far (see mappingRace)
	// blocked: the last answer for this alert was a write block; counted in Stats.Blocked while set. Only the
	// worker sending the item touches it.
	blocked bool
}

// writeOp tracks one Write: how many of its alerts are still unsettled, and the dead letters so far.
type writeOp struct {
	ctx     context.Context
	mu      sync.Mutex
	pending int
	letters []vigil.DeadLetter
	done    chan struct{}
}

// settle marks one alert of the write as stored (letter nil) or rejected.
func (o *writeOp) settle(letter *vigil.DeadLetter) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if letter != nil {
		o.letters = append(o.letters, *letter)
	}
	o.pending--
	if o.pending == 0 {
		close(o.done)
	}
}

// NewElasticsearch connects to the cluster, installs or updates the index template (unless disabled), and starts
// the workers. Rejected alerts are parked in dlq. While the cluster cannot be reached, it retries until ctx is done.
// log may be nil.
func NewElasticsearch(ctx context.Context, cfg ElasticsearchConfig, dlq vigil.DeadLetterQueue, log *slog.Logger) (*Elasticsearch, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.SetDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tp, err := NewSearchTransport(cfg)
	if err != nil {
		return nil, err
	}
	s := &Elasticsearch{cfg: cfg, tp: tp, dlq: dlq, log: log, queue: make(chan []*bulkItem, cfg.Workers), now: time.Now}
	s.outOfRange.interval, s.health.blockLog.interval = time.Minute, time.Minute
	if *cfg.InstallTemplate {
		if err := s.installTemplates(ctx); err != nil {
			return nil, err
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range cfg.Workers {
		s.wg.Add(1)
		go s.worker()
	}
	return s, nil
}

// Write implements vigil.Sink. It returns nil once every alert is stored or parked in the dead-letter queue; an
// error (ctx done, the sink closed, the dead-letter queue failing) means the batch must not be acknowledged.
func (s *Elasticsearch) Write(ctx context.Context, alerts []*vigil.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	if s.ctx.Err() != nil {
		return ErrSinkClosed
	}
	s.health.begin(s.now())
	defer s.health.end()
	alerts = s.latestVersions(alerts)
	op := &writeOp{ctx: ctx, pending: len(alerts), done: make(chan struct{})}
	var group []*bulkItem
	size := 0
	for _, a := range alerts {
		it, letter := s.encode(a, op)
		if letter != nil {
			op.settle(letter)
			continue
		}
		if size > 0 && size+len(it.lines) > s.cfg.FlushBytes {
			if err := s.enqueue(ctx, group); err != nil {
				return err
			}
			group, size = nil, 0
		}
		group = append(group, it)
		size += len(it.lines)
	}
	if len(group) > 0 {
		if err := s.enqueue(ctx, group); err != nil {
			return err
		}
	}
	select {
	case <-op.done:
	case <-ctx.Done():
		return fmt.Errorf("elasticsearch: %w", ctx.Err())
	case <-s.ctx.Done():
		return ErrSinkClosed
	}
	return s.park(ctx, op.letters)
}

func (s *Elasticsearch) enqueue(ctx context.Context, group []*bulkItem) error {
	select {
	case s.queue <- group:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("elasticsearch: %w", ctx.Err())
	case <-s.ctx.Done():
		return ErrSinkClosed
	}
}

// park hands the rejected alerts to the dead-letter queue.
func (s *Elasticsearch) park(ctx context.Context, letters []vigil.DeadLetter) error {
	if len(letters) == 0 {
		return nil
	}
	if s.dlq == nil {
		return fmt.Errorf("elasticsearch: %d alerts rejected (first: %s) and no dead-letter queue configured", len(letters), letters[0].Detail)
	}
	if err := s.dlq.Park(ctx, letters); err != nil {
		return fmt.Errorf("elasticsearch: park %d rejected alerts: %w", len(letters), err)
	}
	s.Stats.DeadLettered.Add(int64(len(letters)))
	s.log.Warn("alerts rejected by the index, parked in the dead-letter queue", "count", len(letters),
		"first_reason", letters[0].Reason, "first_detail", letters[0].Detail)
	return nil
}

// encode makes the bulk lines of an alert, or the dead letter of an alert that cannot be indexed at all.
func (s *Elasticsearch) encode(a *vigil.Alert, op *writeOp) (*bulkItem, *vigil.DeadLetter) {
	if err := validateIndexPart(a.Tenant); err != nil {
		return nil, alertLetter(a, nil, "tenant", fmt.Sprintf("tenant cannot be part of an index name: %v", err))
	}
	if a.ID == "" {
		return nil, alertLetter(a, nil, "invalid", "alert has no id")
	}
	index, outOfRange := s.indexOf(a)
	doc := a.Doc
	if outOfRange {
		doc = markOutOfRange(doc, a.Time)
		if n := s.Stats.OutOfRange.Add(1); s.outOfRange.allow(s.now()) {
			s.log.Warn("alert time outside event_time_window: indexed by its reference day and marked vigil.alert.time_out_of_range",
				"tenant", a.Tenant, "rule", a.RuleID, "alert_time", a.Time, "index", index, "out_of_range_total", n)
		}
	}
	if a.Update {
		return encodeUpdate(a, doc, index, op)
	}
	var buf bytes.Buffer
	buf.WriteString(`{"create":{"_index":`)
	writeJSONString(&buf, index)
	buf.WriteString(`,"_id":`)
	writeJSONString(&buf, a.ID)
	buf.WriteString("}}\n")
	start := buf.Len()
	if err := newJSONEncoder(&buf).Encode(doc); err != nil {
		return nil, alertLetter(a, nil, "encode", fmt.Sprintf("alert document cannot be encoded: %v", err))
	}
	lines := buf.Bytes()
	return &bulkItem{alert: a, index: index, lines: lines, doc: lines[start : len(lines)-1], op: op}, nil
}

// newJSONEncoder encodes without escaping <, > and & (alerts are not embedded in HTML).
func newJSONEncoder(buf *bytes.Buffer) *json.Encoder {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	return enc
}

// IndexName is the daily index <prefix>-<tenant>-YYYY.MM.DD of day's UTC date. The sink passes the event's time,
// or, for an alert outside EventTimeWindow, its reference time (es_placement.go).
func IndexName(prefix, tenant string, day time.Time) string {
	return prefix + "-" + tenant + "-" + day.UTC().Format("2006.01.02")
}

func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // a string always encodes
	buf.Write(b)
}

// alertLetter makes the dead letter of a rejected alert: the reason, the detail, and the whole alert document.
func alertLetter(a *vigil.Alert, doc []byte, reason, detail string) *vigil.DeadLetter {
	if doc == nil {
		doc, _ = json.Marshal(a.Doc)
	}
	l := &vigil.DeadLetter{Kind: "alert", Reason: reason, Detail: detail, Payload: doc, Tenant: a.Tenant}
	if a.Event != nil {
		l.Origin = a.Event.Origin
	}
	return l
}

// worker collects queued alerts into bulk requests and sends them, until Close.
func (s *Elasticsearch) worker() {
	defer s.wg.Done()
	var carry []*bulkItem
	for {
		batch := carry
		carry = nil
		if batch == nil {
			select {
			case batch = <-s.queue:
			case <-s.ctx.Done():
				return
			}
		}
		batch, carry = s.gather(batch)
		s.send(batch)
	}
}

// gather adds queued groups to batch until it reaches FlushBytes or FlushInterval has passed; a group that would
// overflow the request is returned as carry, to start the next one.
func (s *Elasticsearch) gather(batch []*bulkItem) (full, carry []*bulkItem) {
	size := itemsSize(batch)
	var linger <-chan time.Time
	if d := *s.cfg.FlushInterval; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		linger = t.C
	}
	for size < s.cfg.FlushBytes {
		var g []*bulkItem
		if linger == nil {
			select {
			case g = <-s.queue:
			default:
				return batch, nil
			}
		} else {
			select {
			case g = <-s.queue:
			case <-linger:
				return batch, nil
			case <-s.ctx.Done():
				return batch, nil
			}
		}
		gs := itemsSize(g)
		if size+gs > s.cfg.FlushBytes {
			return batch, g
		}
		size += gs
		batch = append(batch, g...)
	}
	return batch, nil
}

func itemsSize(items []*bulkItem) int {
	n := 0
	for _, it := range items {
		n += len(it.lines)
	}
	return n
}

// sleep waits d, or returns false when the sink is closed first.
func (s *Elasticsearch) sleep(d time.Duration) bool { return sleepCtx(s.ctx, d) }

// backoff is the wait before retry number attempt+1: RetryInitialBackoff doubled per attempt, capped at
// RetryMaxBackoff, with jitter so that workers do not retry in lockstep.
func (s *Elasticsearch) backoff(attempt int) time.Duration {
	return backoff(s.cfg.RetryInitialBackoff, s.cfg.RetryMaxBackoff, attempt)
}

// Close stops the workers; Writes still waiting return ErrSinkClosed.
func (s *Elasticsearch) Close() error {
	s.cancel()
	s.wg.Wait()
	s.log.Info("elasticsearch sink closed", "requests", s.Stats.Requests.Load(), "created", s.Stats.Created.Load(),
		"updated", s.Stats.Updated.Load(), "duplicates", s.Stats.Duplicates.Load(), "retries", s.Stats.Retries.Load(),
		"dead_lettered", s.Stats.DeadLettered.Load(), "request_errors", s.Stats.RequestErrors.Load(),
		"out_of_range", s.Stats.OutOfRange.Load(), "blocked", s.Stats.BlockedTotals())
	return nil
}

package sinks

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// The sink's health, for readiness and the operator (docs/alerts.md, "Delivery"):
//
//   - Write blocks. Elasticsearch and OpenSearch refuse writes to an index with a cluster_block_exception while a
//     block is set on it: index.blocks.write or read_only by an administrator, read_only_allow_delete when a node
//     passed the disk flood-stage watermark (403, or 429 since Elasticsearch 7.x), or cluster-wide blocks (a cluster
//     without a master answers 503). None of these says anything about the alert, so blocked alerts are retried with
//     backoff and without limit, like a 429. While any alert waits behind a block, Stats.Blocked counts it, the sink
//     is not ready, and a warning is logged at most once a minute; a line at info says when none waits any more.
//   - Stalls. A sink with alerts waiting that has stored (or dead-lettered) none for StallTimeout is not ready: a
//     cluster that accepts connections and never answers, refuses every request, or answers 429 to everything. It
//     is ready again as soon as an alert is stored.

// blockKind says which kind of write block refused an alert: the label of vigil_elasticsearch_blocked_total.
type blockKind int

const (
	blockWrite            blockKind = iota // index.blocks.write
	blockReadOnly                          // index.blocks.read_only
	blockReadOnlyAllowDel                  // index.blocks.read_only_allow_delete: the disk flood stage, or set by hand
	blockClusterReadOnly                   // cluster.blocks.read_only or cluster.blocks.read_only_allow_delete
	blockUnavailable                       // no master, state not recovered
	blockOther                             // any other cluster_block_exception
	numBlockKinds
)

func (k blockKind) String() string {
	return [numBlockKinds]string{"write", "read_only", "read_only_allow_delete", "cluster_read_only", "unavailable", "other"}[k]
}

// clusterBlock returns the cluster_block_exception in e or its causes, or nil.
func clusterBlock(e *esError) *esError {
	for ; e != nil; e = e.CausedBy {
		if e.Type == "cluster_block_exception" {
			return e
		}
	}
	return nil
}

// requestBlock returns the cluster block that refused a whole request, or nil.
func requestBlock(err error) *esError {
	var se *statusError
	if errors.As(err, &se) {
		return clusterBlock(se.err)
	}
	return nil
}

// kindOf classifies a block by its reason, e.g. "index [x] blocked by: [FORBIDDEN/8/index write (api)];" or
// "... [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];".
func kindOf(e *esError) blockKind {
	r := e.Reason
	switch {
	case strings.Contains(r, "cluster read-only"):
		return blockClusterReadOnly
	case strings.Contains(r, "flood-stage") || strings.Contains(r, "allow delete") || strings.Contains(r, "allow-delete"):
		return blockReadOnlyAllowDel
	case strings.Contains(r, "index write"):
		return blockWrite
	case strings.Contains(r, "read-only"):
		return blockReadOnly
	case strings.Contains(r, "SERVICE_UNAVAILABLE") || strings.Contains(r, "no master") || strings.Contains(r, "not recovered"):
		return blockUnavailable
	}
	return blockOther
}

// BlockedTotals returns how many answers for alerts were write blocks, by kind (write, read_only,
// read_only_allow_delete, cluster_read_only, unavailable, other); kinds not seen are left out.
func (st *ElasticsearchStats) BlockedTotals() map[string]int64 {
	out := map[string]int64{}
	for k := range numBlockKinds {
		if n := st.blocks[k].Load(); n > 0 {
			out[k.String()] = n
		}
	}
	return out
}

// sinkHealth is what Ready looks at.
type sinkHealth struct {
	writes      atomic.Int64           // Writes waiting for their alerts
	since       atomic.Int64           // Unix ns: when an alert was last settled, or the sink last became busy
	lastErr     atomic.Pointer[string] // the last failure since the last alert settled
	lastBlock   atomic.Pointer[string] // the last block's error
	blockLog    every                  // rate-limits the warning about blocks
	blockWarned atomic.Bool            // a warning about a block was logged and its end was not
}

// begin and end bracket a Write. The first Write of a busy spell starts the stall clock.
func (h *sinkHealth) begin(now time.Time) {
	if h.writes.Add(1) == 1 {
		h.since.Store(now.UnixNano())
	}
}

func (h *sinkHealth) end() { h.writes.Add(-1) }

// progress records that alerts were settled at now.
func (h *sinkHealth) progress(now time.Time) {
	h.since.Store(now.UnixNano())
	h.lastErr.Store(nil)
}

// failed records why alerts wait.
func (h *sinkHealth) failed(msg string) { h.lastErr.Store(&msg) }

// Ready is the sink's readiness check: nil while it works. It fails while alerts wait behind a write block of the
// cluster, and while alerts have waited for StallTimeout without any being stored or dead-lettered. Safe to call
// from any goroutine; it does no I/O.
func (s *Elasticsearch) Ready() error {
	if s.ctx.Err() != nil {
		return ErrSinkClosed
	}
	if n := s.Stats.Blocked.Load(); n > 0 {
		msg := "see the log"
		if b := s.health.lastBlock.Load(); b != nil {
			msg = *b
		}
		return fmt.Errorf("the cluster blocks writes: %d alerts wait (%s)", n, msg)
	}
	w := s.health.writes.Load()
	if w == 0 {
		return nil
	}
	idle := s.now().Sub(time.Unix(0, s.health.since.Load()))
	if idle <= s.cfg.StallTimeout {
		return nil
	}
	why := "no answer from the cluster yet"
	if e := s.health.lastErr.Load(); e != nil {
		why = "last error: " + *e
	}
	return fmt.Errorf("no alert stored for %s while %d writes wait (%s)", idle.Round(time.Second), w, why)
}

// block records that the cluster refused it with the block e.
func (s *Elasticsearch) block(it *bulkItem, e *esError) {
	s.Stats.blocks[kindOf(e)].Add(1)
	if !it.blocked {
		it.blocked = true
		s.Stats.Blocked.Add(1)
	}
}

// unblock records that it no longer waits behind a block: it was stored, rejected, dropped, or answered otherwise.
func (s *Elasticsearch) unblock(it *bulkItem) {
	if !it.blocked {
		return
	}
	it.blocked = false
	if s.Stats.Blocked.Add(-1) == 0 && s.health.blockWarned.Swap(false) {
		s.log.Info("no alert waits behind a write block any more")
	}
}

func (s *Elasticsearch) unblockAll(items []*bulkItem) {
	for _, it := range items {
		s.unblock(it)
	}
}

// blocked records a block answer for n alerts of index and warns, at most once a minute.
func (s *Elasticsearch) blocked(index string, e *esError, n int) {
	msg := e.String()
	s.health.lastBlock.Store(&msg)
	s.health.failed(msg)
	if !s.health.blockLog.allow(s.now()) {
		return
	}
	s.health.blockWarned.Store(true)
	s.log.Warn("the cluster blocks writes: alerts wait and are retried until the block is lifted",
		"block", kindOf(e).String(), "index", index, "alerts", n, "alerts_waiting", s.Stats.Blocked.Load(), "err", msg)
}

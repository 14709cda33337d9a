package ingest

import (
	"sort"
	"sync"
)

// topicPartition names one partition of one topic.
type topicPartition struct {
	topic     string
	partition int
}

// offsetTracker decides, for one consumer-group generation, which offsets may be committed.
//
// Read hands out batches in offset order per partition; each batch covers, per partition, the records up to an
// offset. A batch is "done" once the pipeline acks it, that is once every alert from it is stored or dead-lettered.
// Committing offset N tells Kafka that every record before N is handled, so the tracker only ever offers the end of
// the contiguous done prefix: a done batch behind a batch still in flight waits for it. Offsets offered for commit
// therefore only grow, and never pass a record that is not fully handled.
//
// A tracker belongs to one generation. A new generation (after a rebalance) gets a new tracker, so the bookkeeping of
// partitions the member no longer owns is dropped with the old one and can never be committed under the new one.
type offsetTracker struct {
	mu    sync.Mutex
	parts map[topicPartition]*partitionOffsets
}

// partitionOffsets is the state of one partition. Offsets are "next offset" positions (last record + 1), the form
// Kafka commits; -1 means unknown.
type partitionOffsets struct {
	spans     []span // batches handed out and not yet part of the done prefix, in offset order
	done      int64  // end of the contiguous done prefix
	committed int64  // last offset the coordinator confirmed; without one, where the group started reading
	confirmed bool   // committed is the coordinator's, not the first record read by a group without a commit
	fetched   int64  // next offset the fetcher will read
	end       int64  // high watermark: the offset after the partition's last record, as last seen
}

// span is one batch's part of a partition: its records end just before next.
type span struct {
	next int64
	done bool
}

func newOffsetTracker() *offsetTracker {
	return &offsetTracker{parts: map[topicPartition]*partitionOffsets{}}
}

// assign registers a partition with its committed offset (-1 when the group has none yet).
func (t *offsetTracker) assign(tp topicPartition, committed int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if committed < 0 {
		committed = -1
	}
	t.parts[tp] = &partitionOffsets{done: committed, committed: committed, fetched: committed, end: -1,
		confirmed: committed >= 0}
}

func (t *offsetTracker) part(tp topicPartition) *partitionOffsets {
	p := t.parts[tp]
	if p == nil {
		p = &partitionOffsets{done: -1, committed: -1, fetched: -1, end: -1}
		t.parts[tp] = p
	}
	return p
}

// fetchedUpTo records that the fetcher returned the record at offset, with the partition's high watermark.
func (t *offsetTracker) fetchedUpTo(tp topicPartition, offset, highWatermark int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.part(tp)
	if p.done < 0 { // no committed offset: the group starts at the first record read
		p.done, p.committed = offset, offset
	}
	p.fetched = offset + 1
	p.end = max(p.end, highWatermark)
}

// setEnd records a partition's high watermark read by the lag monitor.
func (t *offsetTracker) setEnd(tp topicPartition, highWatermark int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.parts[tp]; ok {
		p.end = max(p.end, highWatermark)
	}
}

// add registers a batch's span of partition tp, ending before next. Spans of a partition are added in offset
// order.
func (t *offsetTracker) add(tp topicPartition, next int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.part(tp)
	p.spans = append(p.spans, span{next: next})
}

// complete marks the span ending before next as done and extends the done prefix over every leading done span.
func (t *offsetTracker) complete(tp topicPartition, next int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.part(tp)
	for i := range p.spans {
		if p.spans[i].next == next {
			p.spans[i].done = true
			break
		}
	}
	n := 0
	for n < len(p.spans) && p.spans[n].done {
		p.done = max(p.done, p.spans[n].next)
		n++
	}
	p.spans = p.spans[n:]
}

// committable returns, by topic and partition, the offsets that may be committed and are not yet.
func (t *offsetTracker) committable() map[string]map[int]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out map[string]map[int]int64
	for tp, p := range t.parts {
		if p.done > p.committed {
			if out == nil {
				out = map[string]map[int]int64{}
			}
			if out[tp.topic] == nil {
				out[tp.topic] = map[int]int64{}
			}
			out[tp.topic][tp.partition] = p.done
		}
	}
	return out
}

// committed records offsets the coordinator accepted.
func (t *offsetTracker) committed(offsets map[string]map[int]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for topic, parts := range offsets {
		for partition, off := range parts {
			p := t.part(topicPartition{topic, partition})
			p.committed = max(p.committed, off)
			p.confirmed = true
		}
	}
}

// PartitionLag is the consumer position of one partition owned by this member.
type PartitionLag struct {
	Topic     string
	Partition int
	// Committed is the group's committed offset as the coordinator confirmed it (-1 while the group has none);
	// Fetched is the next offset to read; End is the high watermark (the offset after the last record, -1 when not
	// yet known).
	Committed, Fetched, End int64
	// Lag is End minus the committed offset (or, for a group without one, the first offset it read): records in
	// Kafka not yet committed as handled. -1 means unknown (the end offset not read yet, or a group without a
	// commit that has read nothing yet): it is not a count and must not be added to a total.
	Lag int64
}

// lags returns the partitions' positions, sorted by topic and partition.
func (t *offsetTracker) lags() []PartitionLag {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PartitionLag, 0, len(t.parts))
	for tp, p := range t.parts {
		l := PartitionLag{Topic: tp.topic, Partition: tp.partition, Committed: -1, Fetched: p.fetched,
			End: p.end, Lag: -1}
		if p.confirmed {
			l.Committed = p.committed
		}
		if p.end >= 0 && p.committed >= 0 {
			l.Lag = max(p.end-p.committed, 0)
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

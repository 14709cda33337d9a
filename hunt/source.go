package hunt

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/ingest"
)

// Input is one configured Kafka source whose topics are hunted.
type Input struct {
	// Name is the source's name in the configuration; it goes into the events' origin, as in live detection.
	Name string
	// Kafka is the source's configuration: connection, topics, formats, tenants.
	Kafka ingest.KafkaConfig
}

// Config says what a Source reads.
type Config struct {
	// Inputs are the sources whose topics are read.
	Inputs []Input
	// Tenants are the known tenants (for multi-tenant topics).
	Tenants []string
	// Since and Until bound the records by timestamp; a zero Until means the end of each partition at Open.
	Since, Until time.Time
	// Tenant, when set, keeps only that tenant's events; the others (and records without a tenant) are counted in
	// Others and left out.
	Tenant string
	// BatchSize is the most events returned by one Read. Default 1000.
	BatchSize int
}

// Span is the part of one partition a Source reads: offsets [Start, End).
type Span struct {
	Source    string
	Topic     string
	Partition int
	Start     int64
	End       int64
}

// Records is the number of offsets in the span.
func (s Span) Records() int64 { return s.End - s.Start }

// Source is a vigil.Source over the records of a time range: the partitions of every input, merged by record
// timestamp. It ends with io.EOF after the last record of the range. Its acks do nothing: it has no offsets to
// commit.
type Source struct {
	cfg   Config
	spans []Span
	parts []*partition
	heads headHeap // partitions with a buffered chunk, by the time of their next event
	ready bool     // every partition has been given its first chunk

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	read   atomic.Int64 // records fetched
	others atomic.Int64 // records of other tenants, left out
	decode atomic.Int64 // nanoseconds spent decoding records, over all partitions
	err    atomic.Pointer[error]
}

// Open finds each partition's range and starts fetching. It makes no change on the brokers.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	s := &Source{cfg: cfg}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, in := range cfg.Inputs {
		dec, err := ingest.NewKafkaDecoder(in.Name, in.Kafka, cfg.Tenants)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("hunt: source %s: %w", in.Name, err)
		}
		spans, err := FindSpans(ctx, in, cfg.Since, cfg.Until)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("hunt: source %s: %w", in.Name, err)
		}
		dialer, err := in.Kafka.Dialer()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("hunt: source %s: %w", in.Name, err)
		}
		for _, sp := range spans {
			s.spans = append(s.spans, sp)
			if sp.Records() <= 0 {
				continue
			}
			p := &partition{span: sp, dec: dec, out: make(chan []*vigil.Event, 4), index: len(s.parts)}
			s.parts = append(s.parts, p)
			s.wg.Add(1)
			go s.fetch(p, in.Kafka, dialer)
		}
	}
	return s, nil
}

// Spans are the partitions' ranges, found at Open.
func (s *Source) Spans() []Span { return s.spans }

// Total is the number of records in the range.
func (s *Source) Total() int64 {
	var n int64
	for _, sp := range s.spans {
		n += sp.Records()
	}
	return n
}

// Fetched is the number of records fetched so far. Safe to call while the source runs.
func (s *Source) Fetched() int64 { return s.read.Load() }

// DecodeTime is the time spent decoding records so far, summed over the partitions' goroutines: the CPU-bound part
// of reading (the retro-hunt counts it against its share of the CPUs).
func (s *Source) DecodeTime() time.Duration { return time.Duration(s.decode.Load()) }

// Others is the number of records left out because they belong to another tenant than Config.Tenant.
func (s *Source) Others() int64 { return s.others.Load() }

// Read implements vigil.Source: up to BatchSize events, the oldest first across partitions.
func (s *Source) Read(ctx context.Context) ([]*vigil.Event, vigil.AckFunc, error) {
	if !s.ready {
		for _, p := range s.parts {
			if err := s.refill(ctx, p); err != nil {
				return nil, nil, err
			}
		}
		s.ready = true
	}
	var batch []*vigil.Event
	for len(batch) < s.cfg.BatchSize && s.heads.Len() > 0 {
		p := s.heads[0]
		batch = append(batch, p.chunk[p.next])
		if p.next++; p.next < len(p.chunk) {
			heap.Fix(&s.heads, 0)
			continue
		}
		heap.Pop(&s.heads)
		if err := s.refill(ctx, p); err != nil {
			return nil, nil, err
		}
	}
	if len(batch) == 0 {
		if errp := s.err.Load(); errp != nil {
			return nil, nil, *errp
		}
		return nil, nil, io.EOF
	}
	return batch, func(context.Context) error { return nil }, nil
}

// refill waits for p's next chunk and puts p back among the heads; a finished partition is left out.
func (s *Source) refill(ctx context.Context, p *partition) error {
	select {
	case chunk, ok := <-p.out:
		if !ok {
			if errp := s.err.Load(); errp != nil {
				return *errp
			}
			return nil
		}
		p.chunk, p.next = chunk, 0
		heap.Push(&s.heads, p)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops fetching.
func (s *Source) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// partition is one span being fetched.
type partition struct {
	span  Span
	dec   *ingest.KafkaDecoder
	out   chan []*vigil.Event // decoded chunks, in offset order; closed at the end of the span
	index int                 // tie-break between equal timestamps: the order of the spans

	chunk []*vigil.Event // the chunk being merged
	next  int
}

// chunkSize is how many events a partition hands to the merge at once.
const chunkSize = 256

// idleCheck is how long a fetch may wait before the reader's position is checked: the last offsets of a range can
// be transaction markers, which are never delivered as messages.
const idleCheck = 5 * time.Second

// fetch reads p's span with a partition reader (no group), decodes it and hands it on in chunks.
func (s *Source) fetch(p *partition, cfg ingest.KafkaConfig, dialer *kafka.Dialer) {
	defer s.wg.Done()
	defer close(p.out)
	cfg = cfg.WithDefaults()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: p.span.Topic, Partition: p.span.Partition,
		Dialer: dialer, MinBytes: 1, MaxBytes: cfg.FetchMaxBytes, MaxWait: cfg.FetchMaxWait,
		QueueCapacity: cfg.QueueCapacity}) // read uncommitted, as the live consumer reads: the same records
	defer r.Close()
	if err := r.SetOffset(p.span.Start); err != nil {
		s.fail(fmt.Errorf("hunt: %s[%d]: %w", p.span.Topic, p.span.Partition, err))
		return
	}
	chunk := make([]*vigil.Event, 0, chunkSize)
	for {
		ctx, cancel := context.WithTimeout(s.ctx, idleCheck)
		m, err := r.FetchMessage(ctx)
		cancel()
		switch {
		case s.ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded) && r.Offset() >= p.span.End:
			m.Offset = p.span.End // only markers were left
		case errors.Is(err, context.DeadlineExceeded):
			continue
		case err != nil:
			s.fail(fmt.Errorf("hunt: %s[%d]: %w", p.span.Topic, p.span.Partition, err))
			return
		}
		if m.Offset < p.span.End {
			s.read.Add(1)
			began := time.Now()
			ev := p.dec.Event(m)
			s.decode.Add(int64(time.Since(began)))
			if s.cfg.Tenant == "" || ev.Tenant == s.cfg.Tenant {
				chunk = append(chunk, ev)
			} else {
				s.others.Add(1)
				ev.Fields.Release()
			}
		}
		if len(chunk) == chunkSize || m.Offset+1 >= p.span.End {
			if len(chunk) > 0 && !s.send(p, chunk) {
				return
			}
			chunk = make([]*vigil.Event, 0, chunkSize)
		}
		if m.Offset+1 >= p.span.End {
			return
		}
	}
}

func (s *Source) send(p *partition, chunk []*vigil.Event) bool {
	select {
	case p.out <- chunk:
		return true
	case <-s.ctx.Done():
		return false
	}
}

func (s *Source) fail(err error) {
	s.err.CompareAndSwap(nil, &err)
}

// headHeap orders partitions by the record time of their next event, then by span order and offset.
type headHeap []*partition

func (h headHeap) Len() int { return len(h) }
func (h headHeap) Less(i, j int) bool {
	a, b := h[i].chunk[h[i].next].Origin, h[j].chunk[h[j].next].Origin
	if c := a.Time.Compare(b.Time); c != 0 {
		return c < 0
	}
	return cmp.Compare(h[i].index, h[j].index) < 0
}
func (h headHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *headHeap) Push(x any)   { *h = append(*h, x.(*partition)) }
func (h *headHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	*h = old[:len(old)-1]
	return p
}

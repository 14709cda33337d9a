package sinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/kafkaconn"
)

// WithDefaults returns a copy of c with every default filled in (the topic name, the connection's timeouts).
func (c KafkaDeadLetterConfig) WithDefaults() KafkaDeadLetterConfig {
	c.setDefaults()
	return c
}

// KafkaLetterID is the ID of the dead letter at offset of partition of topic: "topic/partition/offset". Topic names
// cannot contain "/", so the ID splits back unambiguously.
func KafkaLetterID(topic string, partition int, offset int64) string {
	return topic + "/" + strconv.Itoa(partition) + "/" + strconv.FormatInt(offset, 10)
}

// ReadKafkaDeadLetters calls fn with each letter of cfg's dead-letter topic, until fn returns an error (returned as it
// is; io.EOF stops without an error). It reads every partition from the oldest record the broker keeps up to the
// end offsets taken when it starts, so it ends even while letters are being parked, and merges the partitions in
// order of parking time. It reads partitions directly, as a consumer without a group: it commits nothing and
// disturbs no other reader. A missing topic gives an error wrapping kafkaconn.ErrTopicMissing.
func ReadKafkaDeadLetters(ctx context.Context, cfg KafkaDeadLetterConfig, fn func(*ParkedLetter) error) error {
	cfg.setDefaults()
	err := scanTopic(ctx, cfg.Config, cfg.Topic, func(m kafka.Message) error { return fn(parkedFromRecord(m)) })
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// ReadKafkaDeadLetter returns the letter at offset of partition of cfg's dead-letter topic, or an error saying why
// there is none.
func ReadKafkaDeadLetter(ctx context.Context, cfg KafkaDeadLetterConfig, partition int, offset int64) (*ParkedLetter, error) {
	cfg.setDefaults()
	r, err := newTopicReader(ctx, cfg.Config, cfg.Topic)
	if err != nil {
		return nil, err
	}
	defer r.close()
	id := KafkaLetterID(cfg.Topic, partition, offset)
	cur, ok := r.partition(partition)
	if !ok {
		return nil, fmt.Errorf("no letter %s: topic %s has %d partitions", id, cfg.Topic, len(r.cursors))
	}
	if offset < cur.next || offset >= cur.end {
		return nil, fmt.Errorf("no letter %s: partition %d holds offsets %d to %d", id, partition, cur.next, cur.end-1)
	}
	msgs, _, err := r.fetch(ctx, partition, offset)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 || msgs[0].Offset != offset {
		return nil, fmt.Errorf("no letter %s: there is no record at that offset", id)
	}
	return parkedFromRecord(msgs[0]), nil
}

// parkedFromRecord reads a dead letter back from its record (KafkaDeadLetter.message).
func parkedFromRecord(m kafka.Message) *ParkedLetter {
	l := &ParkedLetter{ID: KafkaLetterID(m.Topic, m.Partition, m.Offset), Parked: m.Time}
	l.Payload = m.Value
	for _, h := range m.Headers {
		v := string(h.Value)
		switch h.Key {
		case HeaderKind:
			l.Kind = v
		case HeaderReason:
			l.Reason = v
		case HeaderDetail:
			l.Detail = v
		case HeaderSource:
			l.Origin.Source = v
		case HeaderSourceTopic:
			l.Origin.Topic = v
		case HeaderSourcePartition:
			l.Origin.Partition, _ = strconv.Atoi(v)
		case HeaderSourceOffset:
			l.Origin.Offset, _ = strconv.ParseInt(v, 10, 64)
		case HeaderSourceFile:
			l.Origin.File = v
		case HeaderSourceLine:
			l.Origin.Line, _ = strconv.ParseInt(v, 10, 64)
		case HeaderSourceTime:
			l.Origin.Time, _ = time.Parse(time.RFC3339Nano, v)
		case HeaderTenant:
			l.Tenant = v
		case HeaderTruncated:
			l.Truncated, _ = strconv.Atoi(v)
		}
		if !utf8.Valid(h.Value) {
			v = strconv.Quote(v)
		}
		l.Fields = append(l.Fields, LetterField{h.Key, v})
	}
	return l
}

// scanTopic calls fn with every record of topic up to the end offsets taken when it starts, merged across
// partitions in timestamp order (ties by partition, then offset), until fn returns an error.
func scanTopic(ctx context.Context, conn kafkaconn.Config, topic string, fn func(kafka.Message) error) error {
	r, err := newTopicReader(ctx, conn, topic)
	if err != nil {
		return err
	}
	defer r.close()
	for {
		var head *cursor
		for _, c := range r.cursors {
			if err := r.fill(ctx, c); err != nil {
				return err
			}
			if len(c.buf) > 0 && (head == nil || before(c.buf[0], head.buf[0])) {
				head = c
			}
		}
		if head == nil {
			return nil
		}
		m := head.buf[0]
		head.buf = head.buf[1:]
		if err := fn(m); err != nil {
			return err
		}
	}
}

func before(a, b kafka.Message) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	if a.Partition != b.Partition {
		return a.Partition < b.Partition
	}
	return a.Offset < b.Offset
}

// topicReader reads the partitions of a topic with plain fetch requests: no consumer group, no background work.
type topicReader struct {
	conn    kafkaconn.Config
	topic   string
	tr      *kafka.Transport
	client  *kafka.Client
	cursors []*cursor
}

// cursor is the position of a topicReader in one partition: the records fetched and not yet taken, the next offset
// to fetch, and the end offset (exclusive) taken at the start.
type cursor struct {
	partition int
	next, end int64
	buf       []kafka.Message
}

// fetchMaxBytes bounds a fetch response, and so what a scan holds per partition; the broker returns a first record
// batch larger than this whole.
const fetchMaxBytes = 1 << 20

// newTopicReader connects within the connect timeout, checks that the topic exists, and takes the first and end
// offsets of each of its partitions.
func newTopicReader(ctx context.Context, conn kafkaconn.Config, topic string) (*topicReader, error) {
	if err := conn.Check(ctx, topic); err != nil {
		return nil, fmt.Errorf("kafka topic %s: %w", topic, err)
	}
	tr, err := conn.Transport()
	if err != nil {
		return nil, err
	}
	r := &topicReader{conn: conn, topic: topic, tr: tr, client: &kafka.Client{Addr: kafka.TCP(conn.Brokers...), Transport: tr}}
	rctx, cancel := r.requestContext(ctx)
	defer cancel()
	md, err := r.client.Metadata(rctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		r.close()
		return nil, fmt.Errorf("kafka topic %s: metadata: %w", topic, err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	res, err := r.client.ListOffsets(rctx, req)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("kafka topic %s: list offsets: %w", topic, err)
	}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			r.close()
			return nil, fmt.Errorf("kafka topic %s partition %d: list offsets: %w", topic, p.Partition, p.Error)
		}
		r.cursors = append(r.cursors, &cursor{partition: p.Partition, next: p.FirstOffset, end: p.LastOffset})
	}
	return r, nil
}

// requestContext bounds one request: the connect timeout, which also covers dialling, plus the fetch wait.
func (r *topicReader) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := r.conn.ConnectTimeout
	if d <= 0 {
		d = 10 * time.Second
	}
	return context.WithTimeout(ctx, d+time.Second)
}

func (r *topicReader) partition(p int) (*cursor, bool) {
	for _, c := range r.cursors {
		if c.partition == p {
			return c, true
		}
	}
	return nil, false
}

// fill fetches the next records of c when it has none buffered and has not reached its end.
func (r *topicReader) fill(ctx context.Context, c *cursor) error {
	for len(c.buf) == 0 && c.next < c.end {
		msgs, logStart, err := r.fetch(ctx, c.partition, c.next)
		if errors.Is(err, kafka.OffsetOutOfRange) && logStart > c.next {
			c.next = logStart // deleted by retention while we read
			continue
		}
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			c.next = c.end // nothing readable before the end (transaction markers, compaction): done
			return nil
		}
		for _, m := range msgs {
			if m.Offset >= c.end {
				break
			}
			c.buf = append(c.buf, m)
		}
		c.next = msgs[len(msgs)-1].Offset + 1
	}
	return nil
}

// fetch reads records of a partition from offset on (the broker may start its answer a little before: those are
// dropped). logStart is the partition's first offset, for an OffsetOutOfRange error.
func (r *topicReader) fetch(ctx context.Context, partition int, offset int64) (msgs []kafka.Message, logStart int64, err error) {
	rctx, cancel := r.requestContext(ctx)
	defer cancel()
	res, err := r.client.Fetch(rctx, &kafka.FetchRequest{Topic: r.topic, Partition: partition, Offset: offset,
		MinBytes: 1, MaxBytes: fetchMaxBytes, MaxWait: 500 * time.Millisecond})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		if res != nil {
			logStart = res.LogStartOffset
		}
		return nil, logStart, fmt.Errorf("kafka topic %s partition %d: fetch at offset %d: %w", r.topic, partition, offset, err)
	}
	for {
		rec, err := res.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return msgs, res.LogStartOffset, nil
		}
		if err != nil {
			return nil, res.LogStartOffset, fmt.Errorf("kafka topic %s partition %d: read records at offset %d: %w",
				r.topic, partition, offset, err)
		}
		if rec.Offset < offset {
			continue
		}
		m := kafka.Message{Topic: r.topic, Partition: partition, Offset: rec.Offset, Time: rec.Time}
		for _, h := range rec.Headers { // valid only until the next ReadRecord
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: bytes.Clone(h.Value)})
		}
		if m.Key, err = kafka.ReadAll(rec.Key); err == nil {
			m.Value, err = kafka.ReadAll(rec.Value)
		}
		if err != nil {
			return nil, res.LogStartOffset, fmt.Errorf("kafka topic %s partition %d offset %d: %w", r.topic, partition, rec.Offset, err)
		}
		msgs = append(msgs, m)
	}
}

func (r *topicReader) close() {
	r.tr.CloseIdleConnections()
}

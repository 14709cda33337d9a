package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Writer writes records to Kafka and returns once every one is acknowledged or has failed; *kafka.Writer is one.
// When only some records failed, the error is a kafka.WriteErrors with one entry per record, nil where it was
// acknowledged.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// partitionChunk is how many consecutive records go to one partition: about one HEC batch, so that a request waits
// for the produce requests of one or two partitions rather than of all of them. The producer keeps one produce
// request in flight per partition, and a broker pause on any partition a request touches delays its answer.
const partitionChunk = 100

// NewKafkaWriter returns the producer: acks from every in-sync replica (acks=all), synchronous writes, no topic
// auto-creation (a tenant's topic is created by the operator, as `vigil run` expects it).
func NewKafkaWriter(c KafkaConfig, maxEventBytes int) (*kafka.Writer, error) {
	tr, err := c.Transport()
	if err != nil {
		return nil, err
	}
	return &kafka.Writer{
		Addr:         kafka.TCP(c.Brokers...),
		Transport:    tr,
		Balancer:     &kafka.RoundRobin{ChunkSize: partitionChunk},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: c.BatchTimeout,
		BatchSize:    c.BatchSize,
		BatchBytes:   int64(max(1<<20, maxEventBytes+64<<10)),
		MaxAttempts:  3,
		WriteTimeout: c.WriteTimeout,
	}, nil
}

// meta is what intake knows about a request's records; it becomes their headers.
type meta struct {
	p        Principal
	route    string
	remote   string
	received time.Time
	format   string // the records' format header: hec (HEC event objects), a syslog listener's line format, or empty for JSON
	lines    bool   // the records are a syslog listener's lines, for the syslog topic
}

// item is one record on its way to Kafka, with the headers that belong to it alone (es.index, es.id).
type item struct {
	value []byte
	extra []kafka.Header
}

// errUnavailable is a write that Kafka did not acknowledge in time; the client should retry (503).
var errUnavailable = errors.New("kafka did not acknowledge the records: retry later")

// messages builds the Kafka records of a request.
func (s *Server) messages(m meta, items []item) []kafka.Message {
	topic := s.cfg.Kafka.TopicFor(m.p.Tenant, m.lines)
	received := []byte(m.received.UTC().Format(time.RFC3339Nano))
	common := []kafka.Header{
		{Key: s.cfg.Kafka.TenantHeader, Value: []byte(m.p.Tenant)},
		{Key: "vigil.intake.received", Value: received},
		{Key: "vigil.intake.remote", Value: []byte(m.remote)},
		{Key: "vigil.intake.route", Value: []byte(m.route)},
		{Key: "vigil.intake.credential", Value: []byte(m.p.Name)},
	}
	if m.format != "" {
		common = append(common, kafka.Header{Key: "format", Value: []byte(m.format)})
	}
	msgs := make([]kafka.Message, len(items))
	for i, it := range items {
		h := common
		if len(it.extra) > 0 {
			h = append(append(make([]kafka.Header, 0, len(common)+len(it.extra)), common...), it.extra...)
		}
		msgs[i] = kafka.Message{Topic: topic, Value: it.value, Headers: h}
	}
	return msgs
}

// deliver writes a request's records and waits for Kafka's acknowledgement of every one. failed is nil when all
// were acknowledged; otherwise it has one entry per item (nil where acknowledged), and err is errUnavailable.
func (s *Server) deliver(ctx context.Context, m meta, items []item) (failed []error, err error) {
	if len(items) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Kafka.WriteTimeout)
	defer cancel()
	werr := s.writer.WriteMessages(ctx, s.messages(m, items)...)
	if werr == nil {
		s.kafkaOK.Store(true)
		return nil, nil
	}
	var perItem kafka.WriteErrors
	if !errors.As(werr, &perItem) || len(perItem) != len(items) {
		perItem = make(kafka.WriteErrors, len(items))
		for i := range perItem {
			perItem[i] = werr
		}
	}
	s.kafkaFailed(werr)
	return perItem, fmt.Errorf("%w: %v", errUnavailable, werr)
}

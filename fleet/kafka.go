package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/kafkaconn"
)

// Client reads and writes the bundle and status topics. It is safe for concurrent use.
type Client struct {
	cfg    Config
	tr     *kafka.Transport
	client *kafka.Client
	writer *kafka.Writer
}

// maxRecordSlack is what the topic's max.message.bytes allows above MaxBundleBytes: the record's key, headers and
// batch framing.
const maxRecordSlack = 64 << 10

// Open connects to the cluster and creates the bundle and status topics when they are missing (one partition each,
// cleanup.policy=compact).
func Open(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	tr, err := cfg.Kafka.Transport()
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	c := &Client{cfg: cfg, tr: tr, client: &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...), Transport: tr}}
	c.writer = &kafka.Writer{Addr: c.client.Addr, Transport: tr, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		BatchBytes: int64(cfg.MaxBundleBytes + maxRecordSlack), Compression: 0}
	if err := c.ensureTopics(ctx); err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	return c, nil
}

// Config returns the configuration with its defaults.
func (c *Client) Config() Config { return c.cfg }

// Close releases the connections.
func (c *Client) Close() error {
	err := c.writer.Close()
	c.tr.CloseIdleConnections()
	return err
}

func (c *Client) ensureTopics(ctx context.Context) error {
	err := c.cfg.Kafka.Check(ctx, c.cfg.Topic, c.cfg.StatusTopic)
	if err == nil {
		return nil
	}
	if !errors.Is(err, kafkaconn.ErrTopicMissing) {
		return fmt.Errorf("fleet: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*c.cfg.Kafka.ConnectTimeout)
	defer cancel()
	compact := kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"}
	req := &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: c.cfg.Topic, NumPartitions: 1, ReplicationFactor: c.cfg.ReplicationFactor, ConfigEntries: []kafka.ConfigEntry{compact,
			{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(c.cfg.MaxBundleBytes + maxRecordSlack)}}},
		{Topic: c.cfg.StatusTopic, NumPartitions: 1, ReplicationFactor: c.cfg.ReplicationFactor,
			ConfigEntries: []kafka.ConfigEntry{compact}},
	}}
	res, err := c.client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("fleet: create topics: %w", err)
	}
	for _, t := range req.Topics {
		if err := res.Errors[t.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("fleet: create topic %s: %w", t.Topic, err)
		}
	}
	// A topic just created may take a moment to have a leader.
	for {
		err := c.cfg.Kafka.Check(ctx, c.cfg.Topic, c.cfg.StatusTopic)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fleet: topics created but not ready: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// write writes one record and waits for every in-sync replica.
func (c *Client) write(ctx context.Context, topic string, key, value []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 3*c.cfg.Kafka.ConnectTimeout)
	defer cancel()
	return c.writer.WriteMessages(ctx, kafka.Message{Topic: topic, Key: key, Value: value})
}

// endOffset is the offset the next record of topic's only partition will get.
func (c *Client) endOffset(ctx context.Context, topic string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Kafka.ConnectTimeout)
	defer cancel()
	res, err := c.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(0)}}})
	if err != nil {
		return 0, fmt.Errorf("fleet: %s: list offsets: %w", topic, err)
	}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("fleet: %s: list offsets: %w", topic, p.Error)
		}
		return p.LastOffset, nil
	}
	return 0, fmt.Errorf("fleet: %s: no partition 0", topic)
}

// fetch returns the records of topic's only partition from offset on, waiting up to wait for the first one, and the
// offset to fetch next. Offsets removed by compaction or retention are skipped.
func (c *Client) fetch(ctx context.Context, topic string, offset int64, wait time.Duration) ([]kafka.Message, int64, error) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Kafka.ConnectTimeout+wait)
	defer cancel()
	res, err := c.client.Fetch(rctx, &kafka.FetchRequest{Topic: topic, Partition: 0, Offset: offset, MinBytes: 1,
		MaxBytes: int64(4 * (c.cfg.MaxBundleBytes + maxRecordSlack)), MaxWait: wait})
	if err == nil {
		err = res.Error
	}
	if errors.Is(err, kafka.OffsetOutOfRange) && res != nil && res.LogStartOffset > offset {
		return nil, res.LogStartOffset, nil
	}
	if err != nil {
		return nil, offset, fmt.Errorf("fleet: %s: fetch at %d: %w", topic, offset, err)
	}
	var out []kafka.Message
	next := offset
	for {
		rec, err := res.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return out, next, nil
		}
		if err != nil {
			return nil, offset, fmt.Errorf("fleet: %s: read at %d: %w", topic, offset, err)
		}
		if rec.Offset < offset {
			continue
		}
		m := kafka.Message{Topic: topic, Offset: rec.Offset, Time: rec.Time}
		if m.Key, err = kafka.ReadAll(rec.Key); err == nil {
			m.Value, err = kafka.ReadAll(rec.Value)
		}
		if err != nil {
			return nil, offset, fmt.Errorf("fleet: %s: offset %d: %w", topic, rec.Offset, err)
		}
		out = append(out, m)
		next = rec.Offset + 1
	}
}

// readAll calls fn with every record of topic up to its end offset at the call, and returns that offset.
func (c *Client) readAll(ctx context.Context, topic string, fn func(kafka.Message)) (int64, error) {
	end, err := c.endOffset(ctx, topic)
	if err != nil {
		return 0, err
	}
	for next := int64(0); next < end; {
		msgs, n, err := c.fetch(ctx, topic, next, 100*time.Millisecond)
		if err != nil {
			return end, err
		}
		if n == next && len(msgs) == 0 {
			return end, nil // nothing readable before the end (compaction left a gap at the end)
		}
		for _, m := range msgs {
			if m.Offset < end {
				fn(m)
			}
		}
		next = n
	}
	return end, nil
}

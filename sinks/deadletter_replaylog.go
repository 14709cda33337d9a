package sinks

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/kafkaconn"
)

// The replay log records which dead letters `vigil deadletters replay` has brought back, so that none is replayed
// twice by accident. For a Kafka queue it is a compacted topic beside the dead-letter topic (ReplayLogTopic), keyed by
// the letter ID; for a file queue, a JSON Lines file beside the dead-letter file (ReplayLogFile). A record is written
// only after its letter was delivered (acknowledged by every in-sync replica, or stored in the index), so a crash in
// between leaves a letter delivered but not recorded: replayed again next time, which the deterministic alert ids
// make harmless.

// HeaderReplayedFrom is the header of a record that `vigil deadletters replay` wrote back to its source topic: the ID
// of the dead letter it came from.
const HeaderReplayedFrom = "vigil.replayed-from"

// ReplayRecord says that a dead letter was replayed: when, and where to.
type ReplayRecord struct {
	// ID is the letter's ID in its queue.
	ID string `json:"id"`
	// Replayed is when the letter was delivered.
	Replayed time.Time `json:"replayed_at"`
	// To says where it went: "topic T partition P" for an event, "search sinks" for an alert.
	To string `json:"to"`
}

// ReplayLogTopic is the replay log of a Kafka dead-letter topic.
func ReplayLogTopic(deadLetterTopic string) string { return deadLetterTopic + ".replayed" }

// ReplayLogFile is the replay log of a dead-letter file.
func ReplayLogFile(deadLetterPath string) string { return deadLetterPath + ".replayed" }

// ReadReplayLogFile returns the records of a replay log file by letter ID (the last one of an ID wins); a missing file
// is an empty log. A line that holds no record (the rest of a torn write) is skipped.
func ReadReplayLogFile(path string) (map[string]ReplayRecord, error) {
	out := map[string]ReplayRecord{}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	_, err := scanLines(path, func(_ int64, line []byte) error {
		var r ReplayRecord
		if json.Unmarshal(line, &r) == nil && r.ID != "" {
			out[r.ID] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replay log: %w", err)
	}
	return out, nil
}

// AppendReplayLogFile appends records to a replay log file and syncs it to disk.
func AppendReplayLogFile(path string, recs []ReplayRecord) error {
	if len(recs) == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("replay log: %w", err)
	}
	if err := endTornLine(path); err != nil {
		f.Close()
		return fmt.Errorf("replay log: %w", err)
	}
	w := bufio.NewWriter(f)
	for _, r := range recs {
		if err := writeJSONLine(w, r); err != nil {
			f.Close()
			return fmt.Errorf("replay log %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("replay log %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("replay log %s: %w", path, err)
	}
	return f.Close()
}

// ReadKafkaReplayLog returns the records of the replay log of cfg's dead-letter topic by letter ID; a missing topic
// is an empty log. A record without a value (a tombstone) removes its ID, so that the letter can be replayed again.
func ReadKafkaReplayLog(ctx context.Context, cfg KafkaDeadLetterConfig) (map[string]ReplayRecord, error) {
	cfg.setDefaults()
	out := map[string]ReplayRecord{}
	err := scanTopic(ctx, cfg.Config, ReplayLogTopic(cfg.Topic), func(m kafka.Message) error {
		id := string(m.Key)
		var r ReplayRecord
		if m.Value == nil || json.Unmarshal(m.Value, &r) != nil {
			delete(out, id)
			return nil
		}
		r.ID = id
		out[id] = r
		return nil
	})
	if errors.Is(err, kafkaconn.ErrTopicMissing) {
		return out, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("replay log: %w", err)
	}
	return out, nil
}

// KafkaReplayLog appends to the replay log topic of a Kafka dead-letter queue.
type KafkaReplayLog struct {
	topic string
	w     *kafka.Writer
}

// NewKafkaReplayLog returns a writer of the replay log of cfg's dead-letter topic, and creates the topic when it does
// not exist: compacted (one record per letter is kept), one partition, with cfg's replication factor.
func NewKafkaReplayLog(ctx context.Context, cfg KafkaDeadLetterConfig) (*KafkaReplayLog, error) {
	cfg.setDefaults()
	topic := ReplayLogTopic(cfg.Topic)
	tr, err := cfg.Transport()
	if err != nil {
		return nil, fmt.Errorf("replay log: %w", err)
	}
	if err := cfg.Check(ctx, topic); err != nil {
		if !errors.Is(err, kafkaconn.ErrTopicMissing) {
			return nil, fmt.Errorf("replay log %s: %w", topic, err)
		}
		logCfg := cfg
		logCfg.Topic, logCfg.Partitions = topic, 1
		if err := createTopicWith(ctx, logCfg, tr, []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}); err != nil {
			return nil, fmt.Errorf("replay log %s: create topic: %w", topic, err)
		}
	}
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: topic, Transport: tr, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: 1000, WriteTimeout: cfg.WriteTimeout}
	return &KafkaReplayLog{topic: topic, w: w}, nil
}

// Append writes records keyed by their letter ID and returns once every in-sync replica has them.
func (l *KafkaReplayLog) Append(ctx context.Context, recs []ReplayRecord) error {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("replay log %s: %w", l.topic, err)
		}
		msgs[i] = kafka.Message{Key: []byte(r.ID), Value: v, Time: r.Replayed}
	}
	if err := l.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("replay log %s: %w", l.topic, err)
	}
	return nil
}

// Close flushes and closes the writer.
func (l *KafkaReplayLog) Close() error { return l.w.Close() }

// createTopicWith creates cfg.Topic with the given topic configuration and waits until the brokers know it.
func createTopicWith(ctx context.Context, cfg KafkaDeadLetterConfig, tr *kafka.Transport, entries []kafka.ConfigEntry) error {
	ctx, cancel := context.WithTimeout(ctx, 2*cfg.ConnectTimeout)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: tr}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: cfg.Topic,
		NumPartitions: cfg.Partitions, ReplicationFactor: cfg.ReplicationFactor, ConfigEntries: entries}}})
	if err != nil {
		return err
	}
	if err := res.Errors[cfg.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return err
	}
	for {
		err := cfg.Check(ctx, cfg.Topic)
		if err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/vigilsoc/vigil/kafkaconn"
	"github.com/vigilsoc/vigil/sinks"
)

// letterQueue is the dead-letter queue of a configuration, read back: the Kafka topic or the JSON Lines file, with
// its replay log.
type letterQueue interface {
	// String names the queue in messages.
	String() string
	// scan calls fn with every letter, oldest first, up to the end of the queue when the scan starts, until fn
	// returns an error; io.EOF stops the scan without one.
	scan(ctx context.Context, fn func(*sinks.ParkedLetter) error) error
	// get returns a letter by id, or an error saying why there is none (a malformed id, another queue's id).
	get(ctx context.Context, id string) (*sinks.ParkedLetter, error)
	// replayed returns the replay log by letter id.
	replayed(ctx context.Context) (map[string]sinks.ReplayRecord, error)
	// record appends to the replay log; it returns once the records are durable.
	record(ctx context.Context, recs []sinks.ReplayRecord) error
	// logName names the replay log in messages.
	logName() string
	close() error
}

// loadDeadLetterConfig loads a configuration for `vigil deadletters`. implicit says that the file does not set
// dead_letter, so the queue is the default file.
func loadDeadLetterConfig(path string) (c *Config, implicit bool, err error) {
	c = &Config{}
	if err := decodeConfig(path, c); err != nil {
		return nil, false, err
	}
	implicit = c.DeadLetter == DeadLetterConfig{}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, false, fmt.Errorf("config %s: %w", path, err)
	}
	return c, implicit, nil
}

// openLetterQueue opens the configured dead-letter queue for reading: it checks that the file exists, or that the
// brokers answer within the connect timeout and the topic exists.
func openLetterQueue(ctx context.Context, c *Config, cfgPath string, implicit bool) (letterQueue, error) {
	dc := c.DeadLetter
	switch dc.Type {
	case "file":
		if _, err := os.Stat(dc.Path); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("dead-letter file: %w", err)
			}
			if implicit {
				return nil, fmt.Errorf("no dead-letter queue: %s does not set dead_letter, so letters go to the file %s, which does not exist (here, in %s): nothing has been parked there",
					cfgPath, dc.Path, cwd())
			}
			return nil, fmt.Errorf("dead-letter file %s (dead_letter.path) does not exist: nothing has been parked there yet", dc.Path)
		}
		return &fileQueue{path: dc.Path}, nil
	case "kafka":
		kc := dc.Kafka.WithDefaults()
		if err := kc.Check(ctx, kc.Topic); err != nil {
			if errors.Is(err, kafkaconn.ErrTopicMissing) {
				return nil, fmt.Errorf("dead-letter topic %s (dead_letter.kafka.topic) does not exist on %s: nothing has been parked yet, or the topic name is wrong",
					kc.Topic, strings.Join(kc.Brokers, ","))
			}
			return nil, fmt.Errorf("dead-letter queue: kafka topic %s: %w", kc.Topic, err)
		}
		return &kafkaQueue{cfg: kc}, nil
	}
	return nil, fmt.Errorf("dead_letter.type: unknown type %q", dc.Type)
}

func cwd() string {
	d, err := os.Getwd()
	if err != nil {
		return "."
	}
	return d
}

// fileQueue is a dead-letter file; its replay log is the file beside it (sinks.ReplayLogFile).
type fileQueue struct {
	path    string
	skipped int // lines without a letter, seen by the last scan
}

func (q *fileQueue) String() string  { return "dead-letter file " + q.path }
func (q *fileQueue) logName() string { return "replay log " + sinks.ReplayLogFile(q.path) }

func (q *fileQueue) scan(ctx context.Context, fn func(*sinks.ParkedLetter) error) error {
	skipped, err := sinks.ReadDeadLetterFile(q.path, func(l *sinks.ParkedLetter) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(l)
	})
	q.skipped = skipped
	return err
}

func (q *fileQueue) get(_ context.Context, id string) (*sinks.ParkedLetter, error) {
	path, line, err := parseFileLetterID(id)
	if err != nil {
		return nil, err
	}
	if !sameFile(path, q.path) {
		return nil, fmt.Errorf("no letter %s: the dead-letter queue is the file %s", id, q.path)
	}
	return sinks.ReadDeadLetterFileLine(q.path, line)
}

// sameFile says whether two paths name the same file (one may be relative, the other absolute).
func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	ia, errA := os.Stat(a)
	ib, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(ia, ib)
}

func (q *fileQueue) replayed(context.Context) (map[string]sinks.ReplayRecord, error) {
	return sinks.ReadReplayLogFile(sinks.ReplayLogFile(q.path))
}

func (q *fileQueue) record(_ context.Context, recs []sinks.ReplayRecord) error {
	return sinks.AppendReplayLogFile(sinks.ReplayLogFile(q.path), recs)
}

func (q *fileQueue) close() error { return nil }

// kafkaQueue is a dead-letter topic; its replay log is a compacted topic beside it (sinks.ReplayLogTopic), created
// by the first replay.
type kafkaQueue struct {
	cfg sinks.KafkaDeadLetterConfig
	log *sinks.KafkaReplayLog // opened by the first record
}

func (q *kafkaQueue) String() string  { return "dead-letter topic " + q.cfg.Topic }
func (q *kafkaQueue) logName() string { return "replay log topic " + sinks.ReplayLogTopic(q.cfg.Topic) }

func (q *kafkaQueue) scan(ctx context.Context, fn func(*sinks.ParkedLetter) error) error {
	return sinks.ReadKafkaDeadLetters(ctx, q.cfg, fn)
}

func (q *kafkaQueue) get(ctx context.Context, id string) (*sinks.ParkedLetter, error) {
	topic, partition, offset, err := parseKafkaLetterID(id)
	if err != nil {
		return nil, err
	}
	if topic != q.cfg.Topic {
		return nil, fmt.Errorf("no letter %s: the dead-letter queue is the topic %s", id, q.cfg.Topic)
	}
	return sinks.ReadKafkaDeadLetter(ctx, q.cfg, partition, offset)
}

func (q *kafkaQueue) replayed(ctx context.Context) (map[string]sinks.ReplayRecord, error) {
	return sinks.ReadKafkaReplayLog(ctx, q.cfg)
}

func (q *kafkaQueue) record(ctx context.Context, recs []sinks.ReplayRecord) error {
	if q.log == nil {
		l, err := sinks.NewKafkaReplayLog(ctx, q.cfg)
		if err != nil {
			return err
		}
		q.log = l
	}
	return q.log.Append(ctx, recs)
}

func (q *kafkaQueue) close() error {
	if q.log != nil {
		return q.log.Close()
	}
	return nil
}

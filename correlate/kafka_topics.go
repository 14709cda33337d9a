package correlate

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// PartitionOf is the match-topic partition of a record key (Record.Key) among n partitions: the FNV-1a hash of the
// key, as a signed 32-bit number, modulo n, made positive. It is kafka-go's Hash balancer (and Sarama's default
// partitioner), written down here because the stage depends on it: a chained record decided in one partition is
// kept there only when PartitionOf sends its key there, and the partition count must never change under a running
// deployment (adding partitions to the match topic would move groups away from their state).
func PartitionOf(key []byte, n int) int {
	h := fnv.New32a()
	h.Write(key)
	p := int32(h.Sum32()) % int32(n)
	if p < 0 {
		p = -p
	}
	return int(p)
}

// topicLayout is what ensureTopics found: the partition count of both topics, and the largest record batch each
// accepts (max.message.bytes), which bounds the writers' batches.
type topicLayout struct {
	partitions                 int
	matchBatch, changelogBatch int
}

// maxStateRecordBytes is the max.message.bytes of a changelog topic Vigil creates: a group's state is one record, and
// a group of max_events_per_group matches with value texts can pass the broker's default of 1 MB.
const maxStateRecordBytes = 16 << 20

// ensureTopics makes sure the match and changelog topics exist, creating what is missing (the changelog with
// cleanup.policy=compact and max.message.bytes=16 MiB, and with the match topic's partition count when only the
// match topic exists), and checks that both have the same number of partitions and that the changelog is compacted.
func ensureTopics(ctx context.Context, cfg KafkaConfig, tr *kafka.Transport, log *slog.Logger) (topicLayout, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*cfg.Kafka.ConnectTimeout)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...), Transport: tr}
	counts, err := readyPartitions(ctx, client, cfg, nil)
	if err != nil {
		return topicLayout{}, err
	}
	var create []kafka.TopicConfig
	for _, topic := range []string{cfg.Topic, cfg.ChangelogTopic} {
		if counts[topic] > 0 {
			continue
		}
		n := cfg.Partitions
		if other := counts[cfg.Topic] + counts[cfg.ChangelogTopic]; other > 0 {
			n = other // the one that exists decides
		}
		tc := kafka.TopicConfig{Topic: topic, NumPartitions: n, ReplicationFactor: cfg.ReplicationFactor}
		if topic == cfg.ChangelogTopic {
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"},
				{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(maxStateRecordBytes)}}
		}
		create = append(create, tc)
	}
	if len(create) > 0 {
		res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: create})
		if err != nil {
			return topicLayout{}, fmt.Errorf("create topics: %w", err)
		}
		for _, tc := range create {
			if err := res.Errors[tc.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
				return topicLayout{}, fmt.Errorf("create topic %s: %w", tc.Topic, err)
			}
			log.Info("correlation: topic created", "topic", tc.Topic, "partitions", tc.NumPartitions)
		}
		if counts, err = readyPartitions(ctx, client, cfg, func(c map[string]int) bool {
			return c[cfg.Topic] > 0 && c[cfg.ChangelogTopic] > 0
		}); err != nil {
			return topicLayout{}, err
		}
	}
	if a, b := counts[cfg.Topic], counts[cfg.ChangelogTopic]; a != b {
		return topicLayout{}, fmt.Errorf("the match topic %s has %d partitions and the changelog topic %s has %d: they must have "+
			"the same number, since the state of match partition N is kept in changelog partition N", cfg.Topic, a,
			cfg.ChangelogTopic, b)
	}
	layout := topicLayout{partitions: counts[cfg.Topic]}
	if layout.matchBatch, err = checkTopicConfig(ctx, client, cfg.Topic, false); err != nil {
		return topicLayout{}, err
	}
	if layout.changelogBatch, err = checkTopicConfig(ctx, client, cfg.ChangelogTopic, true); err != nil {
		return topicLayout{}, err
	}
	return layout, nil
}

// readyPartitions returns the partition count of each of the two topics that exists (a missing one is not in the
// map), waiting while a topic has a partition without a leader (just created, here or by another instance) or until
// done says the counts will do.
func readyPartitions(ctx context.Context, client *kafka.Client, cfg KafkaConfig, done func(map[string]int) bool) (map[string]int, error) {
	for {
		counts, waiting, err := topicPartitions(ctx, client, cfg.Topic, cfg.ChangelogTopic)
		if err != nil {
			return nil, err
		}
		if waiting == nil && (done == nil || done(counts)) {
			return counts, nil
		}
		if waiting == nil {
			waiting = errors.New("topics not known to the brokers yet")
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (%w)", waiting, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// topicPartitions reads the topics' partition counts; waiting says why one is not ready (a partition without a
// leader).
func topicPartitions(ctx context.Context, client *kafka.Client, topics ...string) (counts map[string]int, waiting, err error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	counts = map[string]int{}
	for _, t := range md.Topics {
		switch {
		case errors.Is(t.Error, kafka.UnknownTopicOrPartition):
			continue
		case errors.Is(t.Error, kafka.LeaderNotAvailable):
			waiting = fmt.Errorf("topic %s: %w", t.Name, t.Error)
			continue
		case t.Error != nil:
			return nil, nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				waiting = fmt.Errorf("topic %s: partition %d has no leader yet", t.Name, p.ID)
			}
		}
		counts[t.Name] = len(t.Partitions)
	}
	return counts, waiting, nil
}

// checkTopicConfig reads the topic's cleanup.policy and max.message.bytes. A changelog must compact: deleting old
// segments would lose the state of groups that have not changed for the retention time. It returns the largest
// record batch the topic accepts (at most 16 MiB; 1 MiB when the broker does not say).
func checkTopicConfig(ctx context.Context, client *kafka.Client, topic string, changelog bool) (int, error) {
	res, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"cleanup.policy", "max.message.bytes"}}}})
	if err != nil {
		return 0, fmt.Errorf("describe the configuration of %s: %w", topic, err)
	}
	batch := 1 << 20
	for _, r := range res.Resources {
		if r.Error != nil {
			return 0, fmt.Errorf("describe the configuration of %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			switch e.ConfigName {
			case "cleanup.policy":
				if changelog && !slices.Contains(strings.Split(e.ConfigValue, ","), "compact") {
					return 0, fmt.Errorf("the changelog topic %s has cleanup.policy=%s; it must be compact (kafka-configs.sh "+
						"--alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact), or the state of "+
						"quiet groups is deleted with old segments", topic, e.ConfigValue, topic)
				}
			case "max.message.bytes":
				if n, err := strconv.Atoi(e.ConfigValue); err == nil && n > 0 {
					batch = min(n, maxStateRecordBytes)
				}
			}
		}
	}
	return batch, nil
}

// Package testenv gives integration tests (build tag integration) the addresses of real servers.
//
// testenv/run starts Apache Kafka and the search engines on loopback and exports their addresses in the VIGIL_TEST_*
// variables read here; a developer can instead set the variables to point at their own servers. A test calling a
// helper whose variable is missing is skipped, or fails when VIGIL_REQUIRE_INTEGRATION=1 (testenv/run sets it, so
// `make test` never passes by skipping).
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Environment variables read by the helpers.
const (
	EnvKafka             = "VIGIL_TEST_KAFKA"          // host:port of a PLAINTEXT listener
	EnvKafkaSASL         = "VIGIL_TEST_KAFKA_SASL"     // host:port of a SASL_PLAINTEXT listener with mechanism PLAIN
	EnvKafkaUser         = "VIGIL_TEST_KAFKA_USER"     // user on the SASL listener
	EnvKafkaPassword     = "VIGIL_TEST_KAFKA_PASSWORD" // its password
	EnvSearch            = "VIGIL_TEST_SEARCH"         // comma-separated flavor=url, e.g. opensearch=http://127.0.0.1:39201
	EnvRequire           = "VIGIL_REQUIRE_INTEGRATION" // "1": a missing variable fails the test instead of skipping it
	runHint              = "run the integration tests through `testenv/run -- go test -tags integration ./...`, or set it to your own server (see testenv/README.md)"
	topicReadyTimeout    = 30 * time.Second
	maxTopicNameFromTest = 120
)

// Search engine flavors accepted in VIGIL_TEST_SEARCH.
const (
	FlavorElasticsearch = "elasticsearch"
	FlavorOpenSearch    = "opensearch"
)

// SearchEngine is one search engine to test against.
type SearchEngine struct {
	Flavor string // FlavorElasticsearch or FlavorOpenSearch
	URL    string // base URL, e.g. http://127.0.0.1:39201
}

// Kafka returns the address (host:port) of a Kafka broker's PLAINTEXT listener, from VIGIL_TEST_KAFKA.
func Kafka(t testing.TB) string {
	t.Helper()
	return require(t, EnvKafka)
}

// KafkaSASL returns the address of a SASL_PLAINTEXT listener (mechanism PLAIN) and a user and password accepted
// there, from VIGIL_TEST_KAFKA_SASL, VIGIL_TEST_KAFKA_USER and VIGIL_TEST_KAFKA_PASSWORD.
func KafkaSASL(t testing.TB) (addr, user, password string) {
	t.Helper()
	return require(t, EnvKafkaSASL), require(t, EnvKafkaUser), require(t, EnvKafkaPassword)
}

// SearchEngines returns the search engines listed in VIGIL_TEST_SEARCH (comma-separated flavor=url). A malformed
// entry or an unknown flavor fails the test.
func SearchEngines(t testing.TB) []SearchEngine {
	t.Helper()
	engines, err := ParseSearch(require(t, EnvSearch))
	if err != nil {
		t.Fatalf("%s: %v", EnvSearch, err)
	}
	return engines
}

// ParseSearch parses the value of VIGIL_TEST_SEARCH.
func ParseSearch(value string) ([]SearchEngine, error) {
	var engines []SearchEngine
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		flavor, url, ok := strings.Cut(item, "=")
		if !ok || url == "" {
			return nil, fmt.Errorf("entry %q is not flavor=url", item)
		}
		if flavor != FlavorElasticsearch && flavor != FlavorOpenSearch {
			return nil, fmt.Errorf("entry %q: unknown flavor %q (want %s or %s)", item, flavor, FlavorElasticsearch, FlavorOpenSearch)
		}
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			return nil, fmt.Errorf("entry %q: url must start with http:// or https://", item)
		}
		engines = append(engines, SearchEngine{Flavor: flavor, URL: strings.TrimRight(url, "/")})
	}
	if len(engines) == 0 {
		return nil, errors.New("no search engine listed")
	}
	return engines, nil
}

func require(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%s is not set and %s=1: %s", name, EnvRequire, runHint)
	}
	t.Skipf("%s is not set: %s", name, runHint)
	return ""
}

// CreateTopic creates a topic with a unique name derived from the test's name on the broker at addr (PLAINTEXT),
// waits until every partition has a leader, deletes it when the test ends, and returns its name.
func CreateTopic(t testing.TB, addr string, partitions int) string {
	t.Helper()
	return CreateTopicWith(t, &kafka.Dialer{Timeout: 10 * time.Second}, addr, partitions)
}

// CreateTopicWith is CreateTopic with a given dialer (for SASL or TLS listeners).
func CreateTopicWith(t testing.TB, dialer *kafka.Dialer, addr string, partitions int) string {
	t.Helper()
	topic := UniqueName(t, "vigil-test-")
	createAndDelete(t, dialer, addr, topic, partitions)
	return topic
}

// CreateNamedTopic is CreateTopic with a name of the caller's (make it unique, e.g. with UniqueName): for
// programs that derive topic names from a pattern, such as vigil intake's partner.{tenant}.events.
func CreateNamedTopic(t testing.TB, addr, topic string, partitions int) {
	t.Helper()
	createAndDelete(t, &kafka.Dialer{Timeout: 10 * time.Second}, addr, topic, partitions)
}

// createAndDelete creates the topic, waits for its partitions' leaders, and deletes it when the test ends.
func createAndDelete(t testing.TB, dialer *kafka.Dialer, addr, topic string, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), topicReadyTimeout)
	defer cancel()
	if err := createTopic(ctx, dialer, addr, topic, partitions); err != nil {
		t.Fatalf("create topic %s on %s: %v", topic, addr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := withController(ctx, dialer, addr, func(c *kafka.Conn) error { return c.DeleteTopics(topic) }); err != nil {
			t.Logf("delete topic %s: %v", topic, err)
		}
	})
}

// CommittedOffsets returns the consumer group's committed offset of each of the topic's partitions (-1: none).
func CommittedOffsets(t testing.TB, addr, group, topic string, partitions int) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	c := &kafka.Client{Addr: kafka.TCP(addr)}
	res, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	out := make([]int64, partitions)
	for i := range out {
		out[i] = -1
	}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("offset fetch %s/%d: %v", topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// UniqueName returns prefix + the test's name (reduced to [a-z0-9-]) + a random suffix: usable as a Kafka topic
// or a search index name.
func UniqueName(t testing.TB, prefix string) string {
	var b strings.Builder
	b.WriteString(prefix)
	dash := false
	for _, r := range strings.ToLower(t.Name()) {
		if b.Len() >= len(prefix)+maxTopicNameFromTest {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	if !dash {
		b.WriteByte('-')
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	b.WriteString(hex.EncodeToString(suffix[:]))
	return b.String()
}

func createTopic(ctx context.Context, dialer *kafka.Dialer, addr, topic string, partitions int) error {
	err := withController(ctx, dialer, addr, func(c *kafka.Conn) error {
		return c.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1})
	})
	if err != nil {
		return err
	}
	// Wait until the metadata shows a leader for every partition: producing before that gets
	// LEADER_NOT_AVAILABLE or UNKNOWN_TOPIC_OR_PARTITION.
	for {
		err = checkLeaders(ctx, dialer, addr, topic, partitions)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("partitions not ready: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func checkLeaders(ctx context.Context, dialer *kafka.Dialer, addr, topic string, partitions int) error {
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return err
	}
	if len(parts) != partitions {
		return fmt.Errorf("%d of %d partitions in metadata", len(parts), partitions)
	}
	for _, p := range parts {
		if p.Leader.Host == "" || p.Leader.ID < 0 {
			return fmt.Errorf("partition %d has no leader", p.ID)
		}
	}
	return nil
}

// withController calls f on a connection to the cluster's controller (the broker that accepts CreateTopics).
func withController(ctx context.Context, dialer *kafka.Dialer, addr string, f func(*kafka.Conn) error) error {
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	controller, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("find controller: %w", err)
	}
	cconn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(controller.Host, strconv.Itoa(controller.Port)))
	if err != nil {
		return fmt.Errorf("dial controller: %w", err)
	}
	defer cconn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = cconn.SetDeadline(deadline)
	}
	return f(cconn)
}

// ReadRecords reads n records from the start of partition 0 of topic (a single-partition topic) on the broker at
// addr, waiting up to a minute for them to arrive.
func ReadRecords(t testing.TB, addr, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("got %d records on %s, want %d: %v", len(out), topic, n, err)
		}
		out = append(out, m)
	}
	return out
}

// AllRecords reads every record of partition 0 of topic (a single-partition topic), up to its end at the time of
// the call.
func AllRecords(t testing.TB, addr, topic string) []kafka.Message {
	t.Helper()
	conn, err := kafka.DialLeader(context.Background(), "tcp", addr, topic, 0)
	if err != nil {
		t.Fatalf("dial the leader of %s: %v", topic, err)
	}
	first, last, err := conn.ReadOffsets()
	conn.Close()
	if err != nil {
		t.Fatalf("offsets of %s: %v", topic, err)
	}
	return ReadRecords(t, addr, topic, int(last-first))
}

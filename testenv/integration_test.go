//go:build integration

package testenv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	urlpkg "net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"

	"github.com/vigilsoc/vigil/testenv"
)

// kafkaSide is how a test reaches one Kafka listener.
type kafkaSide struct {
	addr      string
	dialer    *kafka.Dialer // for Reader, admin connections
	transport *kafka.Transport
}

func plaintextSide(t *testing.T) kafkaSide {
	addr := testenv.Kafka(t)
	return kafkaSide{
		addr:      addr,
		dialer:    &kafka.Dialer{Timeout: 10 * time.Second},
		transport: &kafka.Transport{DialTimeout: 10 * time.Second},
	}
}

func saslSide(t *testing.T, password string) kafkaSide {
	addr, user, realPassword := testenv.KafkaSASL(t)
	if password == "" {
		password = realPassword
	}
	var mech sasl.Mechanism = plain.Mechanism{Username: user, Password: password}
	return kafkaSide{
		addr:      addr,
		dialer:    &kafka.Dialer{Timeout: 10 * time.Second, SASLMechanism: mech},
		transport: &kafka.Transport{DialTimeout: 10 * time.Second, SASL: mech},
	}
}

func TestKafkaConsumerGroupPlaintext(t *testing.T) {
	t.Parallel()
	testConsumerGroup(t, plaintextSide(t))
}

func TestKafkaConsumerGroupSASLPlain(t *testing.T) {
	t.Parallel()
	testConsumerGroup(t, saslSide(t, ""))
}

// testConsumerGroup produces with a Writer, consumes with a consumer-group Reader (FetchMessage + CommitMessages),
// then checks that a second Reader of the same group resumes after the committed offsets.
func testConsumerGroup(t *testing.T, side kafkaSide) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const partitions = 3
	topic := testenv.CreateTopicWith(t, side.dialer, side.addr, partitions)
	group := testenv.UniqueName(t, "vigil-group-")

	w := &kafka.Writer{
		Addr:         kafka.TCP(side.addr),
		Topic:        topic,
		Balancer:     &kafka.RoundRobin{},
		BatchTimeout: 10 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		Transport:    side.transport,
	}
	defer w.Close()

	write := func(from, to int) map[string]bool {
		t.Helper()
		want := map[string]bool{}
		var msgs []kafka.Message
		for i := from; i < to; i++ {
			v := fmt.Sprintf("event-%03d", i)
			want[v] = true
			msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte(v)})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("WriteMessages: %v", err)
		}
		return want
	}

	newReader := func() *kafka.Reader {
		return kafka.NewReader(kafka.ReaderConfig{
			Brokers:           []string{side.addr},
			GroupID:           group,
			Topic:             topic,
			Dialer:            side.dialer,
			StartOffset:       kafka.FirstOffset,
			MaxWait:           250 * time.Millisecond,
			ReadBatchTimeout:  250 * time.Millisecond,
			HeartbeatInterval: 500 * time.Millisecond,
			CommitInterval:    0, // synchronous CommitMessages
		})
	}

	read := func(r *kafka.Reader, n int) map[string]bool {
		t.Helper()
		got := map[string]bool{}
		for len(got) < n {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatalf("FetchMessage after %d of %d messages: %v", len(got), n, err)
			}
			if got[string(m.Value)] {
				t.Errorf("message %q delivered twice", m.Value)
			}
			got[string(m.Value)] = true
			if err := r.CommitMessages(ctx, m); err != nil {
				t.Fatalf("CommitMessages: %v", err)
			}
		}
		return got
	}

	start := time.Now()
	want := write(0, 30)
	r := newReader()
	got := read(r, len(want))
	t.Logf("first reader: %d messages in %v (includes the group join)", len(got), time.Since(start).Round(time.Millisecond))
	if err := r.Close(); err != nil {
		t.Fatalf("close reader: %v", err)
	}
	assertSameSet(t, "first reader", got, want)

	// The group's committed offsets: a new member resumes after them and sees only new messages.
	want = write(30, 36)
	r = newReader()
	defer r.Close()
	got = read(r, len(want))
	assertSameSet(t, "resumed reader", got, want)

	// Nothing else arrives (no message before the committed offsets is delivered again).
	shortCtx, shortCancel := context.WithTimeout(ctx, 2*time.Second)
	defer shortCancel()
	if m, err := r.FetchMessage(shortCtx); err == nil {
		t.Errorf("unexpected extra message %q at partition %d offset %d", m.Value, m.Partition, m.Offset)
	}
}

func assertSameSet(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d messages, want %d", what, len(got), len(want))
	}
	for v := range want {
		if !got[v] {
			t.Errorf("%s: missing %q", what, v)
		}
	}
}

func TestKafkaSASLWrongPassword(t *testing.T) {
	t.Parallel()
	side := saslSide(t, "not-the-password")
	const bound = 20 * time.Second

	t.Run("dialer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		start := time.Now()
		conn, err := side.dialer.DialContext(ctx, "tcp", side.addr)
		if err == nil {
			conn.Close()
			t.Fatal("dial with a wrong password succeeded")
		}
		if ctx.Err() != nil {
			t.Fatalf("dial hung until the context deadline (%v): %v", time.Since(start), err)
		}
		if !errors.Is(err, kafka.SASLAuthenticationFailed) {
			t.Errorf("error is not SASLAuthenticationFailed: %v", err)
		}
		t.Logf("refused in %v: %v", time.Since(start).Round(time.Millisecond), err)
	})

	t.Run("writer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		w := &kafka.Writer{
			Addr:         kafka.TCP(side.addr),
			Topic:        "vigil-test-never-created",
			BatchTimeout: 10 * time.Millisecond,
			MaxAttempts:  2,
			Transport:    side.transport,
		}
		defer w.Close()
		start := time.Now()
		err := w.WriteMessages(ctx, kafka.Message{Value: []byte("x")})
		if err == nil {
			t.Fatal("write with a wrong password succeeded")
		}
		if ctx.Err() != nil {
			t.Fatalf("write hung until the context deadline (%v): %v", time.Since(start), err)
		}
		if !errors.Is(err, kafka.SASLAuthenticationFailed) {
			t.Errorf("error is not SASLAuthenticationFailed: %v", err)
		}
		t.Logf("refused in %v: %v", time.Since(start).Round(time.Millisecond), err)
	})

	t.Run("reader", func(t *testing.T) {
		// A consumer-group Reader retries in the background and reports through ErrorLogger: the caller's
		// context bounds FetchMessage.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var mu sync.Mutex
		var logged []string
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: []string{side.addr},
			GroupID: testenv.UniqueName(t, "vigil-group-"),
			Topic:   "vigil-test-never-created",
			Dialer:  side.dialer,
			ErrorLogger: kafka.LoggerFunc(func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				logged = append(logged, fmt.Sprintf(format, args...))
			}),
		})
		defer r.Close()
		start := time.Now()
		_, err := r.FetchMessage(ctx)
		if err == nil {
			t.Fatal("fetch with a wrong password succeeded")
		}
		if elapsed := time.Since(start); elapsed > 10*time.Second {
			t.Fatalf("FetchMessage returned only after %v", elapsed)
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(strings.Join(logged, "\n"), "SASL") {
			t.Errorf("reader's error log does not mention SASL: %q", logged)
		}
	})
}

// searchClient is what the sink needs from go-elasticsearch for one flavor.
type searchClient struct {
	transport esapi.Transport
}

func newSearchClient(t *testing.T, engine testenv.SearchEngine) searchClient {
	switch engine.Flavor {
	case testenv.FlavorElasticsearch:
		// The full client, with its product check (X-Elastic-Product: Elasticsearch).
		es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{engine.URL}})
		if err != nil {
			t.Fatalf("elasticsearch.NewClient: %v", err)
		}
		return searchClient{transport: es}
	case testenv.FlavorOpenSearch:
		// The full client refuses OpenSearch (no product header): use its transport layer with the esapi requests.
		tp, err := elastictransport.New(elastictransport.Config{URLs: []*urlpkg.URL{mustURL(t, engine.URL)}})
		if err != nil {
			t.Fatalf("elastictransport.New: %v", err)
		}
		return searchClient{transport: tp}
	default:
		t.Fatalf("unknown flavor %q", engine.Flavor)
		return searchClient{}
	}
}

func TestSearchBulkIndexAndSearch(t *testing.T) {
	engines := testenv.SearchEngines(t)
	for _, engine := range engines {
		t.Run(engine.Flavor, func(t *testing.T) {
			t.Parallel()
			testBulkIndexAndSearch(t, engine)
		})
	}
}

func testBulkIndexAndSearch(t *testing.T, engine testenv.SearchEngine) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newSearchClient(t, engine)
	index := testenv.UniqueName(t, "vigil-test-")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := esapi.IndicesDeleteRequest{Index: []string{index}}.Do(ctx, c.transport)
		if err != nil {
			t.Logf("delete index %s: %v", index, err)
			return
		}
		res.Body.Close()
	})

	// Index creation with an explicit mapping, as the sink's template would give.
	mapping := `{"settings":{"number_of_shards":1,"number_of_replicas":0},
		"mappings":{"properties":{"rule":{"type":"keyword"},"host":{"type":"keyword"},"seq":{"type":"long"},"@timestamp":{"type":"date"}}}}`
	res, err := esapi.IndicesCreateRequest{Index: index, Body: strings.NewReader(mapping)}.Do(ctx, c.transport)
	mustOK(t, "create index", res, err)

	const n = 50
	bulk := func() (added, failed uint64, statuses map[int]int) {
		t.Helper()
		statuses = map[int]int{}
		var mu sync.Mutex
		bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
			Client:     c.transport,
			Index:      index,
			NumWorkers: 2,
			FlushBytes: 4096, // several bulk requests
			OnError:    func(_ context.Context, err error) { t.Errorf("bulk indexer: %v", err) },
		})
		if err != nil {
			t.Fatalf("NewBulkIndexer: %v", err)
		}
		for i := 0; i < n; i++ {
			rule := "ssh-bruteforce"
			if i%5 == 0 {
				rule = "port-scan"
			}
			doc := fmt.Sprintf(`{"@timestamp":"2026-01-02T03:04:%02dZ","rule":%q,"host":"host-%d","seq":%d}`, i%60, rule, i%7, i)
			err := bi.Add(ctx, esutil.BulkIndexerItem{
				Action:     "create",
				DocumentID: fmt.Sprintf("alert-%03d", i),
				Body:       strings.NewReader(doc),
				OnSuccess: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem) {
					mu.Lock()
					statuses[r.Status]++
					mu.Unlock()
				},
				OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
					mu.Lock()
					statuses[r.Status]++
					mu.Unlock()
				},
			})
			if err != nil {
				t.Fatalf("Add: %v", err)
			}
		}
		if err := bi.Close(ctx); err != nil {
			t.Fatalf("bulk indexer Close: %v", err)
		}
		st := bi.Stats()
		return st.NumAdded, st.NumFailed, statuses
	}

	added, failed, statuses := bulk()
	if added != n || failed != 0 || statuses[201] != n {
		t.Fatalf("first bulk: added %d failed %d statuses %v, want %d created", added, failed, statuses, n)
	}
	// Replaying the same deterministic _ids with create: every item is a 409 version conflict (success for us).
	added, failed, statuses = bulk()
	if added != n || failed != n || statuses[409] != n {
		t.Fatalf("replayed bulk: added %d failed %d statuses %v, want %d conflicts", added, failed, statuses, n)
	}

	res, err = esapi.IndicesRefreshRequest{Index: []string{index}}.Do(ctx, c.transport)
	mustOK(t, "refresh", res, err)

	query := `{"query":{"term":{"rule":"port-scan"}},"sort":[{"seq":"asc"}],"size":100,"track_total_hits":true}`
	res, err = esapi.SearchRequest{Index: []string{index}, Body: strings.NewReader(query)}.Do(ctx, c.transport)
	body := mustOK(t, "search", res, err)
	var sr struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
			Hits []struct {
				ID     string `json:"_id"`
				Source struct {
					Seq int `json:"seq"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(body, &sr); err != nil {
		t.Fatalf("decode search response: %v\n%s", err, body)
	}
	var ids []string
	for _, h := range sr.Hits.Hits {
		ids = append(ids, h.ID)
		if h.Source.Seq%5 != 0 {
			t.Errorf("hit %s has seq %d, not a port-scan", h.ID, h.Source.Seq)
		}
	}
	if sr.Hits.Total.Value != n/5 || len(ids) != n/5 || !sort.StringsAreSorted(ids) {
		t.Errorf("search: total %d, ids %v; want %d ids in order", sr.Hits.Total.Value, ids, n/5)
	}

	// Counting through the esapi request as well (what the sink's health checks use).
	res, err = esapi.CountRequest{Index: []string{index}}.Do(ctx, c.transport)
	body = mustOK(t, "count", res, err)
	var cr struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(body, &cr); err != nil || cr.Count != n {
		t.Errorf("count: %d (%v), want %d", cr.Count, err, n)
	}
}

// TestSearchFullClientProductCheck pins the behaviour the OpenSearch flavour works around: the full go-elasticsearch
// v8 client accepts Elasticsearch (which sends X-Elastic-Product) and refuses OpenSearch.
func TestSearchFullClientProductCheck(t *testing.T) {
	for _, engine := range testenv.SearchEngines(t) {
		t.Run(engine.Flavor, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{engine.URL}})
			if err != nil {
				t.Fatal(err)
			}
			res, err := es.Info(es.Info.WithContext(ctx))
			if res != nil {
				res.Body.Close()
			}
			switch engine.Flavor {
			case testenv.FlavorElasticsearch:
				if err != nil {
					t.Fatalf("full client refused Elasticsearch: %v", err)
				}
			case testenv.FlavorOpenSearch:
				if err == nil || !strings.Contains(err.Error(), "not Elasticsearch") {
					t.Fatalf("full client on OpenSearch: err = %v, want the unknown-product error", err)
				}
			}
		})
	}
}

func mustOK(t *testing.T, what string, res *esapi.Response, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s: read body: %v", what, err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", what, res.StatusCode, bytes.TrimSpace(body))
	}
	return body
}

func mustURL(t *testing.T, s string) *urlpkg.URL {
	t.Helper()
	u, err := urlpkg.Parse(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return u
}

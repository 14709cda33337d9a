//go:build integration

package intake

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/ingest"
	"github.com/vigilsoc/vigil/kafkaconn"
	"github.com/vigilsoc/vigil/testenv"
)

// realServer serves cfg with the kafka-go writer on the real broker.
func realServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := serve(t, cfg, Options{})
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// consume reads n events the way `vigil run` does (ingest.Kafka), with the known tenants acme and globex.
func consume(t testing.TB, addr string, topics []ingest.KafkaTopic, n int) []*vigil.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src, err := ingest.NewKafka(ctx, "intake-test", ingest.KafkaConfig{
		Config: kafkaconn.Config{Brokers: []string{addr}}, GroupID: testenv.UniqueName(t, "g-"),
		Topics: topics}, ingest.KafkaOptions{Tenants: []string{"acme", "globex"}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []*vigil.Event
	for len(out) < n {
		evs, ack, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, evs...)
		ack(ctx)
	}
	return out
}

func multiTenantConfig(t testing.TB, addr, topic string) Config {
	cfg := testConfig(t)
	cfg.Kafka = KafkaConfig{Config: kafkaConn(addr), Topic: topic, MultiTenant: true}
	return cfg
}

func TestIntegrationBulkIndexer(t *testing.T) {
	addr := testenv.Kafka(t)
	topic := testenv.CreateTopic(t, addr, 3)
	s := realServer(t, multiTenantConfig(t, addr, topic))
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{"http://" + s.Addr()}, APIKey: tokenAcme})
	if err != nil {
		t.Fatal(err)
	}
	var failed, ok atomic.Int64 // the indexer's workers call back concurrently
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: es, Index: "logs-partner", FlushBytes: 4096,
		OnError: func(_ context.Context, err error) { t.Errorf("bulk indexer: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		doc := fmt.Sprintf(`{"event":{"code":"%d"},"organization":{"id":"globex"},"message":"doc %d"}`, i, i)
		err := bi.Add(context.Background(), esutil.BulkIndexerItem{Action: "create", Body: strings.NewReader(doc),
			OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) { ok.Add(1) },
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
				failed.Add(1)
				t.Errorf("item failed: %v %v", r.Error, err)
			}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := bi.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ok.Load() != n || failed.Load() != 0 {
		t.Fatalf("got %d indexed, %d failed, want %d and 0", ok.Load(), failed.Load(), n)
	}
	evs := consume(t, addr, []ingest.KafkaTopic{{Name: topic, MultiTenant: true}}, n)
	for _, ev := range evs {
		if ev.Invalid != "" || ev.Tenant != "acme" {
			t.Fatalf("got tenant %q invalid %q, want acme (the token's, not the payload's globex)", ev.Tenant, ev.Invalid)
		}
	}
	if len(evs) != n {
		t.Errorf("got %d events, want %d", len(evs), n)
	}
}

func TestIntegrationHECPerTenantTopics(t *testing.T) {
	addr := testenv.Kafka(t)
	prefix := testenv.UniqueName(t, "partner-")
	for _, tenant := range []string{"acme", "globex"} {
		testenv.CreateNamedTopic(t, addr, prefix+"."+tenant, 1)
	}
	cfg := testConfig(t)
	cfg.Kafka = KafkaConfig{Config: kafkaConn(addr), Topic: prefix + ".{tenant}"}
	s := realServer(t, cfg)
	var body bytes.Buffer
	for i := range 100 {
		fmt.Fprintf(&body, `{"time":%d,"host":"web%d","sourcetype":"access_combined","event":{"status":200,"tenant":"acme"}}`, 1700000000+i, i)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr()+"/services/collector/event", &body)
	req.Header.Set("Authorization", "Splunk "+tokenGlobex)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("got %d, want 200", res.StatusCode)
	}
	evs := consume(t, addr, []ingest.KafkaTopic{{Name: prefix + ".globex", Tenant: "globex"},
		{Name: prefix + ".acme", Tenant: "acme"}}, 100)
	for _, ev := range evs {
		if ev.Tenant != "globex" || ev.Origin.Topic != prefix+".globex" {
			t.Fatalf("got tenant %s topic %s, want globex on %s.globex", ev.Tenant, ev.Origin.Topic, prefix)
		}
	}
}

func TestIntegrationKafkaUnreachable(t *testing.T) {
	cfg := testConfig(t)
	cfg.Kafka = KafkaConfig{Config: kafkaConn("127.0.0.1:1"), Topic: "partner.{tenant}.events",
		WriteTimeout: 2 * time.Second}
	cfg.Kafka.ConnectTimeout = time.Second
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	code, resp, h := post(t, "http://"+s.Addr()+"/services/collector", "Splunk "+tokenAcme, `{"event":1}`)
	if code != 503 || h.Get("Retry-After") == "" {
		t.Errorf("got %d %s, want 503 with Retry-After", code, resp)
	}
	if err := s.Ready(context.Background()); err == nil {
		t.Error("got ready with Kafka unreachable, want not ready")
	}
}

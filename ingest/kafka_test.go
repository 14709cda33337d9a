package ingest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/formats"
	"github.com/vigilsoc/vigil/kafkaconn"
)

func TestOffsetTrackerCommitsOnlyTheDonePrefix(t *testing.T) {
	tp := topicPartition{"t", 0}
	tests := []struct {
		name     string
		spans    []int64 // batch ends, in read order
		complete []int64 // acks, in this order
		want     int64   // committable offset afterwards; -1: nothing to commit
	}{
		{"in order", []int64{10, 20, 30}, []int64{10, 20, 30}, 30},
		{"first still in flight", []int64{10, 20, 30}, []int64{30, 20}, -1},
		{"gap in the middle", []int64{10, 20, 30}, []int64{10, 30}, 10},
		{"gap closed", []int64{10, 20, 30}, []int64{30, 10, 20}, 30},
		{"none acked", []int64{10}, nil, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newOffsetTracker()
			tr.assign(tp, 0)
			for _, s := range tc.spans {
				tr.add(tp, s)
			}
			for _, c := range tc.complete {
				tr.complete(tp, c)
			}
			got := int64(-1)
			if c := tr.committable(); c != nil {
				got = c["t"][0]
			}
			if got != tc.want {
				t.Errorf("committable: got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestOffsetTrackerCommittedAndLag(t *testing.T) {
	tr := newOffsetTracker()
	a, b := topicPartition{"a", 0}, topicPartition{"a", 1}
	tr.assign(a, 100)
	tr.assign(b, -1) // no committed offset yet: the first record read is the start
	tr.fetchedUpTo(b, 40, 50)
	tr.add(a, 110)
	tr.complete(a, 110)
	c := tr.committable()
	if len(c) != 1 || c["a"][0] != 110 || len(c["a"]) != 1 {
		t.Fatalf("committable: got %v, want a/0 at 110 only", c)
	}
	tr.committed(c)
	if c := tr.committable(); c != nil {
		t.Errorf("committable after commit: got %v, want nothing", c)
	}
	tr.setEnd(a, 150)
	lags := tr.lags()
	want := []PartitionLag{{Topic: "a", Partition: 0, Committed: 110, Fetched: 100, End: 150, Lag: 40},
		{Topic: "a", Partition: 1, Committed: -1, Fetched: 41, End: 50, Lag: 10}} // a/1: nothing committed yet
	if fmt.Sprint(lags) != fmt.Sprint(want) {
		t.Errorf("lags: got %+v, want %+v", lags, want)
	}
}

func TestKafkaConfigValidate(t *testing.T) {
	good := func() KafkaConfig {
		return KafkaConfig{Config: kafkaconn.Config{Brokers: []string{"k1:9092", "k2:9092"}},
			Topics: []KafkaTopic{{Name: "a", Tenant: "acme"}, {Name: "b", MultiTenant: true}}}
	}
	tests := []struct {
		name   string
		change func(*KafkaConfig)
		want   string // "" for valid
	}{
		{"valid", func(*KafkaConfig) {}, ""},
		{"no brokers", func(c *KafkaConfig) { c.Brokers = nil }, "brokers: at least one"},
		{"broker without port", func(c *KafkaConfig) { c.Brokers = []string{"k1"} }, `"k1" is not host:port`},
		{"no topics", func(c *KafkaConfig) { c.Topics = nil }, "topics: at least one"},
		{"topic twice", func(c *KafkaConfig) { c.Topics[1] = KafkaTopic{Name: "a", Tenant: "x"} }, "listed twice"},
		{"tenant and multi", func(c *KafkaConfig) { c.Topics[0].MultiTenant = true }, "exactly one of tenant and multi_tenant"},
		{"neither tenant nor multi", func(c *KafkaConfig) { c.Topics[1].MultiTenant = false }, "exactly one of tenant"},
		{"bad start", func(c *KafkaConfig) { c.StartOffset = "oldest" }, "neither earliest nor latest"},
		{"alert_id event_id", func(c *KafkaConfig) { c.Topics[0].AlertID = "event_id" }, ""},
		{"bad alert_id", func(c *KafkaConfig) { c.Topics[0].AlertID = "id" }, `alert_id "id": want content (the default) or event_id`},
		{"latest", func(c *KafkaConfig) { c.StartOffset = "latest" }, ""},
		{"sasl without user", func(c *KafkaConfig) { c.SASL = kafkaconn.SASL{Mechanism: "PLAIN", Password: "p"} }, "sasl.username"},
		{"sasl bad mechanism", func(c *KafkaConfig) { c.SASL = kafkaconn.SASL{Mechanism: "GSSAPI", Username: "u", Password: "p"} }, "GSSAPI"},
		{"sasl two passwords", func(c *KafkaConfig) {
			c.SASL = kafkaconn.SASL{Mechanism: "scram-sha-512", Username: "u", Password: "p", PasswordFile: "f"}
		}, "exactly one of password and password_file"},
		{"sasl scram", func(c *KafkaConfig) {
			c.SASL = kafkaconn.SASL{Mechanism: "scram-sha-256", Username: "u", Password: "p"}
		}, ""},
		{"credentials without mechanism", func(c *KafkaConfig) { c.SASL.Username = "u" }, "no mechanism"},
		{"cert without key", func(c *KafkaConfig) { c.TLS = kafkaconn.TLS{Enabled: true, CertFile: "c.pem"} }, "cert_file and key_file"},
		{"tls settings while disabled", func(c *KafkaConfig) { c.TLS.CAFile = "ca.pem" }, "tls.enabled is false"},
		{"revoke above rebalance", func(c *KafkaConfig) { c.RevokeTimeout = time.Minute }, "revoke_timeout"},
		{"heartbeat above session", func(c *KafkaConfig) { c.HeartbeatInterval = time.Minute }, "heartbeat_interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestKafkaConfigCheckTenants(t *testing.T) {
	c := KafkaConfig{Topics: []KafkaTopic{{Name: "a", Tenant: "acme"}, {Name: "b", MultiTenant: true}}}
	if err := c.CheckTenants(nil); err == nil || !strings.Contains(err.Error(), "multi_tenant needs the list") {
		t.Errorf("multi-tenant topic without known tenants: got %v", err)
	}
	if err := c.CheckTenants([]string{"globex"}); err == nil || !strings.Contains(err.Error(), `"acme" is not in the list`) {
		t.Errorf("unknown fixed tenant: got %v", err)
	}
	if err := c.CheckTenants([]string{"acme", "globex"}); err != nil {
		t.Errorf("got %v, want nil", err)
	}
}

// TestKafkaEvent: records decode exactly like file records, and each kind of bad record gets its reason.
func TestKafkaEvent(t *testing.T) {
	cfg := KafkaConfig{MaxRecordBytes: 64, TenantHeader: "x-tenant"}
	k := &Kafka{name: "src", cfg: cfg, dec: &KafkaDecoder{name: "src", header: cfg.TenantHeader, maxBytes: cfg.MaxRecordBytes,
		fixed: map[string]string{"fixed": "acme"}, known: map[string]bool{"acme": true, "globex": true}}}
	hdr := func(v string) []kafka.Header {
		return []kafka.Header{{Key: "other", Value: []byte("x")}, {Key: "x-tenant", Value: []byte(v)}}
	}
	tests := []struct {
		name, topic, value string
		headers            []kafka.Header
		tenant, invalid    string // invalid: the expected prefix of Event.Invalid
	}{
		{"fixed tenant", "fixed", `{"a.b":1}`, nil, "acme", ""},
		{"header tenant", "multi", `{"a":1}`, hdr("globex"), "globex", ""},
		{"header on a fixed topic is ignored", "fixed", `{"a":1}`, hdr("globex"), "acme", ""},
		{"unknown tenant", "multi", `{"a":1}`, hdr("initech"), "", `tenant: unknown tenant "initech" in header "x-tenant"`},
		{"no tenant header", "multi", `{"a":1}`, nil, "", `tenant: no "x-tenant" header on multi-tenant topic multi`},
		{"not json", "fixed", `hello`, nil, "acme", "decode: "},
		{"array", "fixed", `[1]`, nil, "acme", "decode: not a JSON object"},
		{"empty", "fixed", ``, nil, "acme", "decode: empty input"},
		{"oversize", "fixed", `{"a":"` + strings.Repeat("x", 64) + `"}`, nil, "acme", "oversize: record too large: 72 bytes, more than 64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at := time.Unix(1700000000, 0)
			ev := k.event(kafka.Message{Topic: tc.topic, Partition: 2, Offset: 7, Value: []byte(tc.value), Headers: tc.headers, Time: at})
			if ev.Tenant != tc.tenant {
				t.Errorf("tenant: got %q, want %q", ev.Tenant, tc.tenant)
			}
			if !strings.HasPrefix(ev.Invalid, tc.invalid) || (tc.invalid == "") != (ev.Invalid == "") {
				t.Errorf("invalid: got %q, want prefix %q", ev.Invalid, tc.invalid)
			}
			if string(ev.Raw) != tc.value {
				t.Errorf("raw: got %q, want the record's bytes %q", ev.Raw, tc.value)
			}
			want := vigil.Origin{Source: "src", Topic: tc.topic, Partition: 2, Offset: 7, Time: at}
			if ev.Origin != want {
				t.Errorf("origin: got %+v, want %+v", ev.Origin, want)
			}
			if tc.invalid == "" {
				file := &vigil.Event{Raw: []byte(tc.value)}
				DecodeInto(file, nil)
				if fmt.Sprint(ev.Fields.Map()) != fmt.Sprint(file.Fields.Map()) {
					t.Errorf("fields: got %v, want %v as a file record decodes", ev.Fields.Map(), file.Fields.Map())
				}
			}
		})
	}
}

// fakeKafka starts an in-process Kafka with the given topics of 2 partitions each.
func fakeKafka(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func fakeConfig(addr, group string, topics ...KafkaTopic) KafkaConfig {
	return KafkaConfig{Config: kafkaconn.Config{Brokers: []string{addr}}, GroupID: group, Topics: topics,
		BatchSize: 10, BatchWait: 200 * time.Millisecond, SessionTimeout: 6 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: 5 * time.Second, RevokeTimeout: time.Second,
		LagInterval: 100 * time.Millisecond}
}

func produceTo(t *testing.T, addr, topic string, partition, n int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, BatchTimeout: time.Millisecond,
		Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return partition })}
	defer w.Close()
	var msgs []kafka.Message
	for i := 0; i < n; i++ {
		msgs = append(msgs, kafka.Message{Value: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func groupOffset(t *testing.T, addr, group, topic string, partition int) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := (&kafka.Client{Addr: kafka.TCP(addr)}).OffsetFetch(ctx,
		&kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {partition}}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	for _, p := range res.Topics[topic] {
		if p.Partition == partition {
			return p.CommittedOffset
		}
	}
	return -1
}

func newKafka(t *testing.T, cfg KafkaConfig, opts KafkaOptions) *Kafka {
	t.Helper()
	k, err := NewKafka(context.Background(), "src", cfg, opts)
	if err != nil {
		t.Fatalf("NewKafka: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// TestKafkaAcksOutOfOrder: batches acked out of order commit only the contiguous done prefix of the partition.
func TestKafkaAcksOutOfOrder(t *testing.T) {
	addr := fakeKafka(t, kfake.SeedTopics(1, "t"))
	produceTo(t, addr, "t", 0, 30)
	reg := prometheus.NewRegistry()
	k := newKafka(t, fakeConfig(addr, "g", KafkaTopic{Name: "t", Tenant: "acme"}), KafkaOptions{Registerer: reg})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var acks []vigil.AckFunc
	var ends []int64
	for n := 0; n < 30; {
		evs, ack, err := k.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		n += len(evs)
		acks = append(acks, ack)
		ends = append(ends, evs[len(evs)-1].Origin.Offset+1)
	}
	if len(acks) < 3 {
		t.Fatalf("got %d batches, want at least 3 (batch size 10)", len(acks))
	}
	for i := len(acks) - 1; i >= 1; i-- { // every batch but the first
		if err := acks[i](ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := groupOffset(t, addr, "g", "t", 0); got != -1 {
		t.Errorf("committed %d while the first batch is in flight, want nothing", got)
	}
	if err := acks[0](ctx); err != nil {
		t.Fatal(err)
	}
	if got := groupOffset(t, addr, "g", "t", 0); got != 30 {
		t.Errorf("committed %d after every ack, want 30", got)
	}
	// Metrics: the position and counters of the partition.
	var names []string
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"vigil_kafka_records_total", "vigil_kafka_commits_total", "vigil_kafka_committed_offset"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("metric %s missing from %v", want, names)
		}
	}
	time.Sleep(300 * time.Millisecond) // the lag monitor reads the end offset
	if l := k.Lag(); len(l) != 1 || l[0].Lag != 0 || l[0].Committed != 30 || l[0].End != 30 {
		t.Errorf("lag: got %+v, want partition 0 committed and ended at 30, lag 0", l)
	}
}

// TestKafkaLateAck: an ack that comes after the generation ended commits nothing.
func TestKafkaLateAck(t *testing.T) {
	addr := fakeKafka(t, kfake.SeedTopics(2, "t"))
	produceTo(t, addr, "t", 0, 20)
	produceTo(t, addr, "t", 1, 20)
	cfg := fakeConfig(addr, "g", KafkaTopic{Name: "t", Tenant: "acme"})
	a := newKafka(t, cfg, KafkaOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, ack, err := a.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := newKafka(t, cfg, KafkaOptions{})
	for a.Stats.Generations.Load() < 2 || len(a.Lag())+len(b.Lag()) != 2 {
		if ctx.Err() != nil {
			t.Fatal("no rebalance within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := ack(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Stats.LateAcks.Load() != 1 {
		t.Errorf("late acks: got %d, want 1", a.Stats.LateAcks.Load())
	}
	for p := range 2 {
		if got := groupOffset(t, addr, "g", "t", p); got != -1 {
			t.Errorf("partition %d: committed %d by a late ack, want nothing", p, got)
		}
	}
}

func TestKafkaStartupErrors(t *testing.T) {
	addr := fakeKafka(t, kfake.SeedTopics(1, "t"), kfake.EnableSASL(), kfake.Superuser("PLAIN", "vigil", "right"))
	cfg := fakeConfig(addr, "g", KafkaTopic{Name: "t", Tenant: "acme"})
	cfg.SASL = kafkaconn.SASL{Mechanism: "PLAIN", Username: "vigil", Password: "wrong"}
	start := time.Now()
	_, err := NewKafka(context.Background(), "src", cfg, KafkaOptions{})
	// kfake closes the connection on a failed authentication where a real broker answers SASL_AUTHENTICATION_FAILED
	// (the integration test checks that message); here only the fast failure is checked.
	if err == nil || !strings.Contains(err.Error(), "connect to "+addr) {
		t.Errorf("wrong password: got %v, want a start-up error", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("wrong password reported after %s", took)
	}

	cfg.SASL.Password = "right"
	cfg.Topics = []KafkaTopic{{Name: "t", Tenant: "acme"}, {Name: "missing", Tenant: "acme"}}
	if _, err := NewKafka(context.Background(), "src", cfg, KafkaOptions{}); err == nil ||
		!strings.Contains(err.Error(), "topics do not exist: missing") {
		t.Errorf("missing topic: got %v", err)
	}

	cfg.Topics = cfg.Topics[:1]
	cfg.Brokers = []string{"127.0.0.1:1"}
	cfg.ConnectTimeout = time.Second
	if _, err := NewKafka(context.Background(), "src", cfg, KafkaOptions{}); err == nil ||
		!strings.Contains(err.Error(), "connect to 127.0.0.1:1") {
		t.Errorf("no broker: got %v", err)
	}
}

// testPKI writes a CA, a server certificate for the name kafka.test and a client certificate into dir, and returns
// the server's TLS configuration (which requires a client certificate from the CA).
func testPKI(t *testing.T, dir string) *tls.Config {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, tmpl *x509.Certificate) tls.Certificate {
		key := newKey()
		tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = big.NewInt(serial), time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	server := issue(2, &x509.Certificate{Subject: pkix.Name{CommonName: "kafka.test"}, DNSNames: []string{"kafka.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	client := issue(3, &x509.Certificate{Subject: pkix.Name{CommonName: "vigil"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", caDER)
	write("client.pem", "CERTIFICATE", client.Certificate[0])
	keyDER, _ := x509.MarshalECPrivateKey(client.PrivateKey.(*ecdsa.PrivateKey))
	write("client.key", "EC PRIVATE KEY", keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{Certificates: []tls.Certificate{server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
}

// TestKafkaTLSAndSASL: the source and the start-up check work over TLS with a client certificate and a server name,
// with each SASL mechanism, the password read from a file.
func TestKafkaTLSAndSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			dir := t.TempDir()
			serverTLS := testPKI(t, dir)
			addr := fakeKafka(t, kfake.SeedTopics(1, "t"), kfake.TLS(serverTLS), kfake.EnableSASL(),
				kfake.Superuser(mech, "vigil", "s3cret"))
			if err := os.WriteFile(filepath.Join(dir, "password"), []byte("s3cret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := fakeConfig(addr, "g", KafkaTopic{Name: "t", Tenant: "acme"})
			cfg.TLS = kafkaconn.TLS{Enabled: true, CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"),
				KeyFile: filepath.Join(dir, "client.key"), ServerName: "kafka.test"}
			cfg.SASL = kafkaconn.SASL{Mechanism: strings.ToLower(mech), Username: "vigil", PasswordFile: filepath.Join(dir, "password")}
			cfg.ConnectTimeout = 3 * time.Second

			tr, err := cfg.Transport()
			if err != nil {
				t.Fatal(err)
			}
			w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "t", Transport: tr, BatchTimeout: time.Millisecond}
			if err := w.WriteMessages(context.Background(), kafka.Message{Value: []byte(`{"ok":true}`)}); err != nil {
				t.Fatalf("produce over TLS and SASL: %v", err)
			}
			w.Close()
			k := newKafka(t, cfg, KafkaOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			evs, ack, err := k.Read(ctx)
			if err != nil || len(evs) != 1 || evs[0].Invalid != "" {
				t.Fatalf("read: %v %v", evs, err)
			}
			if err := ack(ctx); err != nil || k.Stats.Commits.Load() != 1 {
				t.Errorf("ack: %v, commits %d; want one commit", err, k.Stats.Commits.Load())
			}

			bad := cfg
			bad.TLS.ServerName = "" // the certificate names kafka.test, not 127.0.0.1
			if _, err := NewKafka(context.Background(), "src", bad, KafkaOptions{}); err == nil ||
				!strings.Contains(err.Error(), "certificate") {
				t.Errorf("without server_name: got %v, want a certificate error", err)
			}
			bad = cfg
			bad.TLS.CertFile, bad.TLS.KeyFile = "", ""
			if _, err := NewKafka(context.Background(), "src", bad, KafkaOptions{}); err == nil {
				t.Error("without a client certificate: want a start-up error")
			}
			bad = cfg
			bad.SASL.PasswordFile, bad.SASL.Password = "", "wrong"
			if _, err := NewKafka(context.Background(), "src", bad, KafkaOptions{}); err == nil {
				t.Error("wrong password: want a start-up error")
			}
		})
	}
}

// TestKafkaDecoderFormatHeader: a record's format header (set by vigil intake) overrides its topic's format, so
// HEC event objects and _bulk documents can share a topic; the topic's parsers still apply, an unknown format is
// ignored.
func TestKafkaDecoderFormatHeader(t *testing.T) {
	parsers := filepath.Join(t.TempDir(), "p.yml")
	if err := os.WriteFile(parsers, []byte("parsers:\n  - name: x\n    if: has(splunk.sourcetype)\n    patterns: [{dissect: 'Failed %{ssh.method}'}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dec, err := NewKafkaDecoder("src", KafkaConfig{Topics: []KafkaTopic{
		{Name: "events", Tenant: "acme", Config: formats.Config{Parsers: []string{parsers}}},
		{Name: "syslog", Tenant: "acme", Config: formats.Config{Format: "syslog"}},
	}}, []string{"acme"})
	if err != nil {
		t.Fatal(err)
	}
	hec := `{"host":"web01","sourcetype":"linux_secure","event":"Failed password"}`
	for _, tc := range []struct {
		topic, format, value string
		want                 map[string]any // flattened fields
	}{
		{"events", "hec", hec, map[string]any{"message": "Failed password", "host.name": "web01", "ssh.method": "password"}},
		{"events", "", hec, map[string]any{"event": "Failed password", "host": "web01"}},
		{"events", "no-such-format", `{"a":1}`, map[string]any{"a": 1.0}},
		{"syslog", "", "<13>Dec  6 00:50:01 web01 sshd[4]: hello", map[string]any{"process.name": "sshd", "message": "hello"}},
	} {
		m := kafka.Message{Topic: tc.topic, Value: []byte(tc.value)}
		if tc.format != "" {
			m.Headers = []kafka.Header{{Key: FormatHeader, Value: []byte(tc.format)}}
		}
		ev := dec.Event(m)
		if ev.Invalid != "" {
			t.Fatalf("%s %q: invalid: %s", tc.topic, tc.format, ev.Invalid)
		}
		b, _ := json.Marshal(ev.Fields)
		for k, want := range tc.want {
			got := ev.Fields.Lookup(strings.Split(k, ".")...).Interface()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s with format %q: %s = %v, want %v (event %s)", tc.topic, tc.format, k, got, want, b)
			}
		}
	}
}

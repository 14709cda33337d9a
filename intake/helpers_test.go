package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/kafkaconn"
)

// fakeWriter keeps the records it is given; fail, when set, decides per record whether Kafka "refuses" it. It
// stands in for Kafka only to inject faults: the integration tests write to the real broker.
type fakeWriter struct {
	mu   sync.Mutex
	msgs []kafka.Message
	fail func(kafka.Message) error
}

func (f *fakeWriter) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	werr := make(kafka.WriteErrors, len(msgs))
	failed := false
	for i, m := range msgs {
		if f.fail != nil {
			werr[i] = f.fail(m)
		}
		if werr[i] != nil {
			failed = true
			continue
		}
		f.msgs = append(f.msgs, m)
	}
	if failed {
		return werr
	}
	return nil
}

func (f *fakeWriter) records() []kafka.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]kafka.Message(nil), f.msgs...)
}

// Tokens of the tests' two tenants.
const (
	tokenAcme   = "acme-token-0001"
	tokenGlobex = "globex-token-0002"
)

func hashLine(tenant, name, token string) string {
	sum := sha256.Sum256([]byte(token))
	return fmt.Sprintf("  - tenant: %s\n    name: %s\n    sha256: %s\n", tenant, name, hex.EncodeToString(sum[:]))
}

// writeTokens writes a tokens file for acme and globex and returns its path.
func writeTokens(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "tokens.yaml")
	data := "tokens:\n" + hashLine("acme", "acme-fw", tokenAcme) + hashLine("globex", "globex-hec", tokenGlobex)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func testConfig(t testing.TB) Config {
	return Config{TokensFile: writeTokens(t, t.TempDir()), Listen: "127.0.0.1:0",
		Kafka: KafkaConfig{Config: kafkaConn("127.0.0.1:9")}}
}

// serve builds a server of cfg with opts and serves it on real listeners until the end of the test.
func serve(t testing.TB, cfg Config, opts Options) *Server {
	t.Helper()
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

// newTestServer returns a server over a fake writer, and its handler behind httptest.
func newTestServer(t *testing.T, cfg Config) (*Server, *fakeWriter, *httptest.Server) {
	t.Helper()
	fw := &fakeWriter{}
	s, err := New(cfg, Options{Writer: fw})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, fw, hs
}

// post sends body to path with an Authorization header (none when auth is "") and returns the status and body.
func post(t *testing.T, url, auth, body string, headers ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func kafkaConn(addr string) kafkaconn.Config {
	return kafkaconn.Config{Brokers: []string{addr}}
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

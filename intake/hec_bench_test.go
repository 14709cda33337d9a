package intake

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/segmentio/kafka-go"
)

// discardWriter acknowledges every record at once: the handler's own cost, without Kafka's.
type discardWriter struct{}

func (discardWriter) WriteMessages(context.Context, ...kafka.Message) error { return nil }

// hecBody is a HEC body of n events of about size bytes each, as the integration benchmarks send.
func hecBody(n, size int) []byte {
	var b bytes.Buffer
	pad := string(bytes.Repeat([]byte("x"), size-120))
	for i := range n {
		fmt.Fprintf(&b, `{"time":1700000000,"host":"web%03d","sourcetype":"access","event":{"status":200,"msg":"%s"}}`, i, pad)
	}
	return b.Bytes()
}

// BenchmarkHECHandler is intake's work per HEC request of 100 events of 500 bytes, Kafka aside: authentication,
// quota, reading, checking and splitting the events, building the records.
func BenchmarkHECHandler(b *testing.B) {
	cfg := testConfig(b)
	cfg.Quotas.Default = Quota{EventsPerSecond: 1e12, BytesPerSecond: 1e15, MaxConcurrent: 1000}
	s, err := New(cfg, Options{Writer: discardWriter{}})
	if err != nil {
		b.Fatal(err)
	}
	h, body := s.Handler(), hecBody(100, 500)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/services/collector/event", bytes.NewReader(body))
		req.Header.Set("Authorization", "Splunk "+tokenAcme)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("got %d %s, want 200", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

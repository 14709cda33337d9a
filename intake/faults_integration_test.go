//go:build integration

package intake

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/testenv"
	"github.com/vigilsoc/vigil/testenv/faultproxy"
)

// newFaultProxy puts a faultproxy.Proxy in front of the broker at target (testenv shares it between tests and
// cannot stop it), closed when the test ends.
func newFaultProxy(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// proxiedServer serves cfg with intake's own Kafka writer, every connection of which goes through the proxy.
func proxiedServer(t *testing.T, cfg Config, proxy *faultproxy.Proxy) *Server {
	t.Helper()
	w, err := NewKafkaWriter(cfg.WithDefaults().Kafka, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	w.Transport.(*kafka.Transport).Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, proxy.Addr())
	}
	return serve(t, cfg, Options{Writer: w})
}

// loadTally is what concurrent HEC clients were answered: the events of every 2xx request, and the codes.
type loadTally struct {
	mu    sync.Mutex
	acked map[string]bool
	codes map[int]int
}

func (l *loadTally) count(code int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.codes[code]
}

// send runs one client until stop: batches of 20 events with ids "client-request-event".
func (l *loadTally) send(t *testing.T, url string, client int, stop <-chan struct{}) {
	c := &http.Client{Timeout: time.Minute}
	for r := 0; ; r++ {
		select {
		case <-stop:
			return
		default:
		}
		var body strings.Builder
		var ids []string
		for i := range 20 {
			id := fmt.Sprintf("%d-%d-%d", client, r, i)
			ids = append(ids, id)
			fmt.Fprintf(&body, `{"event":{"id":"%s"}}`, id)
		}
		code, err := sendHEC(c, url, tokenAcme, []byte(body.String()))
		if err != nil {
			t.Errorf("client %d: %v", client, err)
			return
		}
		l.mu.Lock()
		l.codes[code]++
		for _, id := range ids {
			if code/100 == 2 {
				l.acked[id] = true
			}
		}
		l.mu.Unlock()
	}
}

// waitFor polls cond every 20 ms for up to a minute, and fails the test with what when it never holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

// TestIntegrationKafkaCutMidRequest cuts every connection between intake and the broker while four clients send,
// then restores them: requests are answered 503 while Kafka is away and 200 again after, and every event of every
// 2xx request is in the topic afterwards (duplicates allowed, losses not).
func TestIntegrationKafkaCutMidRequest(t *testing.T) {
	addr := testenv.Kafka(t)
	topic := testenv.CreateTopic(t, addr, 1)
	proxy := newFaultProxy(t, addr)
	cfg := multiTenantConfig(t, addr, topic)
	cfg.Kafka.WriteTimeout = 3 * time.Second
	cfg.Quotas.Default = Quota{EventsPerSecond: 1e9, BytesPerSecond: 1e12, MaxConcurrent: 100}
	s := proxiedServer(t, cfg, proxy)
	tally := &loadTally{acked: map[string]bool{}, codes: map[int]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); tally.send(t, "http://"+s.Addr()+"/services/collector/event", c, stop) }()
	}
	waitFor(t, "10 requests answered 200", func() bool { return tally.count(200) >= 10 })
	proxy.Cut()
	waitFor(t, "3 requests answered 503 with Kafka cut off", func() bool { return tally.count(503) >= 3 })
	before := tally.count(200)
	proxy.Restore()
	waitFor(t, "10 more requests answered 200 after Kafka came back", func() bool { return tally.count(200) >= before+10 })
	close(stop)
	wg.Wait()

	stored := map[string]int{}
	for _, m := range testenv.AllRecords(t, addr, topic) {
		_, rest, _ := strings.Cut(string(m.Value), `"id":"`)
		id, _, _ := strings.Cut(rest, `"`)
		stored[id]++
	}
	lost := 0
	for id := range tally.acked {
		if stored[id] == 0 {
			lost++
		}
	}
	t.Logf("answers %v; %d events acknowledged, %d distinct events in the topic", tally.codes, len(tally.acked), len(stored))
	if lost > 0 {
		t.Errorf("got %d of %d acknowledged events missing from the topic, want 0", lost, len(tally.acked))
	}
	for code := range tally.codes {
		if code != 200 && code != 503 {
			t.Errorf("got status %d (%d times), want only 200 and 503", code, tally.codes[code])
		}
	}
}

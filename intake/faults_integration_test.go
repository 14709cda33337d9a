//go:build integration

package intake

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/testenv"
)

// faultProxy forwards TCP connections to a Kafka broker. cut closes every connection through it and drops new
// ones at once, as a dead broker does; restore lets them through again. Test-only: a fault injector in front of
// the real broker, which testenv shares between tests and cannot stop.
type faultProxy struct {
	target string
	ln     net.Listener
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{target: target, ln: ln, conns: map[net.Conn]bool{}}
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *faultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

// forward copies both ways between the client and a new connection to the broker, until either side ends or cut.
func (p *faultProxy) forward(c net.Conn) {
	b, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(c, b) {
		c.Close()
		if b != nil {
			b.Close()
		}
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
	<-done
	c.Close()
	b.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, b)
	p.mu.Unlock()
}

// track registers a connection pair; false while the proxy is down.
func (p *faultProxy) track(c, b net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c], p.conns[b] = true, true
	return true
}

func (p *faultProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *faultProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// proxiedServer serves cfg with intake's own Kafka writer, every connection of which goes through the proxy.
func proxiedServer(t *testing.T, cfg Config, proxy *faultProxy) *Server {
	t.Helper()
	w, err := NewKafkaWriter(cfg.WithDefaults().Kafka, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	w.Transport.(*kafka.Transport).Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, proxy.ln.Addr().String())
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
	proxy.cut()
	waitFor(t, "3 requests answered 503 with Kafka cut off", func() bool { return tally.count(503) >= 3 })
	before := tally.count(200)
	proxy.restore()
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

//go:build integration

package intake

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/testenv"
)

// Benchmarks of intake into the real broker (docs/benchmarks.md, "Intake"):
//
//	testenv/run -- go test -tags integration -run '^$' -bench 'Intake' -benchtime 2000x -cpu 1,4 ./intake/
//
// The client runs in the same process, so -cpu 1 shares one core between the HEC client and intake: the events/s
// per core are a lower bound.

func benchServer(b *testing.B, quota Quota, tenants ...map[string]Quota) (*Server, *http.Client) {
	addr := testenv.Kafka(b)
	topic := testenv.CreateTopic(b, addr, 6)
	cfg := multiTenantConfig(b, addr, topic)
	cfg.Quotas.Default = quota
	if len(tenants) > 0 {
		cfg.Quotas.Tenants = tenants[0]
	}
	s := realServer(b, cfg)
	return s, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
}

func sendHEC(c *http.Client, url, token string, body []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Splunk "+token)
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// BenchmarkIntakeHECThroughput: batches of 100 events of 500 bytes, as fast as 16 concurrent clients per CPU go.
func BenchmarkIntakeHECThroughput(b *testing.B) {
	s, c := benchServer(b, Quota{EventsPerSecond: 1e9, BytesPerSecond: 1e12, MaxConcurrent: 10000})
	body, url := hecBody(100, 500), "http://"+s.Addr()+"/services/collector/event"
	b.SetParallelism(16)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if code, err := sendHEC(c, url, tokenAcme, body); err != nil || code != 200 {
				b.Errorf("got %d %v, want 200", code, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "events/s")
	reportWriter(b, s.writer.(*kafka.Writer).Stats())
}

// BenchmarkIntakeHECLatency sends at a fixed rate (VIGIL_BENCH_EVENTS_PER_SEC, default 50,000 events/s: half
// of the goal) and reports the request latency's p50 and p99.
func BenchmarkIntakeHECLatency(b *testing.B) {
	rate := 50000.0
	if v, err := strconv.ParseFloat(os.Getenv("VIGIL_BENCH_EVENTS_PER_SEC"), 64); err == nil {
		rate = v
	}
	s, c := benchServer(b, Quota{EventsPerSecond: 1e9, BytesPerSecond: 1e12, MaxConcurrent: 10000})
	w := s.writer.(*kafka.Writer)
	w.Stats() // reset
	lat := paced(b, c, "http://"+s.Addr()+"/services/collector/event", tokenAcme, rate, b.N)
	report(b, lat, "")
	reportWriter(b, w.Stats())
}

// reportWriter reports where the producer's time went: a batch's age when its produce request starts (waiting to
// fill, then behind the partition's previous batch) and the produce round trip, the broker's acks=all included.
func reportWriter(b *testing.B, st kafka.WriterStats) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(st.BatchTime.Avg), "batch_age_avg_ms")
	b.ReportMetric(ms(st.BatchTime.Max), "batch_age_max_ms")
	b.ReportMetric(ms(st.WriteTime.Avg), "produce_avg_ms")
	b.ReportMetric(ms(st.WriteTime.Max), "produce_max_ms")
	b.ReportMetric(float64(st.BatchSize.Avg), "records/batch")
}

// BenchmarkIntakeIsolation: acme sends 5,000 events/s within its quota of 20,000 while globex floods at 20,000
// events/s, ten times its quota of 2,000 (and is refused with 429); acme's latency is reported with and without
// the flood.
func BenchmarkIntakeIsolation(b *testing.B) {
	s, c := benchServer(b, Quota{EventsPerSecond: 20000, BytesPerSecond: 1e12, Burst: 1, MaxConcurrent: 64},
		map[string]Quota{"globex": {EventsPerSecond: 2000}})
	url := "http://" + s.Addr() + "/services/collector/event"
	report(b, paced(b, c, url, tokenAcme, 5000, b.N), "alone_")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 8 { // 8 × 25 batches/s of 100 = 20,000 events/s offered by globex
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := hecBody(100, 500)
			for tick := time.NewTicker(40 * time.Millisecond); ; {
				select {
				case <-stop:
					tick.Stop()
					return
				case <-tick.C:
				}
				code, _ := sendHEC(c, url, tokenGlobex, body)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	report(b, paced(b, c, url, tokenAcme, 5000, b.N), "flooded_")
	close(stop)
	wg.Wait()
	b.Logf("globex answers during the flood: %v", codes)
}

// paced sends n batches of 100 events at rate events/s from 32 workers and returns the latencies.
func paced(b *testing.B, c *http.Client, url, token string, rate float64, n int) []time.Duration {
	body := hecBody(100, 500)
	interval := time.Duration(float64(time.Second) * 100 / rate)
	jobs := make(chan struct{})
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				t0 := time.Now()
				code, err := sendHEC(c, url, token, body)
				d := time.Since(t0)
				if err != nil || code != 200 {
					b.Errorf("got %d %v, want 200", code, err)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	tick := time.NewTicker(interval)
	for range n {
		<-tick.C
		jobs <- struct{}{}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	return lat
}

func report(b *testing.B, lat []time.Duration, prefix string) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), prefix+"p50_ms")
	b.ReportMetric(q(0.99), prefix+"p99_ms")
}

// BenchmarkIntakeConnections opens 1,000 keep-alive connections that each sent one request, and reports the heap
// and goroutine stacks they hold. It measures once, whatever b.N.
func BenchmarkIntakeConnections(b *testing.B) {
	s, _ := benchServer(b, Quota{EventsPerSecond: 1e9, BytesPerSecond: 1e12, MaxConcurrent: 10000})
	body := hecBody(1, 500)
	for range 1 {
		before := inUse()
		var conns []net.Conn
		for range 1000 {
			conn, err := net.Dial("tcp", s.Addr())
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /services/collector HTTP/1.1\r\nHost: x\r\nAuthorization: Splunk %s\r\nContent-Length: %d\r\n\r\n%s", tokenAcme, len(body), body)
			buf := make([]byte, 512)
			if _, err := conn.Read(buf); err != nil {
				b.Fatal(err)
			}
			conns = append(conns, conn)
		}
		b.ReportMetric(float64(inUse()-before)/1024/1024, "MiB/1000conns")
		for _, c := range conns {
			c.Close()
		}
	}
}

func inUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

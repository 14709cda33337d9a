package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestHelperVigil is not a test of its own: the shutdown tests run `vigil` in a child process through it (the test
// binary runs itself), so that real signals reach a real process without building the binary.
func TestHelperVigil(t *testing.T) {
	args := os.Getenv("VIGIL_TEST_HELPER_ARGS")
	if args == "" {
		t.Skip("runs only as the child process of the shutdown tests")
	}
	os.Exit(run(strings.Split(args, "\n"), os.Stdin, os.Stdout, os.Stderr))
}

// child is `vigil` running in a child process.
type child struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperVigil$", "-test.count=1")
	cmd.Env = append(os.Environ(), "VIGIL_TEST_HELPER_ARGS="+strings.Join(args, "\n"))
	c := &child{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.logs, c.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// wait waits up to timeout for the exit and returns the exit code.
func (c *child) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("vigil did not exit within %s; log:\n%s", timeout, c.logs.String())
	}
	var exit *exec.ExitError
	if errors.As(c.err, &exit) {
		return exit.ExitCode()
	}
	if c.err != nil {
		t.Fatal(c.err)
	}
	return 0
}

// logRecord returns the first JSON log record with message msg, or nil.
func (c *child) logRecord(msg string) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(c.logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	return nil
}

// fakeSearch is a search engine's bulk endpoint: it stores every create after a delay, or answers every bulk request
// with status when status is set.
type fakeSearch struct {
	delay  time.Duration
	status int

	mu       sync.Mutex
	docs     int
	requests int
	writing  int       // bulk requests received and not yet answered
	last     time.Time // when the last request was answered
}

func (f *fakeSearch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/_bulk") {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{}`)
		return
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(r.Body)
	n := bytes.Count(body.Bytes(), []byte("\n")) / 2
	f.mu.Lock()
	f.requests++
	f.writing++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.writing--
		f.mu.Unlock()
	}()
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	time.Sleep(f.delay)
	items := make([]string, n)
	for i := range items {
		items[i] = `{"create":{"status":201}}`
	}
	f.mu.Lock()
	f.docs += n
	f.last = time.Now()
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"errors":false,"items":[%s]}`, strings.Join(items, ","))
}

func (f *fakeSearch) counts() (docs, requests int, last time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.docs, f.requests, f.last
}

// shutdownConfig writes a configuration: events events that each match the one rule, read from a followed file in
// batches of 100, alerts to the search engine at url.
func shutdownConfig(t *testing.T, url string, events int, shutdownTimeout, metricsAddr string) string {
	t.Helper()
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "rule.yml"), "id: test.any\nname: Any\nseverity: low\ncondition: has(event.id)\n")
	var b strings.Builder
	for i := range events {
		fmt.Fprintf(&b, `{"event":{"id":"ev-%05d"}}`+"\n", i)
	}
	writeTestFile(t, filepath.Join(dir, "events.jsonl"), b.String())
	config := filepath.Join(dir, "vigil.yaml")
	writeTestFile(t, config, fmt.Sprintf(`rules: {paths: [%[1]s/rule.yml]}
sources:
  - {name: logs, type: file, file: {paths: [%[1]s/events.jsonl], tenant: acme, follow: true, batch_size: 100, poll_interval: 20ms}}
sinks:
  - type: elasticsearch
    elasticsearch: {flavor: opensearch, urls: [%[2]s], install_template: false, flush_interval: 0s,
                    retry_initial_backoff: 20ms, retry_max_backoff: 100ms}
dead_letter: {type: file, path: %[1]s/dead.jsonl}
pipeline: {max_in_flight: 4, shutdown_timeout: %[3]s}
metrics: {addr: "%[4]s"}
log: {format: json}
`, dir, url, shutdownTimeout, metricsAddr))
	return config
}

// TestShutdownFinishesInFlightBatches sends SIGTERM while batches are being written to a slow search engine: Vigil
// turns unready, stops reading, finishes the batches in flight, and exits 0 with every event it read written.
func TestShutdownFinishesInFlightBatches(t *testing.T) {
	fake := &fakeSearch{delay: 150 * time.Millisecond}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	const events = 5000
	addr := freeAddr(t)
	c := startChild(t, "run", "-c", shutdownConfig(t, srv.URL, events, "30s", addr))
	// Signal while a batch is being written (under load, the pipeline may be between batches at any given moment).
	waitFor(t, 60*time.Second, "alerts to be written, and a batch being written", func() bool {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return fake.docs >= 300 && fake.writing > 0
	})
	signalled := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for unready := false; !unready; time.Sleep(5 * time.Millisecond) { // until 503, or the drain is over already
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			break
		}
		res.Body.Close()
		unready = res.StatusCode == http.StatusServiceUnavailable
		if !unready && time.Since(signalled) > 5*time.Second {
			t.Errorf("GET /readyz 5s after SIGTERM: %d, want 503", res.StatusCode)
			break
		}
	}
	if code := c.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; log:\n%s", code, c.logs.String())
	}
	docs, _, last := fake.counts()
	finished := c.logRecord("source finished")
	if finished == nil {
		t.Fatalf("no 'source finished' in the log:\n%s", c.logs.String())
	}
	read := int(finished["events"].(float64))
	if docs != read || int(finished["alerts"].(float64)) != read {
		t.Errorf("%d events read, %v alerts, %d stored: want all equal (every batch read finished)", read, finished["alerts"], docs)
	}
	if docs >= events {
		t.Errorf("all %d events were written before the signal: the test did not stop a run in the middle", events)
	}
	if !last.After(signalled) {
		t.Error("no write finished after the signal: there were no batches in flight to finish")
	}
	t.Logf("stopped after %d of %d events; exited %s after SIGTERM", docs, events, time.Since(signalled).Round(time.Millisecond))
}

// TestShutdownTimeout: with the search engine failing, in-flight batches cannot finish; Vigil gives up after
// pipeline.shutdown_timeout and exits 1 without acknowledging them.
func TestShutdownTimeout(t *testing.T) {
	fake := &fakeSearch{status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := startChild(t, "run", "-c", shutdownConfig(t, srv.URL, 1000, "1s", ""))
	waitFor(t, 60*time.Second, "the sink to retry", func() bool { _, req, _ := fake.counts(); return req >= 3 })
	signalled := time.Now()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	code := c.wait(t, 20*time.Second)
	took := time.Since(signalled)
	if code != 1 || c.logRecord("vigil stopped") == nil {
		t.Errorf("exit %d, want 1 with 'vigil stopped' in the log:\n%s", code, c.logs.String())
	}
	if took < time.Second || took > 1*time.Second+shutdownGrace {
		t.Errorf("exited %s after SIGTERM; want between the 1s shutdown timeout and %s", took, time.Second+shutdownGrace)
	}
}

// TestSecondSignalExitsAtOnce: a second SIGTERM during a drain that cannot finish exits at once with status 130.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	fake := &fakeSearch{status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := startChild(t, "run", "-c", shutdownConfig(t, srv.URL, 1000, "5m", ""))
	waitFor(t, 60*time.Second, "the sink to retry", func() bool { _, req, _ := fake.counts(); return req >= 3 })
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, 10*time.Second, "the shutdown to start", func() bool {
		return c.logRecord("shutting down: finishing in-flight batches (signal again to exit at once)") != nil
	})
	signalled := time.Now()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if code := c.wait(t, 10*time.Second); code != 130 {
		t.Errorf("exit %d after the second signal, want 130; log:\n%s", code, c.logs.String())
	}
	if took := time.Since(signalled); took > 3*time.Second {
		t.Errorf("exited %s after the second signal: not at once", took)
	}
}

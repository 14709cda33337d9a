//go:build integration

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsoc/vigil/testenv"
)

// TestIntakeMetrics scrapes intake's /metrics after known requests: the counters by tenant, route, code and reason.
func TestIntakeMetrics(t *testing.T) {
	addr, _, prefix, in := intakeFixture(t)
	good := [][]byte{[]byte(`{"n":1}`), []byte(`{"n":2}`), []byte(`{"n":3}`)}
	if code, body := in.postNDJSON(t, intakeToken, append(good, []byte(`{"n":`), []byte(`[4]`))); code != 422 {
		t.Fatalf("3 good lines and 2 bad: got %d %s, want 422", code, body)
	}
	if code, body := in.postNDJSON(t, intakeToken, good); code != 200 {
		t.Fatalf("3 good lines: got %d %s, want 200", code, body)
	}
	if code, body := in.postNDJSON(t, "not-a-token", good); code != 403 {
		t.Fatalf("unknown token: got %d %s, want 403", code, body)
	}
	sendSyslog(t, in.syslog, sudoLines(prefix))
	testenv.ReadRecords(t, addr, prefix+".acme.syslog", 3)
	syslogEvents := `vigil_intake_events_total{route="syslog/plain",tenant="acme"}`
	got := scrape(t, in.metrics)
	for deadline := time.Now().Add(10 * time.Second); got[syslogEvents] < 3 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond) // the batch is counted once Kafka's acknowledgement is back
		got = scrape(t, in.metrics)
	}
	for name, want := range map[string]float64{
		`vigil_intake_events_total{route="ndjson",tenant="acme"}`:                      6,
		`vigil_intake_events_total{route="syslog/plain",tenant="acme"}`:                3,
		`vigil_intake_rejections_total{reason="invalid",route="ndjson",tenant="acme"}`: 2,
		`vigil_intake_rejections_total{reason="auth",route="ndjson",tenant="unknown"}`: 1,
		`vigil_intake_requests_total{code="200",route="ndjson",tenant="acme"}`:         1,
		`vigil_intake_requests_total{code="422",route="ndjson",tenant="acme"}`:         1,
		`vigil_intake_requests_total{code="403",route="ndjson",tenant="unknown"}`:      1,
		`vigil_intake_request_duration_seconds_count{route="ndjson",tenant="acme"}`:    2,
	} {
		if got[name] != want {
			t.Errorf("got %s %v, want %v", name, got[name], want)
		}
	}
	if b := got[`vigil_intake_bytes_total{route="ndjson",tenant="acme"}`]; b != 6*7 {
		t.Errorf("got vigil_intake_bytes_total %v, want %d (six records of 7 bytes)", b, 6*7)
	}
}

// TestIntakeGracefulShutdown sends SIGTERM to `vigil intake` while a request is being read: new connections are
// refused and /readyz says 503 at once, the request in progress is still answered 200 once its body arrives, its
// records are in Kafka, and the process exits 0.
func TestIntakeGracefulShutdown(t *testing.T) {
	addr, _, prefix, in := intakeFixture(t)
	body := []byte(strings.Repeat(`{"msg":"accepted before SIGTERM"}`+"\n", 50))
	conn, r := beginRequest(t, in.http, body)
	defer conn.Close()
	if _, err := conn.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, in, in.http)
	waitRefused(t, in, in.syslog)
	if res, err := http.Get("http://" + in.metrics + "/readyz"); err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining: got %v %v, want 503", res.StatusCode, err)
	}
	if _, err := conn.Write(body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("the request in progress got no answer: %v; log:\n%s", err, in.log())
	}
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("the request in progress: got %d %s, want 200", res.StatusCode, answer)
	}
	if err := <-in.done; err != nil {
		t.Errorf("vigil intake exited with %v, want 0; log:\n%s", err, in.log())
	}
	if got := len(testenv.AllRecords(t, addr, prefix+".acme.events")); got != 50 {
		t.Errorf("got %d records in Kafka, want 50", got)
	}
}

// beginRequest sends the headers of an NDJSON request for body with Expect: 100-continue and waits for the
// server's 100 Continue, which says the handler is running and reading the body.
func beginRequest(t *testing.T, addr string, body []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: intake\r\nAuthorization: Bearer %s\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", intakeToken, len(body))
	r := bufio.NewReader(conn)
	status, err := r.ReadString('\n')
	if err != nil || !strings.Contains(status, "100 Continue") {
		t.Fatalf("got %q %v, want HTTP/1.1 100 Continue", status, err)
	}
	if _, err := r.ReadString('\n'); err != nil { // the empty line after the interim response
		t.Fatal(err)
	}
	return conn, r
}

// waitRefused waits up to 10 s until connections to addr (of in) are refused.
func waitRefused(t *testing.T, in *intakeProc, addr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections 10s after SIGTERM; log:\n%s", addr, in.log())
		}
	}
}

package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

// receiver is a webhook that fails, hangs or takes requests as the test says. It records what it took (2xx).
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	mode    string        // "ok", "fail" (500), "hang" (until release is closed or the client gives up)
	fails   int           // with mode "fail": how many requests fail before the receiver recovers (0: all)
	entered chan struct{} // receives when a request starts hanging
	release chan struct{}
	got     []delivery
}

// delivery is one request the receiver took.
type delivery struct {
	path, id string
	dup      bool // X-Vigil-Possible-Duplicate
	body     map[string]any
}

func newReceiver(t testing.TB) *receiver {
	rv := &receiver{mode: "ok", entered: make(chan struct{}, 100), release: make(chan struct{})}
	rv.srv = httptest.NewServer(http.HandlerFunc(rv.serve))
	t.Cleanup(func() { rv.unblock(); rv.srv.Close() })
	return rv
}

func (rv *receiver) serve(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	rv.mu.Lock()
	mode := rv.mode
	if mode == "fail" && rv.fails > 0 {
		if rv.fails--; rv.fails == 0 {
			rv.mode = "ok"
		}
	}
	rv.mu.Unlock()
	switch mode {
	case "fail":
		w.WriteHeader(http.StatusInternalServerError)
		return
	case "hang":
		rv.entered <- struct{}{}
		select {
		case <-rv.release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	d := delivery{path: r.URL.Path, id: r.Header.Get("X-Vigil-Alert-Id"), dup: r.Header.Get("X-Vigil-Possible-Duplicate") == "true"}
	json.Unmarshal(data, &d.body)
	rv.mu.Lock()
	rv.got = append(rv.got, d)
	rv.mu.Unlock()
}

func (rv *receiver) set(mode string, fails int) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.mode, rv.fails = mode, fails
}

func (rv *receiver) unblock() {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	select {
	case <-rv.release:
	default:
		close(rv.release)
	}
}

func (rv *receiver) deliveries() []delivery {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]delivery(nil), rv.got...)
}

// waitDeliveries waits until the receiver took n requests, and fails the test after a generous deadline.
func (rv *receiver) waitDeliveries(t *testing.T, n int) []delivery {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d deliveries", n), func() bool { return len(rv.deliveries()) >= n })
	return rv.deliveries()
}

// testRoute is a route to the receiver's /name, with fast retries.
func testRoute(rv *receiver, name string) NotifyRoute {
	return NotifyRoute{Name: name, URL: rv.srv.URL + "/" + name, MinSeverity: "low", Timeout: 5 * time.Second,
		RetryInitialBackoff: time.Millisecond, RetryMaxBackoff: 5 * time.Millisecond}
}

// openNotify opens a notify sink on dir; its logs go to logs when not nil.
func openNotify(t *testing.T, dir string, logs io.Writer, routes ...NotifyRoute) *Notify {
	t.Helper()
	opts := NotifyOptions{}
	if logs != nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := NewNotify(NotifyConfig{Dir: dir, Routes: routes}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func notifyAlert(id, tenant, severity string) *vigil.Alert {
	return &vigil.Alert{ID: id, Tenant: tenant, RuleID: "r.brute", Time: time.Date(2026, 11, 24, 9, 13, 2, 0, time.UTC),
		Doc: map[string]any{
			"rule":  map[string]any{"id": "r.brute", "name": "SSH brute force"},
			"host":  map[string]any{"name": "WKS-1"},
			"user":  map[string]any{"name": "j.morales"},
			"vigil": map[string]any{"alert": map[string]any{"id": id, "tenant": tenant, "severity": severity, "reason": "many failures"}},
		}}
}

func notifyAlerts(prefix string, n int) []*vigil.Alert {
	var out []*vigil.Alert
	for i := range n {
		out = append(out, notifyAlert(fmt.Sprintf("%s%02d", prefix, i), "acme", "high"))
	}
	return out
}

func writeNotify(t *testing.T, n *Notify, alerts ...*vigil.Alert) {
	t.Helper()
	if err := n.Write(context.Background(), alerts); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// checkOnce checks that every id arrived, and none unmarked more than once; it returns the ids that arrived marked
// as possible duplicates.
func checkOnce(t *testing.T, got []delivery, ids []string) map[string]bool {
	t.Helper()
	unmarked, seen, dups := map[string]int{}, map[string]bool{}, map[string]bool{}
	for _, d := range got {
		seen[d.id] = true
		if d.dup != (d.body["possible_duplicate"] == true) {
			t.Errorf("alert %s: header says duplicate %v, payload says %v", d.id, d.dup, d.body["possible_duplicate"])
		}
		if d.dup {
			dups[d.id] = true
		} else if unmarked[d.id]++; unmarked[d.id] > 1 {
			t.Errorf("alert %s: got %d unmarked deliveries, want at most 1", d.id, unmarked[d.id])
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("alert %s: got no delivery, want one", id)
		}
	}
	return dups
}

func ids(alerts []*vigil.Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.ID)
	}
	return out
}

func TestNotifyRetriesServerErrors(t *testing.T) {
	rv := newReceiver(t)
	rv.set("fail", 25)
	var logs syncWriter
	route := testRoute(rv, "ops")
	route.URL += "?token=SECRET-TOKEN"
	n := openNotify(t, t.TempDir(), &logs, route)
	alerts := notifyAlerts("a", 10)
	writeNotify(t, n, alerts...)
	got := rv.waitDeliveries(t, 10)
	if dups := checkOnce(t, got, ids(alerts)); len(dups) > 0 {
		t.Errorf("got possible duplicates %v after 500s, want none (a 500 means the receiver did not take it)", dups)
	}
	if len(got) != 10 {
		t.Errorf("got %d deliveries, want 10", len(got))
	}
	st := n.RouteStats("ops")
	if f := st.FailedAttempts.Load(); f != 25 {
		t.Errorf("got %d failed attempts, want 25", f)
	}
	waitUntil(t, "10 sent and an empty queue", func() bool { return st.Sent.Load() == 10 && n.Waiting("ops") == 0 })
	n.Close()
	if strings.Contains(logs.String(), "SECRET-TOKEN") {
		t.Errorf("the logs show the webhook URL's secret:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "HTTP 500") {
		t.Errorf("got logs without the failures, want HTTP 500 named:\n%s", logs.String())
	}
}

func TestNotifyRetriesTimeoutsMarked(t *testing.T) {
	rv := newReceiver(t)
	rv.set("hang", 0)
	route := testRoute(rv, "ops")
	route.Timeout = 50 * time.Millisecond
	n := openNotify(t, t.TempDir(), nil, route)
	alerts := notifyAlerts("t", 3)
	writeNotify(t, n, alerts...)
	<-rv.entered // the first request hangs until the client times out
	<-rv.entered // and its retry too
	rv.set("ok", 0)
	got := rv.waitDeliveries(t, 3)
	dups := checkOnce(t, got, ids(alerts))
	if !dups["t00"] || len(dups) != 1 {
		t.Errorf("got possible duplicates %v, want only t00 (retried after a timeout: it may have arrived)", dups)
	}
	if f := n.RouteStats("ops").FailedAttempts.Load(); f < 2 {
		t.Errorf("got %d failed attempts, want at least 2", f)
	}
}

// TestNotifyWriteDoesNotWaitForWebhook: a webhook that hangs does not hold up the pipeline.
func TestNotifyWriteDoesNotWaitForWebhook(t *testing.T) {
	rv := newReceiver(t)
	rv.set("hang", 0)
	route := testRoute(rv, "ops")
	route.Timeout = time.Hour
	n := openNotify(t, t.TempDir(), nil, route)
	writeNotify(t, n, notifyAlert("first", "acme", "high"))
	select {
	case <-rv.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("got no request after 20s, want the first notification sent")
	}
	done := make(chan error)
	go func() {
		for i := range 50 {
			if err := n.Write(context.Background(), notifyAlerts(fmt.Sprintf("b%d-", i), 5)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Write still blocked after 20s while the webhook hangs, want it to return at once")
	}
	if w := n.Waiting("ops"); w != 251 {
		t.Errorf("got %d notifications waiting, want 251", w)
	}
}

// crashMidSend queues alerts while the webhook hangs, and closes the sink while the first is in flight (it may or
// may not have arrived): as far as the queue knows, a crash, nothing drained. Then the webhook recovers.
func crashMidSend(t *testing.T, rv *receiver, dir string, route NotifyRoute, alerts []*vigil.Alert) {
	t.Helper()
	rv.set("hang", 0)
	n := openNotify(t, dir, nil, route)
	writeNotify(t, n, alerts...)
	<-rv.entered
	n.Close()
	if got := rv.deliveries(); len(got) != 0 {
		t.Fatalf("got %d deliveries before the restart, want 0", len(got))
	}
	rv.set("ok", 0)
}

func TestNotifyCrashResendsMarked(t *testing.T) {
	rv := newReceiver(t)
	dir := t.TempDir()
	route := testRoute(rv, "ops")
	alerts := notifyAlerts("c", 5)
	crashMidSend(t, rv, dir, route, alerts)
	n2 := openNotify(t, dir, nil, route)
	got := rv.waitDeliveries(t, 5)
	dups := checkOnce(t, got, ids(alerts))
	if !dups["c00"] || len(dups) != 1 {
		t.Errorf("got possible duplicates %v, want only c00 (in flight at the crash)", dups)
	}
	if got[0].id != "c00" {
		t.Errorf("got %s first, want c00: the queue keeps its order", got[0].id)
	}
	writeNotify(t, n2, alerts...) // the pipeline replays the unacknowledged batch
	if s := n2.RouteStats("ops").Skipped.Load(); s != 5 {
		t.Errorf("got %d skipped after the replay, want 5", s)
	}
	n2.Close()
	if got := rv.deliveries(); len(got) != 5 {
		t.Errorf("got %d deliveries, want 5 (a replay notifies nothing)", len(got))
	}
}

// TestNotifyCrashBeforeRecordingIDs: the queue files were written but the notified-ids log lost: a replay of the
// alerts still notifies nothing more.
func TestNotifyCrashBeforeRecordingIDs(t *testing.T) {
	rv := newReceiver(t)
	dir := t.TempDir()
	route := testRoute(rv, "ops")
	alerts := notifyAlerts("l", 3)
	crashMidSend(t, rv, dir, route, alerts)
	if err := os.Truncate(dir+"/notified.log", 0); err != nil {
		t.Fatal(err)
	}
	n2 := openNotify(t, dir, nil, route)
	writeNotify(t, n2, alerts...)
	if s := n2.RouteStats("ops").Skipped.Load(); s != 3 {
		t.Errorf("got %d skipped, want 3: the queued notifications count as notified", s)
	}
	checkOnce(t, rv.waitDeliveries(t, 3), ids(alerts))
	waitUntil(t, "an empty queue", func() bool { return n2.Waiting("ops") == 0 })
	if got := rv.deliveries(); len(got) != 3 {
		t.Errorf("got %d deliveries, want 3", len(got))
	}
}

func TestNotifyRewriteNotifiesOnce(t *testing.T) {
	rv := newReceiver(t)
	dir := t.TempDir()
	route := testRoute(rv, "ops")
	n := openNotify(t, dir, nil, route)
	v1 := notifyAlert("corr", "acme", "high")
	v1.Update = true
	internal := notifyAlert("input", "acme", "critical")
	internal.Internal = true
	writeNotify(t, n, v1, internal)
	rv.waitDeliveries(t, 1)
	v2 := notifyAlert("corr", "acme", "high")
	v2.Update = true
	writeNotify(t, n, v2)
	n.Close()
	n2 := openNotify(t, dir, nil, route) // remembered across a restart
	writeNotify(t, n2, v2)
	n2.Close()
	got := rv.deliveries()
	if len(got) != 1 || got[0].id != "corr" {
		t.Errorf("got deliveries %+v, want one, for corr", got)
	}
	if s := n2.RouteStats("ops").Skipped.Load(); s != 1 {
		t.Errorf("got %d skipped after the restart, want 1", s)
	}
}

func TestNotifyRoutesBySeverityAndTenant(t *testing.T) {
	rv := newReceiver(t)
	all, acme, crit := testRoute(rv, "all-high"), testRoute(rv, "acme-low"), testRoute(rv, "critical")
	all.MinSeverity, crit.MinSeverity = "high", "critical"
	acme.Tenants = []string{"acme"}
	n := openNotify(t, t.TempDir(), nil, all, acme, crit)
	writeNotify(t, n, notifyAlert("acme-medium", "acme", "medium"), notifyAlert("acme-high", "acme", "high"),
		notifyAlert("globex-high", "globex", "high"), notifyAlert("globex-critical", "globex", "critical"),
		notifyAlert("acme-low", "acme", "low"))
	want := map[string][]string{
		"/all-high": {"acme-high", "globex-high", "globex-critical"},
		"/acme-low": {"acme-medium", "acme-high", "acme-low"},
		"/critical": {"globex-critical"},
	}
	got := map[string][]string{}
	for _, d := range rv.waitDeliveries(t, 7) {
		got[d.path] = append(got[d.path], d.id)
	}
	for path, ids := range want {
		if fmt.Sprint(got[path]) != fmt.Sprint(ids) {
			t.Errorf("route %s: got %v, want %v", path, got[path], ids)
		}
	}
}

func TestNotifyQueueFullDrops(t *testing.T) {
	rv := newReceiver(t)
	rv.set("hang", 0)
	route := testRoute(rv, "ops")
	route.Timeout = time.Hour
	var logs syncWriter
	n, err := NewNotify(NotifyConfig{Dir: t.TempDir(), MaxQueued: 3, Routes: []NotifyRoute{route}},
		NotifyOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	writeNotify(t, n, notifyAlerts("q", 10)...)
	if w := n.Waiting("ops"); w != 3 {
		t.Errorf("got %d waiting, want 3 (max_queued)", w)
	}
	if d := n.RouteStats("ops").Dropped("queue_full"); d != 7 {
		t.Errorf("got %d dropped, want 7", d)
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"notify: notification dropped\"") {
		t.Errorf("got logs %q, want an error about the dropped notifications", logs.String())
	}
}

// syncWriter serializes writes to w: the sink logs from several goroutines.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// triageServer is a search engine holding one alert (id a1, in index vigil-alerts-acme-2026.11.24): a search finds
// it by vigil.alert.id, an _update records its request and answers result.
type triageServer struct {
	*httptest.Server
	mu       sync.Mutex
	searches []string // request bodies
	updates  []string // "path body"
	result   string
}

func newTriageServer(t *testing.T) *triageServer {
	s := &triageServer{result: "updated"}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case strings.Contains(r.URL.Path, "/_update/"):
			s.updates = append(s.updates, r.URL.Path+"?"+r.URL.RawQuery+" "+string(b))
			io.WriteString(w, `{"result":"`+s.result+`"}`)
		case strings.HasSuffix(r.URL.Path, "/_search"):
			s.searches = append(s.searches, string(b))
			if !strings.Contains(string(b), `"a1"`) {
				io.WriteString(w, `{"hits":{"total":{"value":0},"hits":[]}}`)
				return
			}
			io.WriteString(w, `{"hits":{"total":{"value":1},"hits":[{"_index":"vigil-alerts-acme-2026.11.24","_source":
 {"@timestamp":"2026-11-27T10:00:03.123Z","rule":{"id":"vigil.auth.ssh_bruteforce","name":"SSH brute force"},"event":{"risk_score":73},
  "vigil":{"alert":{"id":"a1","tenant":"acme","severity":"high","status":"closed","closed_reason":"benign","assignee":"bob",
   "original_time":"2026-11-24T09:13:02.732Z","reason":"authentication event created high alert SSH brute force.",
   "history":[{"at":"2026-11-27T11:00:00Z","by":"alice","action":"close","from":"open","to":"closed","reason":"benign","note":"patch window"}]}}}}]}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func runAlerts(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(append([]string{"alerts"}, args...), nil, &o, &e)
	return code, o.String(), e.String()
}

// TestAlertsTriageUpdatesTheAlertsIndex: ack, close, reopen and assign find the alert by id across the alias and
// send one scripted _update to the index it is in, naming who did it.
func TestAlertsTriageUpdatesTheAlertsIndex(t *testing.T) {
	tests := []struct {
		args    []string
		out     string
		inParam []string
	}{
		{[]string{"ack", "a1"}, "a1: acknowledged\n", []string{`"to":"acknowledged"`, `"field":"status"`, `"action":"ack"`}},
		{[]string{"close", "--reason", "false_positive", "--note", "scanner", "a1"}, "a1: closed (false_positive)\n",
			[]string{`"to":"closed"`, `"reason":"false_positive"`, `"note":"scanner"`}},
		{[]string{"reopen", "a1"}, "a1: open\n", []string{`"to":"open"`}},
		{[]string{"assign", "a1", "carol"}, "a1: assigned to carol\n", []string{`"field":"assignee"`, `"to":"carol"`}},
	}
	for _, tc := range tests {
		srv := newTriageServer(t)
		args := append([]string{tc.args[0], "--url", srv.URL, "--flavor", "opensearch", "--user", "alice"}, tc.args[1:]...)
		code, out, errOut := runAlerts(t, args...)
		if code != 0 || out != tc.out {
			t.Errorf("%v: got exit %d, %q (stderr %q), want 0, %q", tc.args, code, out, errOut, tc.out)
			continue
		}
		if len(srv.updates) != 1 {
			t.Fatalf("%v: updates: got %d, want 1", tc.args, len(srv.updates))
		}
		u := srv.updates[0]
		for _, want := range append(tc.inParam, "/vigil-alerts-acme-2026.11.24/_update/a1?", "retry_on_conflict=5", `"by":"alice"`, `"lang":"painless"`) {
			if !strings.Contains(u, want) {
				t.Errorf("%v: update request %s: %s missing", tc.args, u, want)
			}
		}
		if !strings.Contains(srv.searches[0], `"terms":{"vigil.alert.id":["a1"]}`) {
			t.Errorf("%v: search %s: want a filter on vigil.alert.id", tc.args, srv.searches[0])
		}
	}
}

func TestAlertsTriageErrors(t *testing.T) {
	srv := newTriageServer(t)
	conn := []string{"--url", srv.URL, "--flavor", "opensearch", "--user", "alice"}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"close", "a1"}, 2, `reason "": want one of [false_positive true_positive benign duplicate]`},
		{[]string{"close", "--reason", "fp", "a1"}, 2, `reason "fp"`},
		{[]string{"ack", "--reason", "benign", "a1"}, 2, "unknown flag: --reason"},
		{[]string{"ack"}, 2, "no alert id"},
		{[]string{"assign", "a1"}, 2, "no alert id"},
		{[]string{"ack", "nope"}, 1, "alert nope: not found in vigil-alerts"},
	}
	for _, tc := range tests {
		code, _, errOut := runAlerts(t, append(append([]string{tc.args[0]}, conn...), tc.args[1:]...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: got exit %d, %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	if len(srv.updates) != 0 {
		t.Errorf("updates: got %v, want none", srv.updates)
	}
	srv.result = "noop"
	if code, out, _ := runAlerts(t, append(append([]string{"ack"}, conn...), "a1")...); code != 0 || out != "a1: already acknowledged\n" {
		t.Errorf("noop: got %d, %q, want 0, %q", code, out, "a1: already acknowledged\n")
	}
}

func TestAlertsTriageUser(t *testing.T) {
	srv := newTriageServer(t)
	t.Setenv("VIGIL_USER", "night-shift")
	if code, _, errOut := runAlerts(t, "ack", "--url", srv.URL, "--flavor", "opensearch", "a1"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(srv.updates[0], `"by":"night-shift"`) {
		t.Errorf("update %s: got no by night-shift, want $VIGIL_USER", srv.updates[0])
	}
}

func TestAlertsShow(t *testing.T) {
	srv := newTriageServer(t)
	code, out, errOut := runAlerts(t, "show", "--url", srv.URL, "--flavor", "opensearch", "a1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Alert       a1\n", "Rule        vigil.auth.ssh_bruteforce: SSH brute force\n", "Severity    high, risk 73\n",
		"Tenant      acme\n", "Status      closed, reason benign\n", "Assignee    bob\n", "Created     2026-11-27 10:00:03Z\n",
		"Event time  2026-11-24 09:13:02Z\n", "Index       vigil-alerts-acme-2026.11.24\n",
		"History\n  2026-11-27 11:00:00Z  alice  close  open -> closed  benign  patch window\n",
		"Document\n{\n  \"@timestamp\": \"2026-11-27T10:00:03.123Z\",\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show: got\n%s\nwant it to contain %q", out, want)
		}
	}
	code, out, _ = runAlerts(t, "show", "--url", srv.URL, "--flavor", "opensearch", "-o", "json", "a1")
	var doc map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || lookup(doc, "vigil.alert.id") != "a1" {
		t.Errorf("show -o json: got %d, %q, want the document", code, out)
	}
}

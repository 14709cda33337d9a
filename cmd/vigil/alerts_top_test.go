package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAlertsSearchTriageFilters: --status and --assignee filter, --output json prints one array, --output ndjson
// and --json one document per line.
func TestAlertsSearchTriageFilters(t *testing.T) {
	var body map[string]any
	srv := searchServer(t, &body)
	conn := []string{"--url", srv.URL, "--flavor", "opensearch"}
	code, out, errOut := runAlerts(t, append([]string{"search", "--status", "open,acknowledged", "--assignee", "alice", "-o", "json"}, conn...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, _ := json.Marshal(body)
	for _, want := range []string{`{"terms":{"vigil.alert.status":["open","acknowledged"]}}`, `{"term":{"vigil.alert.assignee":"alice"}}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("request body %s: %s missing", b, want)
		}
	}
	var docs []map[string]any
	if err := json.Unmarshal([]byte(out), &docs); err != nil || len(docs) != 2 {
		t.Errorf("--output json: got %q (%v), want an array of 2 alerts", out, err)
	}
	for _, flag := range [][]string{{"-o", "ndjson"}, {"--json"}} {
		_, out, _ := runAlerts(t, append(append([]string{"search"}, flag...), conn...)...)
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !json.Valid([]byte(lines[1])) {
			t.Errorf("%v: got %q, want 2 JSON lines", flag, out)
		}
	}
	for _, args := range [][]string{{"--status", "done"}, {"-o", "yaml"}} {
		if code, _, errOut := runAlerts(t, append(append([]string{"search"}, args...), conn...)...); code != 2 {
			t.Errorf("%v: got exit %d (%s), want 2", args, code, errOut)
		}
	}
}

// TestAlertsTop: one terms aggregation per --by field under the filters, printed as counts per value.
func TestAlertsTop(t *testing.T) {
	var body map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		io.WriteString(w, `{"hits":{"total":{"value":42}},"aggregations":{
 "top0":{"sum_other_doc_count":2,"buckets":[{"key":"SSH brute force","doc_count":30},{"key":"Certutil","doc_count":10}]},
 "missing0":{"doc_count":0},
 "top1":{"sum_other_doc_count":0,"buckets":[{"key":"web-01","doc_count":12}]},"missing1":{"doc_count":30}}}`)
	}))
	defer srv.Close()
	code, out, errOut := runAlerts(t, "top", "--url", srv.URL, "--flavor", "opensearch", "--status", "open", "--by", "rule.name", "--by", "host.name", "--size", "5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `42 matching alerts

ALERTS  RULE.NAME
    30  SSH brute force
    10  Certutil
     2  (other values)

ALERTS  HOST.NAME
    12  web-01
    30  (none)
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	b, _ := json.Marshal(body)
	for _, s := range []string{`"top0":{"terms":{"field":"rule.name","size":5}}`, `"top1":{"terms":{"field":"host.name","size":5}}`,
		`"size":0`, `"vigil.alert.status":["open"]`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("request body %s: %s missing", b, s)
		}
	}
}

package sinks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
)

// growingAlert is version v of an Update alert numbered n: a correlation alert whose count, last time and
// contributing alerts grow with each version.
func growingAlert(n, v int) *vigil.Alert {
	id := fmt.Sprintf("corr-%03d", n)
	ids := make([]any, v)
	for i := range ids {
		ids[i] = fmt.Sprintf("base-%03d-%d", n, i)
	}
	return &vigil.Alert{ID: id, Tenant: "acme", RuleID: "corr.burst", Time: day1, Update: true, Doc: map[string]any{
		"@timestamp": day1.Add(time.Duration(v) * time.Minute).Format(time.RFC3339Nano),
		"event":      map[string]any{"kind": "alert", "severity": int64(3)},
		"rule":       map[string]any{"id": "corr.burst", "name": "Burst of failed logons"},
		"n":          int64(n),
		"vigil": map[string]any{
			"alert": map[string]any{"id": id, "tenant": "acme", "severity": "high", "status": "open"},
			"correlation": map[string]any{"count": int64(v), "alert_ids": ids,
				"last_time": day1.Add(time.Duration(v) * time.Second).Format(time.RFC3339Nano)},
		},
	}}
}

// roundTrip is v as JSON decodes it.
func roundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestElasticsearchUpdateRequest: an Update alert is sent as an update with retry_on_conflict, whose doc is the
// document without vigil.alert.status and whose upsert is the whole document, whether the vigil objects are maps or
// trees shared with the event; the alert's own document is left as it was.
func TestElasticsearchUpdateRequest(t *testing.T) {
	tests := []struct {
		name string
		tree func(doc map[string]any) // turns parts of the document into fields.Value trees
	}{
		{"maps", func(map[string]any) {}},
		{"vigil as a tree", func(doc map[string]any) { doc["vigil"] = fields.MustFromMap(doc["vigil"].(map[string]any)) }},
		{"vigil.alert as a tree", func(doc map[string]any) {
			v := doc["vigil"].(map[string]any)
			v["alert"] = fields.MustFromMap(v["alert"].(map[string]any))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeES(t)
			s := newTestSink(t, testConfig(f.URL), &memDLQ{})
			a := growingAlert(1, 1)
			tt.tree(a.Doc)
			whole := roundTrip(t, a.Doc)
			write(t, s, []*vigil.Alert{a})

			ops := f.received(a.ID)
			if len(ops) != 1 {
				t.Fatalf("items received for %s: got %d, want 1", a.ID, len(ops))
			}
			wantAction := `{"update":{"_index":"vigil-alerts-acme-2026.11.24","_id":"corr-001","retry_on_conflict":3}}`
			if got := string(ops[0].action); got != wantAction {
				t.Errorf("action line: got %s, want %s", got, wantAction)
			}
			var body map[string]map[string]any
			if err := json.Unmarshal(ops[0].body, &body); err != nil {
				t.Fatalf("body %s: %v", ops[0].body, err)
			}
			if len(body) != 2 || body["doc"] == nil || body["upsert"] == nil {
				t.Fatalf("body: got %s, want an object of doc and upsert", ops[0].body)
			}
			if !reflect.DeepEqual(body["upsert"], whole) {
				t.Errorf("upsert: got %v, want the whole document %v", body["upsert"], whole)
			}
			owned := roundTrip(t, whole)
			delete(owned["vigil"].(map[string]any)["alert"].(map[string]any), "status")
			if !reflect.DeepEqual(body["doc"], owned) {
				t.Errorf("doc: got %v, want the document without vigil.alert.status %v", body["doc"], owned)
			}
			if got := vigil.Get(a.Doc, "vigil", "alert", "status"); got != "open" {
				t.Errorf("the alert's own vigil.alert.status after the write: got %v, want open", got)
			}
			if got := docPath(f.doc("vigil-alerts-acme-2026.11.24", a.ID), "vigil", "alert", "status"); got != "open" {
				t.Errorf("stored vigil.alert.status: got %v, want open (the upsert inserts the whole document)", got)
			}
			if got := s.Stats.Created.Load(); got != 1 {
				t.Errorf("created: got %d, want 1", got)
			}
		})
	}
}

// TestElasticsearchCreateRequestUnchanged: an alert that is not an Update alert is still sent as a create with the
// document as it encodes, characters unescaped.
func TestElasticsearchCreateRequestUnchanged(t *testing.T) {
	f := newFakeES(t)
	s := newTestSink(t, testConfig(f.URL), &memDLQ{})
	a := testAlert("acme", 1, day1)
	a.Doc["process"] = map[string]any{"command_line": "a && b <c>"}
	write(t, s, []*vigil.Alert{a})
	ops := f.received(a.ID)
	if len(ops) != 1 {
		t.Fatalf("items received for %s: got %d, want 1", a.ID, len(ops))
	}
	if got, want := string(ops[0].action), `{"create":{"_index":"vigil-alerts-acme-2026.11.24","_id":"acme-00001"}}`; got != want {
		t.Errorf("action line: got %s, want %s", got, want)
	}
	var want bytes.Buffer
	if err := newJSONEncoder(&want).Encode(a.Doc); err != nil {
		t.Fatal(err)
	}
	if got := string(ops[0].body) + "\n"; got != want.String() {
		t.Errorf("document line: got %s, want %s", got, want.String())
	}
}

// TestElasticsearchUpdateKeepsAnalystFields: a later version replaces the fields Vigil writes, and leaves the status
// and the assignee an analyst set.
func TestElasticsearchUpdateKeepsAnalystFields(t *testing.T) {
	f := newFakeES(t)
	s := newTestSink(t, testConfig(f.URL), &memDLQ{})
	const index = "vigil-alerts-acme-2026.11.24"
	write(t, s, []*vigil.Alert{growingAlert(1, 1)})
	f.analystUpdate(index, "corr-001", map[string]any{"vigil": map[string]any{"alert": map[string]any{
		"status": "acknowledged", "assignee": "alice"}}})
	write(t, s, []*vigil.Alert{growingAlert(1, 2)})

	doc := f.doc(index, "corr-001")
	if got := docPath(doc, "vigil", "correlation", "count"); got != float64(2) {
		t.Errorf("vigil.correlation.count: got %v, want 2", got)
	}
	if got, _ := docPath(doc, "vigil", "correlation", "alert_ids").([]any); len(got) != 2 {
		t.Errorf("vigil.correlation.alert_ids: got %v, want 2 ids", got)
	}
	if got := docPath(doc, "vigil", "alert", "status"); got != "acknowledged" {
		t.Errorf("vigil.alert.status: got %v, want acknowledged", got)
	}
	if got := docPath(doc, "vigil", "alert", "assignee"); got != "alice" {
		t.Errorf("vigil.alert.assignee: got %v, want alice", got)
	}
	if got := f.count(); got != 1 {
		t.Errorf("stored documents: got %d, want 1", got)
	}
	if c, u, d := s.Stats.Created.Load(), s.Stats.Updated.Load(), s.Stats.Duplicates.Load(); c != 1 || u != 1 || d != 0 {
		t.Errorf("created, updated, duplicates: got %d, %d, %d, want 1, 1, 0", c, u, d)
	}
}

// TestElasticsearchUpdateItemFaults: the second version of 20 Update alerts, a fifth of them answered with a fault:
// 429, 5xx and 409 (a concurrent writer, beyond retry_on_conflict) are retried until stored; a mapping error is
// dead-lettered with the whole alert document.
func TestElasticsearchUpdateItemFaults(t *testing.T) {
	tests := []struct {
		name       string
		reply      itemReply
		times      int // the fault answers this many attempts of each faulty item; 0: every attempt
		wantDead   int
		wantReason string
	}{
		{"429 retried", itemReply{429, "es_rejected_execution_exception", "rejected execution of coordinating operation"}, 2, 0, ""},
		{"409 retried", itemReply{409, "version_conflict_engine_exception", "[corr-004]: version conflict, current version [3] is different than the one provided [2]"}, 2, 0, ""},
		{"503 retried", itemReply{503, "unavailable_shards_exception", "primary shard is not active"}, 1, 0, ""},
		{"400 mapping dead-lettered", itemReply{400, "mapper_parsing_exception", "failed to parse field [vigil.correlation.count] of type [long]"}, 0, 5, "mapping"},
	}
	const index = "vigil-alerts-acme-2026.11.24"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeES(t)
			dlq := &memDLQ{}
			s := newTestSink(t, testConfig(f.URL), dlq)
			var v1, v2 []*vigil.Alert
			for n := range 20 {
				v1, v2 = append(v1, growingAlert(n, 1)), append(v2, growingAlert(n, 2))
			}
			write(t, s, v1)
			f.mu.Lock()
			f.itemFault = func(id string, doc map[string]any, attempt int) itemReply {
				if n := int(doc["n"].(float64)); n%4 == 0 && (tt.times == 0 || attempt-1 <= tt.times) {
					return tt.reply
				}
				return itemReply{}
			}
			f.mu.Unlock()
			write(t, s, v2)

			for n := range 20 {
				want := float64(2)
				if tt.wantDead > 0 && n%4 == 0 {
					want = 1 // rejected: the first version stays
				}
				if got := docPath(f.doc(index, fmt.Sprintf("corr-%03d", n)), "vigil", "correlation", "count"); got != want {
					t.Errorf("corr-%03d vigil.correlation.count: got %v, want %v", n, got, want)
				}
			}
			if got, want := s.Stats.Updated.Load(), int64(20-tt.wantDead); got != want {
				t.Errorf("updated: got %d, want %d", got, want)
			}
			if got := s.Stats.Duplicates.Load(); got != 0 {
				t.Errorf("duplicates: got %d, want 0", got)
			}
			if got, want := s.Stats.Retries.Load(), int64(5*tt.times); got != want {
				t.Errorf("retries: got %d, want %d", got, want)
			}
			letters := dlq.all()
			if len(letters) != tt.wantDead {
				t.Fatalf("dead letters: got %d, want %d", len(letters), tt.wantDead)
			}
			for _, l := range letters {
				if l.Reason != tt.wantReason || !strings.Contains(l.Detail, tt.reply.reason) {
					t.Errorf("dead letter: got reason %q detail %q, want %q and the server's error", l.Reason, l.Detail, tt.wantReason)
				}
				var doc map[string]any
				if err := json.Unmarshal(l.Payload, &doc); err != nil || docPath(doc, "vigil", "alert", "status") != "open" ||
					docPath(doc, "vigil", "correlation", "count") != float64(2) || doc["upsert"] != nil {
					t.Errorf("dead letter payload: got %s (%v), want the whole alert document of version 2", l.Payload, err)
				}
			}
		})
	}
}

// TestElasticsearchUpdateVersionsInOneWrite: of several versions of one alert in one Write only the last is sent,
// so an earlier version retried after a 429 cannot land after it.
func TestElasticsearchUpdateVersionsInOneWrite(t *testing.T) {
	f := newFakeES(t)
	f.itemFault = func(id string, doc map[string]any, attempt int) itemReply {
		if attempt == 1 {
			return itemReply{429, "es_rejected_execution_exception", "queue full"}
		}
		return itemReply{}
	}
	s := newTestSink(t, testConfig(f.URL), &memDLQ{})
	other := testAlert("acme", 7, day1)
	write(t, s, []*vigil.Alert{growingAlert(1, 1), growingAlert(1, 2), other, growingAlert(1, 3)})
	if got := docPath(f.doc("vigil-alerts-acme-2026.11.24", "corr-001"), "vigil", "correlation", "count"); got != float64(3) {
		t.Errorf("vigil.correlation.count: got %v, want 3 (the last version)", got)
	}
	if got := len(f.received("corr-001")); got != 2 {
		t.Errorf("items received for corr-001: got %d, want 2 (the last version, and its retry)", got)
	}
	if f.doc("vigil-alerts-acme-2026.11.24", other.ID) == nil {
		t.Errorf("alert %s of the same Write not stored", other.ID)
	}
}

func BenchmarkElasticsearchEncodeUpdate(b *testing.B) {
	s := &Elasticsearch{cfg: testConfig("http://127.0.0.1:1")}
	s.cfg.SetDefaults()
	a := growingAlert(1, 20)
	op := &writeOp{}
	for b.Loop() {
		if _, letter := s.encode(a, op); letter != nil {
			b.Fatal(letter.Detail)
		}
	}
}

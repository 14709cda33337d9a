package sinks

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil/fields"
)

// TestOwnedFieldsLeaveOutTriage: an engine rewrite's "doc" holds none of the triage fields, whether vigil.alert is a
// map or a tree, and keeps every other field.
func TestOwnedFieldsLeaveOutTriage(t *testing.T) {
	alert := map[string]any{"id": "a1", "tenant": "acme", "severity": "high", "status": "open", "assignee": "bob",
		"closed_reason": "benign", "history": []any{map[string]any{"action": "ack"}}}
	for name, vigilObj := range map[string]any{
		"maps": map[string]any{"alert": alert, "correlation": map[string]any{"count": int64(3)}},
		"tree": fields.MustFromMap(map[string]any{"alert": alert, "correlation": map[string]any{"count": int64(3)}}),
	} {
		doc := map[string]any{"rule": map[string]any{"id": "r"}, "vigil": vigilObj}
		got := roundTrip(t, ownedFields(doc))
		a := docPath(got, "vigil", "alert").(map[string]any)
		for _, f := range TriageFields {
			if v, ok := a[f]; ok {
				t.Errorf("%s: vigil.alert.%s in the rewrite: got %v, want it absent", name, f, v)
			}
		}
		if a["id"] != "a1" || a["severity"] != "high" || docPath(got, "vigil", "correlation", "count") != float64(3) ||
			docPath(got, "rule", "id") != "r" {
			t.Errorf("%s: rewrite: got %v, want every engine field kept", name, got)
		}
		if len(alert) != 7 {
			t.Errorf("%s: the alert's own vigil.alert: got %v, want it unchanged", name, alert)
		}
	}
}

func TestTriageValidate(t *testing.T) {
	tests := []struct {
		t    Triage
		want string // in the error; "" for none
	}{
		{Triage{Action: ActionAck, By: "alice"}, ""},
		{Triage{Action: ActionClose, By: "alice", Reason: "false_positive"}, ""},
		{Triage{Action: ActionAssign, By: "alice", Assignee: "bob"}, ""},
		{Triage{Action: ActionClose, By: "alice"}, `reason "": want one of`},
		{Triage{Action: ActionClose, By: "alice", Reason: "fp"}, `reason "fp"`},
		{Triage{Action: ActionAck, By: "alice", Reason: "benign"}, "for close only"},
		{Triage{Action: ActionAssign, By: "alice"}, "no user"},
		{Triage{Action: ActionReopen}, "who makes the change"},
		{Triage{Action: "delete", By: "alice"}, "unknown action"},
	}
	for _, tc := range tests {
		err := tc.t.Validate()
		if got := errText(err); (tc.want == "") != (err == nil) || !strings.Contains(got, tc.want) {
			t.Errorf("%+v: got %q, want %q", tc.t, got, tc.want)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestTriageBody: the script's parameters say which field becomes what, by whom and when.
func TestTriageBody(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 30, 0, 0, time.UTC)
	tests := []struct {
		t    Triage
		want map[string]any
	}{
		{Triage{Action: ActionClose, By: "alice", At: at, Reason: "benign", Note: "patch window"},
			map[string]any{"field": "status", "to": "closed", "reason": "benign", "note": "patch window", "by": "alice", "at": "2026-11-27T08:30:00Z", "action": "close"}},
		{Triage{Action: ActionReopen, By: "bob", At: at},
			map[string]any{"field": "status", "to": "open", "by": "bob", "at": "2026-11-27T08:30:00Z", "action": "reopen"}},
		{Triage{Action: ActionAssign, By: "bob", At: at, Assignee: "carol"},
			map[string]any{"field": "assignee", "to": "carol", "by": "bob", "at": "2026-11-27T08:30:00Z", "action": "assign"}},
	}
	for _, tc := range tests {
		b, err := tc.t.body()
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Script struct {
				Lang   string         `json:"lang"`
				Params map[string]any `json:"params"`
			} `json:"script"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		if got, _ := json.Marshal(body.Script.Params); string(got) != string(must(json.Marshal(tc.want))) || body.Script.Lang != "painless" {
			t.Errorf("%s: params: got %s (%s), want %s (painless)", tc.t.Action, got, body.Script.Lang, must(json.Marshal(tc.want)))
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestApplyTriage: the compare-and-set fallback changes a document as the script does: the field, the closed
// reason, one history entry per change, nothing for a change that changes nothing.
func TestApplyTriage(t *testing.T) {
	doc := map[string]any{"vigil": map[string]any{"alert": map[string]any{"id": "a1", "status": "open"}}}
	at := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	steps := []struct {
		t       Triage
		changed bool
	}{
		{Triage{Action: ActionAck, By: "alice", At: at}, true},
		{Triage{Action: ActionAck, By: "alice", At: at}, false},
		{Triage{Action: ActionAssign, By: "alice", At: at, Assignee: "bob"}, true},
		{Triage{Action: ActionClose, By: "bob", At: at, Reason: "benign", Note: "patch window"}, true},
		{Triage{Action: ActionReopen, By: "bob", At: at}, true},
	}
	for i, s := range steps {
		if got := applyTriage(doc, s.t.params()); got != s.changed {
			t.Errorf("step %d (%s): changed: got %v, want %v", i+1, s.t.Action, got, s.changed)
		}
	}
	a := doc["vigil"].(map[string]any)["alert"].(map[string]any)
	if a["status"] != "open" || a["assignee"] != "bob" || a["closed_reason"] != nil {
		t.Errorf("alert: got %v, want open, assigned to bob, no closed reason", a)
	}
	want := `[{"action":"ack","at":"2026-11-27T08:00:00Z","by":"alice","from":"open","to":"acknowledged"},` +
		`{"action":"assign","at":"2026-11-27T08:00:00Z","by":"alice","to":"bob"},` +
		`{"action":"close","at":"2026-11-27T08:00:00Z","by":"bob","from":"acknowledged","note":"patch window","reason":"benign","to":"closed"},` +
		`{"action":"reopen","at":"2026-11-27T08:00:00Z","by":"bob","from":"closed","to":"open"}]`
	if got := string(must(json.Marshal(a["history"]))); got != want {
		t.Errorf("history:\ngot  %s\nwant %s", got, want)
	}
}

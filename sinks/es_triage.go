package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Triage is the analyst's side of an alert (docs/alerts.md, "Triage"): its status, its assignee, why it was closed,
// and an append-only history of who changed what and when. These fields live in vigil.alert; the engine writes only
// the first status ("open") and never touches them again (ownedFields leaves them out of an Update alert's rewrite).

// AlertStatuses are the values of vigil.alert.status.
var AlertStatuses = []string{"open", "acknowledged", "closed"}

// ClosedReasons are the values of vigil.alert.closed_reason, one of which a close requires.
var ClosedReasons = []string{"false_positive", "true_positive", "benign", "duplicate"}

// TriageFields are the members of vigil.alert that belong to the analyst once the alert exists.
var TriageFields = []string{"status", "assignee", "closed_reason", "history"}

// The triage actions, as recorded in vigil.alert.history[].action.
const (
	ActionAck    = "ack"
	ActionClose  = "close"
	ActionReopen = "reopen"
	ActionAssign = "assign"
)

// Triage is one change an analyst makes to alerts.
type Triage struct {
	// Action is ActionAck, ActionClose, ActionReopen or ActionAssign.
	Action string
	// By is who makes the change; At when (default now).
	By string
	At time.Time
	// Reason is one of ClosedReasons; required for ActionClose, refused for the others.
	Reason string
	// Note is free text kept in the history.
	Note string
	// Assignee is the user an ActionAssign assigns the alerts to.
	Assignee string
}

// Validate checks the change.
func (t *Triage) Validate() error {
	switch t.Action {
	case ActionAck, ActionReopen, ActionClose, ActionAssign:
	default:
		return fmt.Errorf("unknown action %q", t.Action)
	}
	switch {
	case t.By == "":
		return fmt.Errorf("%s: who makes the change is not known", t.Action)
	case t.Action == ActionClose && !slices.Contains(ClosedReasons, t.Reason):
		return fmt.Errorf("close: reason %q: want one of %v", t.Reason, ClosedReasons)
	case t.Action != ActionClose && t.Reason != "":
		return fmt.Errorf("%s: a reason is for close only", t.Action)
	case t.Action == ActionAssign && t.Assignee == "":
		return fmt.Errorf("assign: no user")
	}
	return nil
}

// triageScript applies a Triage in one _update: it sets the field (status or assignee), the closed reason, and
// appends the change to the history, all in one atomic document update (retry_on_conflict repeats the script on a
// concurrent change, so no history entry is lost). An update that changes nothing and has no note is a noop.
// It uses only what Painless has on Elasticsearch 7.17 and 8 and on OpenSearch 2.x.
const triageScript = `
Map s = ctx._source;
if (!(s.vigil instanceof Map)) { s.vigil = new HashMap(); }
if (!(s.vigil.alert instanceof Map)) { s.vigil.alert = new HashMap(); }
Map a = s.vigil.alert;
String field = params.field;
def from = a.get(field);
if (from == null && field == 'status') { from = 'open'; }
boolean same = from == params.to && (params.to != 'closed' || a.get('closed_reason') == params.reason);
if (same && params.note == null) { ctx.op = 'noop'; return; }
Map e = new HashMap();
e.at = params.at; e.by = params.by; e.action = params.action;
if (from != null) { e.from = from; }
e.to = params.to;
a.put(field, params.to);
if (field == 'status') {
  if (params.to == 'closed') { a.closed_reason = params.reason; } else { a.remove('closed_reason'); }
}
if (params.reason != null) { e.reason = params.reason; }
if (params.note != null) { e.note = params.note; }
if (!(a.history instanceof List)) { a.history = new ArrayList(); }
a.history.add(e);
`

// params are the script's parameters: the field changed, its new value, and the history entry's members.
func (t *Triage) params() map[string]any {
	at := t.At
	if at.IsZero() {
		at = time.Now()
	}
	params := map[string]any{"action": t.Action, "by": t.By, "at": at.UTC().Format(time.RFC3339Nano),
		"field": "status", "to": map[string]string{ActionAck: "acknowledged", ActionClose: "closed", ActionReopen: "open"}[t.Action]}
	if t.Action == ActionAssign {
		params["field"], params["to"] = "assignee", t.Assignee
	}
	if t.Reason != "" {
		params["reason"] = t.Reason
	}
	if t.Note != "" {
		params["note"] = t.Note
	}
	return params
}

// body is the _update request of t.
func (t *Triage) body() ([]byte, error) {
	return json.Marshal(map[string]any{"script": map[string]any{"lang": "painless", "source": triageScript, "params": t.params()}})
}

// TriageAlert applies t to the alert with id in the concrete index. It reports whether the alert changed (false: it
// already was as t would make it, and t has no note).
func TriageAlert(ctx context.Context, tp esapi.Transport, index, id string, t Triage) (bool, error) {
	if err := t.Validate(); err != nil {
		return false, err
	}
	body, err := t.body()
	if err != nil {
		return false, err
	}
	changed, err := withRetry(ctx, func() (bool, error) { return triageScripted(ctx, tp, index, id, body) })
	if err != nil && noScripts(err) {
		return triageWithoutScript(ctx, tp, index, id, t.params())
	}
	return changed, err
}

func triageScripted(ctx context.Context, tp esapi.Transport, index, id string, body []byte) (bool, error) {
	res, err := esapi.UpdateRequest{Index: index, DocumentID: id, Body: bytes.NewReader(body),
		RetryOnConflict: esapi.IntPtr(5), Refresh: "true"}.Do(ctx, tp)
	if err != nil {
		return false, fmt.Errorf("update %s/%s: %w", index, id, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return false, fmt.Errorf("update %s/%s: %w", index, id, readStatusError(res))
	}
	var r struct {
		Result string `json:"result"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return false, fmt.Errorf("update %s/%s: response: %w", index, id, err)
	}
	return r.Result != "noop", nil
}

// FindAlert finds the alert with id under prefix (narrowed to tenant's indices when tenant is set), and returns
// every copy of it with its concrete index: an alert is in one index, but a replay on another day of an alert
// outside the event time window stores a second copy (docs/alerts.md, "Index layout").
func FindAlert(ctx context.Context, tp esapi.Transport, prefix, tenant, id string) (*AlertHits, error) {
	hits, err := SearchAlerts(ctx, tp, prefix, AlertQuery{Tenant: tenant, IDs: []string{id}, Size: 10})
	if err != nil {
		return nil, err
	}
	if len(hits.Alerts) == 0 {
		where := prefix
		if tenant != "" {
			where += " (tenant " + tenant + ")"
		}
		return nil, fmt.Errorf("alert %s: not found in %s", id, where)
	}
	return hits, nil
}

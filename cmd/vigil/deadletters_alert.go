package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/sinks"
)

// alertFromLetter rebuilds a parked alert from its document (docs/alerts.md) and the letter's origin: its id, tenant,
// times and origin choose the document id and the index exactly as when it was first written, so a replay cannot
// make a second copy. The alert
// is written with `create`: a version of it already in the index is left as it is (a 409 counts as stored).
func alertFromLetter(l *sinks.ParkedLetter) (*vigil.Alert, error) {
	dec := json.NewDecoder(bytes.NewReader(l.Payload))
	dec.UseNumber() // integers stay exact
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, errors.New("the payload is not an alert document (not a JSON object)")
	}
	str := func(path ...string) string {
		s, _ := vigil.Get(doc, path...).(string)
		return s
	}
	a := &vigil.Alert{ID: str("vigil", "alert", "id"), Tenant: str("vigil", "alert", "tenant"), RuleID: str("rule", "id"), Doc: doc}
	if a.ID == "" {
		return nil, errors.New("the alert document has no vigil.alert.id")
	}
	if a.Tenant == "" {
		a.Tenant = l.Tenant
	}
	if a.Tenant == "" {
		return nil, errors.New("the alert document has no vigil.alert.tenant")
	}
	t, err := time.Parse(time.RFC3339Nano, str("vigil", "alert", "original_time"))
	if err != nil {
		return nil, fmt.Errorf("the alert document has no valid vigil.alert.original_time, which chooses its daily index: %q", str("vigil", "alert", "original_time"))
	}
	a.Time = t
	// The event itself is gone, but its origin is in the letter: the sink places the alert by the record's time as
	// it did the first time (sinks/es_placement.go).
	a.Event = &vigil.Event{Origin: l.Origin, Tenant: a.Tenant}
	return a, nil
}

// rejections is the dead-letter queue of the search sinks during a replay: it parks nothing, and remembers which
// alerts the index rejected again, by alert id.
type rejections struct {
	mu   sync.Mutex
	byID map[string]string
}

// Park implements vigil.DeadLetterQueue.
func (r *rejections) Park(_ context.Context, letters []vigil.DeadLetter) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range letters {
		var doc struct {
			Vigil struct {
				Alert struct{ ID string } `json:"alert"`
			} `json:"vigil"`
		}
		_ = json.Unmarshal(l.Payload, &doc)
		r.byID[doc.Vigil.Alert.ID] = l.Reason + ": " + l.Detail
	}
	return nil
}

// Close implements vigil.DeadLetterQueue.
func (r *rejections) Close() error { return nil }

// take returns the rejections so far and forgets them.
func (r *rejections) take() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.byID
	r.byID = map[string]string{}
	return out
}

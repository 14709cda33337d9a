package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Some clusters run no Painless: scripting turned off for hardening (script.allowed_types: none), or a node built
// without the lang-painless module (testenv's Elasticsearch 7.17). There TriageAlert falls back to a compare and
// set: it reads the document with its sequence number, applies the change in Go (applyTriage, the twin of
// triageScript), and writes it back only if nobody changed it in between (if_seq_no and if_primary_term); on a
// conflict it reads again. The outcome is the same as the script's, history entries are never lost.

// noScripts reports whether err is an engine's refusal to run the triage script.
func noScripts(err error) bool {
	s := err.Error()
	return strings.Contains(s, "script_lang not supported") || strings.Contains(s, "cannot execute [inline] scripts") ||
		strings.Contains(s, "cannot execute scripts using [update] context")
}

func triageWithoutScript(ctx context.Context, tp esapi.Transport, index, id string, params map[string]any) (bool, error) {
	for attempt := 0; attempt < 10; attempt++ {
		doc, seq, term, err := getWithVersion(ctx, tp, index, id)
		if err != nil {
			return false, err
		}
		if !applyTriage(doc, params) {
			return false, nil
		}
		body, err := json.Marshal(doc)
		if err != nil {
			return false, err
		}
		res, err := esapi.IndexRequest{Index: index, DocumentID: id, Body: bytes.NewReader(body), IfSeqNo: &seq,
			IfPrimaryTerm: &term, Refresh: "true"}.Do(ctx, tp)
		if err != nil {
			return false, fmt.Errorf("update %s/%s: %w", index, id, err)
		}
		conflict, failed := res.StatusCode == http.StatusConflict, res.IsError()
		if failed && !conflict {
			err = fmt.Errorf("update %s/%s: %w", index, id, readStatusError(res))
		}
		res.Body.Close()
		if !conflict {
			return err == nil, err
		}
	}
	return false, fmt.Errorf("update %s/%s: changed by others too often", index, id)
}

func getWithVersion(ctx context.Context, tp esapi.Transport, index, id string) (doc map[string]any, seq, term int, err error) {
	res, err := esapi.GetRequest{Index: index, DocumentID: id}.Do(ctx, tp)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("get %s/%s: %w", index, id, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return nil, 0, 0, fmt.Errorf("get %s/%s: %w", index, id, readStatusError(res))
	}
	var r struct {
		Source map[string]any `json:"_source"`
		SeqNo  *int           `json:"_seq_no"`
		Term   *int           `json:"_primary_term"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return nil, 0, 0, fmt.Errorf("get %s/%s: %w", index, id, err)
	}
	if r.SeqNo == nil || r.Term == nil || r.Source == nil {
		return nil, 0, 0, errors.New("get " + index + "/" + id + ": no _source or sequence number")
	}
	return r.Source, *r.SeqNo, *r.Term, nil
}

// applyTriage does to doc what triageScript does with params, and reports whether doc changed.
func applyTriage(doc map[string]any, p map[string]any) bool {
	v, ok := doc["vigil"].(map[string]any)
	if !ok {
		v = map[string]any{}
		doc["vigil"] = v
	}
	a, ok := v["alert"].(map[string]any)
	if !ok {
		a = map[string]any{}
		v["alert"] = a
	}
	field, to := p["field"].(string), p["to"]
	from, had := a[field]
	if !had && field == "status" {
		from, had = "open", true
	}
	if from == to && (to != "closed" || a["closed_reason"] == p["reason"]) && p["note"] == nil {
		return false
	}
	e := map[string]any{"at": p["at"], "by": p["by"], "action": p["action"], "to": to}
	if had {
		e["from"] = from
	}
	a[field] = to
	if field == "status" {
		delete(a, "closed_reason")
		if to == "closed" {
			a["closed_reason"] = p["reason"]
		}
	}
	for _, k := range []string{"reason", "note"} {
		if p[k] != nil {
			e[k] = p[k]
		}
	}
	history, _ := a["history"].([]any)
	a["history"] = append(history, e)
	return true
}

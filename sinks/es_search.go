package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Severities are the alert severity words, lowest first (vigil.alert.severity; event.severity is 1-4).
var Severities = []string{"low", "medium", "high", "critical"}

// AlertQuery selects alerts in the alert index, for analysts (`vigil alerts search`).
type AlertQuery struct {
	// Tenant, RuleID and Severities keep only the alerts with that tenant, rule id, and one of these severities.
	Tenant     string
	RuleID     string
	Severities []string
	// Since keeps the alerts created (@timestamp) in the last Since before Now; 0 keeps all.
	Since time.Duration
	Now   time.Time
	// Query is in query_string (Lucene) syntax, e.g. `user.name:root AND powershell`; terms without a field are
	// looked up in the index's default fields (docs/alerts.md). Empty matches every alert.
	Query string
	// Size is the most alerts returned, newest first. Default 50.
	Size int
}

// AlertHits is the answer to an AlertQuery.
type AlertHits struct {
	// Total counts every matching alert, not only the ones returned.
	Total int64
	// Alerts are the alert documents, newest first.
	Alerts []map[string]any
}

// Validate checks the query's filters.
func (q *AlertQuery) Validate() error {
	for _, s := range q.Severities {
		if !slices.Contains(Severities, s) {
			return fmt.Errorf("severity %q: want one of %v", s, Severities)
		}
	}
	if q.Tenant != "" {
		if err := validateIndexPart(q.Tenant); err != nil {
			return fmt.Errorf("tenant: %w", err)
		}
	}
	if q.Since < 0 {
		return errors.New("since: must not be negative")
	}
	return nil
}

// Body is the search request body: the filters as a bool filter, the query as query_string, newest first.
func (q *AlertQuery) Body() ([]byte, error) {
	var filter []any
	if q.Tenant != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"vigil.alert.tenant": q.Tenant}})
	}
	if q.RuleID != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"rule.id": q.RuleID}})
	}
	if len(q.Severities) > 0 {
		filter = append(filter, map[string]any{"terms": map[string]any{"vigil.alert.severity": q.Severities}})
	}
	if q.Since > 0 {
		from := q.Now.Add(-q.Since).UTC().Format(time.RFC3339Nano)
		filter = append(filter, map[string]any{"range": map[string]any{"@timestamp": map[string]any{"gte": from}}})
	}
	boolQuery := map[string]any{"filter": filter}
	if q.Query != "" {
		boolQuery["must"] = []any{map[string]any{"query_string": map[string]any{
			"query": q.Query, "default_operator": "AND", "lenient": true, "analyze_wildcard": true}}}
	}
	size := q.Size
	if size <= 0 {
		size = 50
	}
	return json.Marshal(map[string]any{
		"size":             size,
		"track_total_hits": true,
		"query":            map[string]any{"bool": boolQuery},
		"sort": []any{
			map[string]any{"@timestamp": map[string]any{"order": "desc", "unmapped_type": "date"}},
			map[string]any{"vigil.alert.id": map[string]any{"order": "asc", "unmapped_type": "keyword"}},
		},
	})
}

// SearchAlerts runs q against the alert indices named by prefix (the alias, or one tenant's indices), over a
// transport made by NewSearchTransport.
func SearchAlerts(ctx context.Context, tp esapi.Transport, prefix string, q AlertQuery) (*AlertHits, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	body, err := q.Body()
	if err != nil {
		return nil, err
	}
	index := prefix
	if q.Tenant != "" {
		index = prefix + "-" + q.Tenant + "-*" // narrows the search; the term filter keeps out tenant "acme-x"
	}
	// A 429 or 5xx (e.g. "all shards failed" while a new daily index starts its shards) is tried again a few times.
	for attempt := 0; ; attempt++ {
		hits, err := searchOnce(ctx, tp, index, body)
		var se *statusError
		if err == nil || attempt == 3 || !errors.As(err, &se) || !retryableStatus(se.status) {
			return hits, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(250<<attempt) * time.Millisecond):
		}
	}
}

func searchOnce(ctx context.Context, tp esapi.Transport, index string, body []byte) (*AlertHits, error) {
	res, err := esapi.SearchRequest{Index: []string{index}, Body: bytes.NewReader(body),
		IgnoreUnavailable: esapi.BoolPtr(true), AllowNoIndices: esapi.BoolPtr(true)}.Do(ctx, tp)
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", index, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return nil, fmt.Errorf("search %s: %w", index, readStatusError(res))
	}
	var r struct {
		Hits struct {
			Total json.RawMessage `json:"total"`
			Hits  []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("search %s: response: %w", index, err)
	}
	hits := &AlertHits{Total: parseTotal(r.Hits.Total)}
	for _, h := range r.Hits.Hits {
		hits.Alerts = append(hits.Alerts, h.Source)
	}
	return hits, nil
}

// parseTotal reads hits.total: {"value": n, "relation": "eq"} (7.x and later, OpenSearch) or a bare number.
func parseTotal(raw json.RawMessage) int64 {
	var obj struct {
		Value int64 `json:"value"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Value > 0 {
		return obj.Value
	}
	var n int64
	_ = json.Unmarshal(raw, &n)
	return n
}

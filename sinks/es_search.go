package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
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
	// Statuses and Assignee keep only the alerts with one of these triage statuses (AlertStatuses) and with this
	// assignee.
	Statuses []string
	Assignee string
	// IDs keeps only the alerts with these ids (vigil.alert.id).
	IDs []string
	// Since keeps the alerts of the last Since before Now; 0 keeps all. From (inclusive) and Until (exclusive)
	// bound the time absolutely; with both Since and From the later bound applies. The time is the alert's
	// creation (@timestamp), or with ByEventTime the event's (vigil.alert.original_time).
	Since       time.Duration
	From, Until time.Time
	Now         time.Time
	// ByEventTime applies the time bounds and the newest-first order to the event's time instead of the alert's
	// creation: the alerts of a batch are created within a second, while their events may span days.
	ByEventTime bool
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
	// Indices are the concrete indices the alerts were found in, one per alert.
	Indices []string
}

// Validate checks the query's filters.
func (q *AlertQuery) Validate() error {
	for _, s := range q.Severities {
		if !slices.Contains(Severities, s) {
			return fmt.Errorf("severity %q: want one of %v", s, Severities)
		}
	}
	for _, s := range q.Statuses {
		if !slices.Contains(AlertStatuses, s) {
			return fmt.Errorf("status %q: want one of %v", s, AlertStatuses)
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
	if from := q.from(); !from.IsZero() && !q.Until.IsZero() && !from.Before(q.Until) {
		return fmt.Errorf("since (%s) must be before until (%s)", from.UTC().Format(time.RFC3339), q.Until.UTC().Format(time.RFC3339))
	}
	return nil
}

// from is the lower time bound: the later of From and Now-Since; zero for none.
func (q *AlertQuery) from() time.Time {
	from := q.From
	if q.Since > 0 {
		now := q.Now
		if now.IsZero() {
			now = time.Now()
		}
		if since := now.Add(-q.Since); since.After(from) {
			from = since
		}
	}
	return from
}

// The two times of an alert document.
const (
	createdField   = "@timestamp"
	eventTimeField = "vigil.alert.original_time"
)

// boolQuery is the query of the request: the filters as a bool filter, the query as query_string.
func (q *AlertQuery) boolQuery() map[string]any {
	var filter []any
	term := func(field, value string) {
		if value != "" {
			filter = append(filter, map[string]any{"term": map[string]any{field: value}})
		}
	}
	terms := func(field string, values []string) {
		if len(values) > 0 {
			filter = append(filter, map[string]any{"terms": map[string]any{field: values}})
		}
	}
	term("vigil.alert.tenant", q.Tenant)
	term("rule.id", q.RuleID)
	term("vigil.alert.assignee", q.Assignee)
	terms("vigil.alert.severity", q.Severities)
	terms("vigil.alert.status", q.Statuses)
	terms("vigil.alert.id", q.IDs)
	bounds := map[string]any{}
	if from := q.from(); !from.IsZero() {
		bounds["gte"] = from.UTC().Format(time.RFC3339Nano)
	}
	if !q.Until.IsZero() {
		bounds["lt"] = q.Until.UTC().Format(time.RFC3339Nano)
	}
	if len(bounds) > 0 {
		filter = append(filter, map[string]any{"range": map[string]any{q.timeFields()[0]: bounds}})
	}
	boolQuery := map[string]any{"filter": filter}
	if q.Query != "" {
		boolQuery["must"] = []any{map[string]any{"query_string": map[string]any{
			"query": q.Query, "default_operator": "AND", "lenient": true, "analyze_wildcard": true}}}
	}
	return map[string]any{"bool": boolQuery}
}

// timeFields are the time the query bounds and orders by, then the other time.
func (q *AlertQuery) timeFields() [2]string {
	if q.ByEventTime {
		return [2]string{eventTimeField, createdField}
	}
	return [2]string{createdField, eventTimeField}
}

// Body is the search request body: the filters as a bool filter, the query as query_string, newest first.
func (q *AlertQuery) Body() ([]byte, error) {
	size := q.Size
	if size <= 0 {
		size = 50
	}
	tf := q.timeFields()
	return json.Marshal(map[string]any{
		"size":             size,
		"track_total_hits": true,
		"query":            q.boolQuery(),
		"sort": []any{ // the other time orders the alerts of one batch (created together) or of one event
			map[string]any{tf[0]: map[string]any{"order": "desc", "unmapped_type": "date"}},
			map[string]any{tf[1]: map[string]any{"order": "desc", "unmapped_type": "date"}},
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
	index := q.index(prefix)
	return withRetry(ctx, func() (*AlertHits, error) { return searchOnce(ctx, tp, index, body) })
}

// index is the index pattern q searches: the alias, or one tenant's indices.
func (q *AlertQuery) index(prefix string) string {
	if q.Tenant != "" {
		return prefix + "-" + q.Tenant + "-*" // narrows the search; the term filter keeps out tenant "acme-x"
	}
	return prefix
}

// withRetry runs a search request, trying a 429 or 5xx (e.g. "all shards failed" while a new daily index starts its
// shards) again a few times.
func withRetry[T any](ctx context.Context, do func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := do()
		var se *statusError
		if err == nil || attempt == 3 || !errors.As(err, &se) || !retryableStatus(se.status) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(time.Duration(250<<attempt) * time.Millisecond):
		}
	}
}

func searchOnce(ctx context.Context, tp esapi.Transport, index string, body []byte) (*AlertHits, error) {
	var r struct {
		Hits struct {
			Total json.RawMessage `json:"total"`
			Hits  []struct {
				Index  string         `json:"_index"`
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := searchJSON(ctx, tp, index, body, &r); err != nil {
		return nil, err
	}
	hits := &AlertHits{Total: parseTotal(r.Hits.Total)}
	for _, h := range r.Hits.Hits {
		hits.Alerts = append(hits.Alerts, h.Source)
		hits.Indices = append(hits.Indices, h.Index)
	}
	return hits, nil
}

// searchJSON runs one search request on index and decodes its answer into out.
func searchJSON(ctx context.Context, tp esapi.Transport, index string, body []byte, out any) error {
	res, err := esapi.SearchRequest{Index: []string{index}, Body: bytes.NewReader(body),
		IgnoreUnavailable: esapi.BoolPtr(true), AllowNoIndices: esapi.BoolPtr(true)}.Do(ctx, tp)
	if err != nil {
		return fmt.Errorf("search %s: %w", index, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return fmt.Errorf("search %s: %w", index, readSearchError(res))
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("search %s: response: %w", index, err)
	}
	return nil
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

// readSearchError reads an error answer to a search. A query the engine cannot run (a syntax error, a regular
// expression it refuses) fails on every shard, and the error itself then says only "all shards failed"
// (search_phase_execution_exception): what went wrong is in its root_cause and in each shard failure's reason, so
// those are what the error tells, first lines only (a parse error goes on with every token the parser expected).
func readSearchError(res *esapi.Response) error {
	data, _ := io.ReadAll(io.LimitReader(res.Body, 256<<10))
	_, _ = io.Copy(io.Discard, res.Body)
	var body struct {
		Error struct {
			RootCause    []esError `json:"root_cause"`
			FailedShards []struct {
				Reason esError `json:"reason"`
			} `json:"failed_shards"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) != nil || len(body.Error.RootCause) == 0 {
		res.Body = io.NopCloser(bytes.NewReader(data))
		return readStatusError(res)
	}
	var reasons []string
	add := func(s string) { // first lines only, each once: a nested cause often repeats its parent's words
		s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
		if s != "" && !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, s) }) {
			reasons = append(reasons, s)
		}
	}
	for _, rc := range body.Error.RootCause {
		add(rc.Reason)
	}
	for _, f := range body.Error.FailedShards {
		for e := f.Reason.CausedBy; e != nil; e = e.CausedBy {
			add(e.Reason)
		}
	}
	return &statusError{status: res.StatusCode, err: &esError{Type: body.Error.RootCause[0].Type, Reason: strings.Join(reasons, ": ")}}
}

// Product asks the root endpoint (GET /) of cfg's first URL which engine answers there, over the generic transport
// that any engine accepts: "OpenSearch 2.19.1", "Elasticsearch 7.17.29". It tells a user whose search the
// Elasticsearch client refused which flavor to choose.
func Product(ctx context.Context, cfg ElasticsearchConfig) (string, error) {
	cfg.Flavor = FlavorOpenSearch
	tp, err := NewSearchTransport(cfg)
	if err != nil {
		return "", err
	}
	res, err := esapi.InfoRequest{}.Do(ctx, tp)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.IsError() {
		return "", readStatusError(res)
	}
	var info struct {
		Version struct {
			Distribution string `json:"distribution"`
			Number       string `json:"number"`
		} `json:"version"`
		Tagline string `json:"tagline"`
	}
	if err := json.NewDecoder(res.Body).Decode(&info); err != nil {
		return "", fmt.Errorf("root endpoint: %w", err)
	}
	switch {
	case strings.EqualFold(info.Version.Distribution, "opensearch") || strings.Contains(info.Tagline, "OpenSearch"):
		return "OpenSearch " + info.Version.Number, nil
	case info.Version.Number != "":
		return "Elasticsearch " + info.Version.Number, nil
	}
	return "", errors.New("root endpoint: no version")
}

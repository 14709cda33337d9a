package sinks

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// TopFields are the fields `vigil alerts top` counts by when none is given: the morning overview.
var TopFields = []string{"rule.name", "host.name", "user.name", "threat.tactic.name"}

// AlertCounts is the answer to TopAlerts: the number of matching alerts, and per field its most frequent values.
type AlertCounts struct {
	Total  int64
	Fields []FieldCounts
}

// FieldCounts are the most frequent values of one field among the matching alerts.
type FieldCounts struct {
	Field string
	// Values are the values with their alert counts, most frequent first.
	Values []ValueCount
	// Other counts the alerts with a value not in Values; Missing the alerts without the field.
	Other, Missing int64
}

// ValueCount is one value of a field and the number of alerts that have it.
type ValueCount struct {
	Value string
	Count int64
}

// topBody is the request of TopAlerts: no hits, one terms aggregation (and one missing count) per field.
func (q *AlertQuery) topBody(fields []string, size int) ([]byte, error) {
	aggs := map[string]any{}
	for i, f := range fields {
		aggs[fmt.Sprint("top", i)] = map[string]any{"terms": map[string]any{"field": f, "size": size}}
		aggs[fmt.Sprint("missing", i)] = map[string]any{"missing": map[string]any{"field": f}}
	}
	return json.Marshal(map[string]any{"size": 0, "track_total_hits": true, "query": q.boolQuery(), "aggs": aggs})
}

// TopAlerts counts the alerts that q selects by the values of each of fields (terms aggregations of size values
// each), under prefix. The fields must be aggregatable (keyword, numbers, dates, ips): the alert fields are.
func TopAlerts(ctx context.Context, tp esapi.Transport, prefix string, q AlertQuery, fields []string, size int) (*AlertCounts, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	body, err := q.topBody(fields, size)
	if err != nil {
		return nil, err
	}
	index := q.index(prefix)
	return withRetry(ctx, func() (*AlertCounts, error) { return topOnce(ctx, tp, index, body, fields) })
}

func topOnce(ctx context.Context, tp esapi.Transport, index string, body []byte, fields []string) (*AlertCounts, error) {
	var r struct {
		Hits struct {
			Total json.RawMessage `json:"total"`
		} `json:"hits"`
		Aggs map[string]struct {
			Other   int64 `json:"sum_other_doc_count"`
			Count   int64 `json:"doc_count"`
			Buckets []struct {
				Key       any    `json:"key"`
				KeyString string `json:"key_as_string"`
				Count     int64  `json:"doc_count"`
			} `json:"buckets"`
		} `json:"aggregations"`
	}
	if err := searchJSON(ctx, tp, index, body, &r); err != nil {
		return nil, err
	}
	out := &AlertCounts{Total: parseTotal(r.Hits.Total)}
	for i, f := range fields {
		top := r.Aggs[fmt.Sprint("top", i)]
		fc := FieldCounts{Field: f, Other: top.Other, Missing: r.Aggs[fmt.Sprint("missing", i)].Count}
		for _, b := range top.Buckets {
			v := b.KeyString
			if v == "" {
				v = fmt.Sprint(b.Key)
			}
			fc.Values = append(fc.Values, ValueCount{Value: v, Count: b.Count})
		}
		out.Fields = append(out.Fields, fc)
	}
	return out, nil
}

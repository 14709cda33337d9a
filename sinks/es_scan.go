package sinks

import (
	"context"
	"encoding/json"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// scanPage is how many alerts one request of ScanAlerts returns.
const scanPage = 1000

// ScanAlerts calls fn with every alert that q selects under prefix (the alias, or one tenant's indices), in
// vigil.alert.id order, reading pages with search_after; only the fields listed are returned (_source filtering).
// q.Size is ignored. It is for reports that need every alert, not the newest few (vigil rules shadow-report).
func ScanAlerts(ctx context.Context, tp esapi.Transport, prefix string, q AlertQuery, fields []string, fn func(doc map[string]any)) error {
	if err := q.Validate(); err != nil {
		return err
	}
	index := q.index(prefix)
	var after []any
	for {
		req := map[string]any{"size": scanPage, "query": q.boolQuery(), "_source": fields,
			"sort": []any{map[string]any{"vigil.alert.id": map[string]any{"order": "asc", "unmapped_type": "keyword"}}}}
		if after != nil {
			req["search_after"] = after
		}
		body, err := json.Marshal(req)
		if err != nil {
			return err
		}
		var r struct {
			Hits struct {
				Hits []struct {
					Source map[string]any `json:"_source"`
					Sort   []any          `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if _, err := withRetry(ctx, func() (bool, error) { return true, searchJSON(ctx, tp, index, body, &r) }); err != nil {
			return err
		}
		for _, h := range r.Hits.Hits {
			fn(h.Source)
		}
		if len(r.Hits.Hits) < scanPage {
			return nil
		}
		after = r.Hits.Hits[len(r.Hits.Hits)-1].Sort
	}
}

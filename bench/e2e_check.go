package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/sinks"
)

// GroupLag returns how many records of topic the consumer group has not committed (a partition without a committed
// offset counts from its start).
func GroupLag(ctx context.Context, addr, group, topic string, partitions int) (int64, error) {
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 20 * time.Second}
	ids := make([]int, partitions)
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for i := range ids {
		ids[i] = i
		req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(i), kafka.LastOffsetOf(i))
	}
	committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		return 0, fmt.Errorf("offset fetch: %w", err)
	}
	ends, err := c.ListOffsets(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("list offsets: %w", err)
	}
	first, last := make([]int64, partitions), make([]int64, partitions)
	for _, p := range ends.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("list offsets %s/%d: %w", topic, p.Partition, p.Error)
		}
		first[p.Partition], last[p.Partition] = p.FirstOffset, p.LastOffset
	}
	pos := first
	for _, p := range committed.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("offset fetch %s/%d: %w", topic, p.Partition, p.Error)
		}
		if p.CommittedOffset >= 0 {
			pos[p.Partition] = p.CommittedOffset
		}
	}
	var lag int64
	for i := range partitions {
		lag += max(last[i]-pos[i], 0)
	}
	return lag, nil
}

// CountDocs returns the number of searchable documents in the indices matching pattern (no refresh is forced: what
// an analyst's search finds now). Missing indices count 0.
func CountDocs(ctx context.Context, tp esapi.Transport, pattern string) (int64, error) {
	res, err := esapi.CountRequest{Index: []string{pattern}, AllowNoIndices: ptrBool(true)}.Do(ctx, tp)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.IsError() {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 500))
		return 0, fmt.Errorf("count %s: %s: %s", pattern, res.Status(), body)
	}
	var out struct {
		Count int64 `json:"count"`
	}
	return out.Count, json.NewDecoder(res.Body).Decode(&out)
}

// StoredIDs returns how many times each document id occurs in the indices matching pattern (a scroll over all of
// them after a refresh): an alert stored in two daily indices, or twice, shows a count of 2.
func StoredIDs(ctx context.Context, tp esapi.Transport, pattern string) (map[string]int, error) {
	if res, err := (esapi.IndicesRefreshRequest{Index: []string{pattern}}).Do(ctx, tp); err != nil {
		return nil, err
	} else {
		res.Body.Close()
	}
	ids := map[string]int{}
	res, err := esapi.SearchRequest{Index: []string{pattern}, Scroll: time.Minute,
		Body: strings.NewReader(`{"size":5000,"_source":false,"sort":["_doc"]}`)}.Do(ctx, tp)
	for {
		if err != nil {
			return nil, err
		}
		var page struct {
			ScrollID string `json:"_scroll_id"`
			Hits     struct {
				Hits []struct {
					ID string `json:"_id"`
				} `json:"hits"`
			} `json:"hits"`
		}
		err = decodeResponse(res, &page)
		if err != nil {
			return nil, err
		}
		if len(page.Hits.Hits) == 0 {
			if page.ScrollID != "" {
				if r, err := (esapi.ClearScrollRequest{ScrollID: []string{page.ScrollID}}).Do(ctx, tp); err == nil {
					r.Body.Close()
				}
			}
			return ids, nil
		}
		for _, h := range page.Hits.Hits {
			ids[h.ID]++
		}
		res, err = esapi.ScrollRequest{ScrollID: page.ScrollID, Scroll: time.Minute}.Do(ctx, tp)
	}
}

// DeleteIndices deletes the indices matching pattern and the index template name.
func DeleteIndices(ctx context.Context, tp esapi.Transport, pattern, template string) error {
	res, err := esapi.IndicesDeleteRequest{Index: []string{pattern}}.Do(ctx, tp)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res, err = (esapi.IndicesDeleteIndexTemplateRequest{Name: template}).Do(ctx, tp); err == nil {
		res.Body.Close()
	}
	return err
}

func decodeResponse(res *esapi.Response, v any) error {
	defer res.Body.Close()
	if res.IsError() {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 500))
		return fmt.Errorf("%s: %s", res.Status(), body)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

func ptrBool(b bool) *bool { return &b }

// PrepareIndices installs Vigil's index template for cfg's prefix (through the sink, as `vigil run` does at start)
// and creates the daily indices the alerts go to, with mapping (from WarmMapping) as their mappings, so that every
// measurement indexes into existing indices that know every field: creating an index, and each dynamic mapping
// update of a new field, is a cluster state update that takes a loaded single node a few hundred milliseconds, a
// fixed cost a run of a few thousand alerts would be dominated by, while a running Vigil pays it once per tenant and
// day.
func PrepareIndices(ctx context.Context, cfg sinks.ElasticsearchConfig, alerts []*vigil.Alert, mapping json.RawMessage) error {
	s, err := sinks.NewElasticsearch(ctx, cfg, nil, nil)
	if err != nil {
		return err
	}
	s.Close()
	tp, err := sinks.NewSearchTransport(cfg)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, a := range alerts {
		name := sinks.IndexName(cfg.IndexPrefix, a.Tenant, a.Time)
		if done[name] {
			continue
		}
		done[name] = true
		var body io.Reader
		if mapping != nil {
			body = strings.NewReader(`{"mappings":` + string(mapping) + `}`)
		}
		res, err := esapi.IndicesCreateRequest{Index: name, Body: body}.Do(ctx, tp)
		if err != nil {
			return err
		}
		if err := decodeResponse(res, &struct{}{}); err != nil {
			return fmt.Errorf("create index %s: %w", name, err)
		}
	}
	return nil
}

// WarmMapping indexes the alerts once into a scratch index of cfg's template and returns the mappings the engine
// made of them (its dynamic mapping of every field), for PrepareIndices; the scratch index is deleted.
func WarmMapping(ctx context.Context, cfg sinks.ElasticsearchConfig, alerts []*vigil.Alert) (json.RawMessage, error) {
	cfg.IndexPrefix += "-warmup"
	if len(alerts) == 0 {
		return nil, nil
	}
	tp, err := sinks.NewSearchTransport(cfg)
	if err != nil {
		return nil, err
	}
	if err := PrepareIndices(ctx, cfg, nil, nil); err != nil {
		return nil, err
	}
	defer func() { _ = DeleteIndices(context.WithoutCancel(ctx), tp, cfg.IndexPrefix+"-*", cfg.IndexPrefix) }()
	index := cfg.IndexPrefix + "-all"
	one := make([]*vigil.Alert, len(alerts))
	for i, a := range alerts {
		c := *a
		c.Tenant = "all"
		c.Time = alerts[0].Time
		one[i] = &c
	}
	if _, err := MeasureBulkIndexer(ctx, cfg, one, 0); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	res, err := esapi.IndicesGetMappingRequest{Index: []string{sinks.IndexName(cfg.IndexPrefix, "all", alerts[0].Time)}}.Do(ctx, tp)
	if err != nil {
		return nil, err
	}
	var out map[string]struct {
		Mappings json.RawMessage `json:"mappings"`
	}
	if err := decodeResponse(res, &out); err != nil {
		return nil, fmt.Errorf("get mapping of %s: %w", index, err)
	}
	for _, m := range out {
		return m.Mappings, nil
	}
	return nil, fmt.Errorf("no mapping for %s", index)
}

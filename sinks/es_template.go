package sinks

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// esTemplate is the composable index template of the alert indices, written for the default prefix. It sticks to
// what every supported engine has (Elasticsearch 7.8+ with a basic licence, OpenSearch 1.x/2.x): no ILM, no data
// streams, no runtime fields. docs/alerts.md explains the mapping.
//
//go:embed es_template.json
var esTemplate []byte

// IndexTemplate returns the index template for cfg's alert indices: the pattern <prefix>-*, the alias <prefix>, and
// cfg's shard and replica counts. With AutoExpandReplicas (the default) and at least one replica the template sets
// index.auto_expand_replicas 0-<replicas>, which both Elasticsearch and OpenSearch apply as the index is created, so
// a single-node cluster stays green; number_of_replicas is then only the starting value. cfg must have its defaults
// set.
func IndexTemplate(cfg *ElasticsearchConfig) ([]byte, error) {
	var t map[string]any
	if err := json.Unmarshal(esTemplate, &t); err != nil {
		return nil, fmt.Errorf("index template: %w", err)
	}
	tmpl, _ := t["template"].(map[string]any)
	settings, _ := tmpl["settings"].(map[string]any)
	index, _ := settings["index"].(map[string]any)
	if index == nil {
		return nil, fmt.Errorf("index template: template.settings.index missing")
	}
	t["index_patterns"] = []string{cfg.IndexPrefix + "-*"}
	t["priority"] = templatePriority(cfg.IndexPrefix)
	tmpl["aliases"] = map[string]any{cfg.IndexPrefix: map[string]any{}}
	index["number_of_shards"] = cfg.Shards
	index["number_of_replicas"] = *cfg.Replicas
	delete(index, "auto_expand_replicas")
	if *cfg.AutoExpandReplicas && *cfg.Replicas > 0 {
		index["auto_expand_replicas"] = fmt.Sprintf("0-%d", *cfg.Replicas)
	}
	return json.Marshal(t)
}

// templatePriority is the priority of the template of prefix: 200 plus the prefix's length. Two Vigil templates
// whose patterns overlap (vigil-shadow-* and vigil-shadow-staging-*: one prefix extends the other, as two
// deployments in one cluster may have) then never have the same priority, which both engines refuse, and the more
// specific one applies to the indices both match.
func templatePriority(prefix string) int { return 200 + len(prefix) }

// installTemplates puts the index templates of the live and of the shadow alerts (the same mappings and settings,
// each with its prefix).
func (s *Elasticsearch) installTemplates(ctx context.Context) error {
	shadow := s.cfg
	shadow.IndexPrefix = s.cfg.ShadowIndexPrefix
	for _, cfg := range []*ElasticsearchConfig{&s.cfg, &shadow} {
		if err := s.installTemplate(ctx, cfg); err != nil {
			return err
		}
	}
	return nil
}

// installTemplate puts the index template of cfg.IndexPrefix, retrying while the cluster cannot be reached.
func (s *Elasticsearch) installTemplate(ctx context.Context, cfg *ElasticsearchConfig) error {
	body, err := IndexTemplate(cfg)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.putTemplate(ctx, cfg.IndexPrefix, body)
		if err == nil {
			return nil
		}
		if !transient(err) {
			return fmt.Errorf("elasticsearch: install index template %s: %w", cfg.IndexPrefix, err)
		}
		wait := s.backoff(attempt)
		s.log.Warn("cannot install the index template yet, retrying", "attempt", attempt+1, "retry_in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("elasticsearch: install index template %s: %w (last error: %v)", cfg.IndexPrefix, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

func (s *Elasticsearch) putTemplate(ctx context.Context, name string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	res, err := esapi.IndicesPutIndexTemplateRequest{Name: name, Body: bytes.NewReader(body)}.Do(ctx, s.tp)
	if err != nil {
		return explainTransportError(err, s.cfg.Flavor)
	}
	defer res.Body.Close()
	if res.IsError() {
		return readStatusError(res)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return nil
}

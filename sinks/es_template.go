package sinks

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// esTemplate is the composable index template of the alert indices, written for the default prefix. It sticks to
// what every supported engine has (Elasticsearch 7.8+ with a basic licence, OpenSearch 1.x/2.x): no ILM, no data
// streams, no runtime fields. docs/alerts.md explains the mapping.
//
//go:embed es_template.json
var esTemplate []byte

// IndexTemplate returns the index template for cfg's alert indices: the pattern <prefix>-*, the alias <prefix>, and
// cfg's shard and replica counts. cfg must have its defaults set.
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
	tmpl["aliases"] = map[string]any{cfg.IndexPrefix: map[string]any{}}
	index["number_of_shards"] = cfg.Shards
	index["number_of_replicas"] = *cfg.Replicas
	return json.Marshal(t)
}

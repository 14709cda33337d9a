//go:build integration

package sinks

import (
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/testenv"
)

// TestSearchEngineIndexIsGreenOnASingleNode: with the default replica settings a fresh alert index on the
// single-node test servers is green (auto_expand_replicas 0-1 leaves it without a replica), while a fixed replica
// stays unassigned (yellow).
func TestSearchEngineIndexIsGreenOnASingleNode(t *testing.T) {
	for _, e := range testenv.SearchEngines(t) {
		t.Run(e.Flavor, func(t *testing.T) {
			for _, tt := range []struct {
				name       string
				autoExpand *bool
				want       string
			}{{"defaults", nil, "green"}, {"auto_expand_replicas false", ptr(false), "yellow"}} {
				cfg := engineConfig(t, e)
				cfg.Replicas, cfg.AutoExpandReplicas = nil, tt.autoExpand
				s := newTestSink(t, cfg, &memDLQ{})
				now := time.Now()
				write(t, s, []*vigil.Alert{socAlert("acme", "rule.green", "low", 1, now, now)})
				index := IndexName(cfg.IndexPrefix, "acme", now)
				_, h := engineDo(t, e.URL, "GET", "/_cluster/health/"+index+"?wait_for_status=green&timeout=5s", nil)
				if got := h["status"]; got != tt.want {
					t.Errorf("%s: health of %s: got %v, want %s (%v)", tt.name, index, got, tt.want, h)
				}
				_, settings := engineDo(t, e.URL, "GET", "/"+index+"/_settings", nil)
				t.Logf("%s: %s settings: replicas %v, auto_expand_replicas %v", tt.name, index,
					docPath(settings, index, "settings", "index", "number_of_replicas"),
					docPath(settings, index, "settings", "index", "auto_expand_replicas"))
			}
		})
	}
}

// TestOverlappingTemplatePrefixes: two deployments in one cluster whose shadow prefixes overlap (one extends the
// other) both install their templates, which the engines would refuse at equal priorities, and an index both
// patterns match takes the more specific template (its alias).
func TestOverlappingTemplatePrefixes(t *testing.T) {
	for _, e := range testenv.SearchEngines(t) {
		t.Run(e.Flavor, func(t *testing.T) {
			shadow := testenv.UniqueName(t, "vigil-it-shadow-")
			var sinks []*Elasticsearch
			for _, p := range []string{shadow, shadow + "-staging"} {
				cfg := engineConfig(t, e)
				cfg.ShadowIndexPrefix = p
				t.Cleanup(func() {
					engineDo(t, e.URL, "DELETE", "/"+p+"-*", nil)
					engineDo(t, e.URL, "DELETE", "/_index_template/"+p, nil)
				})
				sinks = append(sinks, newTestSink(t, cfg, &memDLQ{}))
			}
			now := time.Now()
			a := socAlert("acme", "rule.shadow", "low", 1, now, now)
			a.Shadow = true
			write(t, sinks[1], []*vigil.Alert{a})
			index := IndexName(shadow+"-staging", "acme", now)
			_, aliases := engineDo(t, e.URL, "GET", "/"+index+"/_alias", nil)
			if docPath(aliases, index, "aliases", shadow+"-staging") == nil {
				t.Errorf("index %s: got aliases %v, want %s-staging's (the more specific template)", index, aliases, shadow)
			}
		})
	}
}

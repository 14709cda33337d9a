package sinks

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestElasticsearchConfigValidate(t *testing.T) {
	ok := func() ElasticsearchConfig { return ElasticsearchConfig{URLs: []string{"http://127.0.0.1:9200"}} }
	tests := []struct {
		name    string
		change  func(*ElasticsearchConfig)
		wantErr string // "" for valid
	}{
		{"minimal", func(*ElasticsearchConfig) {}, ""},
		{"opensearch with basic auth", func(c *ElasticsearchConfig) {
			c.Flavor, c.Username, c.Password = FlavorOpenSearch, "u", "p"
		}, ""},
		{"no urls", func(c *ElasticsearchConfig) { c.URLs = nil }, "urls: at least one URL is required"},
		{"bad scheme", func(c *ElasticsearchConfig) { c.URLs = []string{"es1:9200"} }, `want http://host:port`},
		{"password not shown", func(c *ElasticsearchConfig) { c.URLs = []string{"ftp://u:hunter2@es1"} }, `ftp://u:xxxxx@es1`},
		{"unknown flavor", func(c *ElasticsearchConfig) { c.Flavor = "solr" }, `unknown flavor "solr"`},
		{"api key on opensearch", func(c *ElasticsearchConfig) { c.Flavor, c.APIKey = FlavorOpenSearch, "k" }, "OpenSearch has no API keys"},
		{"password without user", func(c *ElasticsearchConfig) { c.Password = "p" }, "password: set without username"},
		{"upper-case prefix", func(c *ElasticsearchConfig) { c.IndexPrefix = "Vigil" }, "index_prefix"},
		{"negative replicas", func(c *ElasticsearchConfig) { c.Replicas = ptr(-1) }, "replicas"},
		{"negative window", func(c *ElasticsearchConfig) { c.EventTimeWindow.Past = -time.Hour }, "event_time_window"},
		{"negative stall timeout", func(c *ElasticsearchConfig) { c.StallTimeout = -time.Second }, "stall_timeout"},
		{"backoffs reversed", func(c *ElasticsearchConfig) {
			c.RetryInitialBackoff, c.RetryMaxBackoff = time.Minute, time.Second
		}, "retry_initial_backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestElasticsearchConfigDefaults(t *testing.T) {
	var c ElasticsearchConfig
	c.SetDefaults()
	if c.Flavor != FlavorElasticsearch || c.IndexPrefix != "vigil-alerts" || !*c.InstallTemplate || c.Workers != 4 ||
		c.FlushBytes != 5<<20 || *c.FlushInterval != 5*time.Millisecond || c.RetryMaxBackoff != 5*time.Second ||
		*c.Replicas != 1 || !*c.AutoExpandReplicas || c.Shards != 1 || c.RequestTimeout != time.Minute ||
		c.EventTimeWindow != (EventTimeWindow{Past: 30 * 24 * time.Hour, Future: 24 * time.Hour}) || c.StallTimeout != 30*time.Second {
		t.Errorf("defaults: got %+v", c)
	}
	zero := time.Duration(0)
	c = ElasticsearchConfig{FlushInterval: &zero, Replicas: ptr(0), InstallTemplate: ptr(false), AutoExpandReplicas: ptr(false)}
	c.SetDefaults()
	if *c.FlushInterval != 0 || *c.Replicas != 0 || *c.InstallTemplate || *c.AutoExpandReplicas {
		t.Errorf("explicit zero values were replaced by defaults: %+v", c)
	}
}

// TestIndexTemplateMapping checks the types that searches and the delivery guarantees depend on.
func TestIndexTemplateMapping(t *testing.T) {
	c := ElasticsearchConfig{}
	c.SetDefaults()
	raw, err := IndexTemplate(&c)
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	props := docPath(tmpl, "template", "mappings", "properties").(map[string]any)
	field := func(path ...string) map[string]any {
		var p []string
		for i, s := range path {
			if i > 0 {
				p = append(p, "properties")
			}
			p = append(p, s)
		}
		m, _ := docPath(props, p...).(map[string]any)
		return m
	}
	want := map[string]string{
		"@timestamp": "date", "vigil.alert.original_time": "date", "vigil.alert.id": "keyword",
		"vigil.alert.tenant": "keyword", "vigil.alert.severity": "keyword", "vigil.alert.reason": "text",
		"event.severity": "long", "event.risk_score": "float", "rule.id": "keyword", "rule.name": "keyword",
		"threat.technique.id": "keyword", "source.ip": "ip", "destination.ip": "ip", "client.ip": "ip",
		"server.ip": "ip", "host.ip": "ip", "source.geo.location": "geo_point", "process.command_line": "text",
		"message": "text", "organization.id": "keyword", "tags": "keyword",
	}
	for path, typ := range want {
		f := field(strings.Split(path, ".")...)
		if f == nil || f["type"] != typ {
			t.Errorf("%s: got %v, want type %s", path, f, typ)
		}
	}
	if f := field("process", "command_line"); docPath(f, "fields", "keyword", "type") != "keyword" {
		t.Errorf("process.command_line: got %v, want a keyword subfield", f)
	}
	if f := field("source", "ip"); f["ignore_malformed"] != true {
		t.Errorf("source.ip: got %v, want ignore_malformed (see docs/alerts.md)", f)
	}
	if docPath(tmpl, "template", "settings", "index", "mapping", "ignore_malformed") != nil {
		t.Error("index.mapping.ignore_malformed is set: mapping conflicts must be dead-lettered, not ignored")
	}
	dyn, _ := json.Marshal(docPath(tmpl, "template", "mappings", "dynamic_templates"))
	for _, s := range []string{`"*command_line"`, `"*CommandLine"`, `"ignore_above":1024`, `"match":"message"`, `"match_mapping_type":"boolean"`} {
		if !strings.Contains(string(dyn), s) {
			t.Errorf("dynamic_templates: %s missing in %s", s, dyn)
		}
	}
}

// TestIndexTemplateReplicas: by default a single node stays green (auto_expand_replicas 0-1) and a cluster gets one
// replica; auto_expand_replicas: false fixes the count.
func TestIndexTemplateReplicas(t *testing.T) {
	tests := []struct {
		name         string
		replicas     *int
		autoExpand   *bool
		wantReplicas float64
		wantExpand   any
	}{
		{"defaults", nil, nil, 1, "0-1"},
		{"two replicas at most", ptr(2), nil, 2, "0-2"},
		{"no replica", ptr(0), nil, 0, nil},
		{"fixed", ptr(1), ptr(false), 1, nil},
	}
	for _, tt := range tests {
		c := ElasticsearchConfig{Replicas: tt.replicas, AutoExpandReplicas: tt.autoExpand}
		c.SetDefaults()
		raw, err := IndexTemplate(&c)
		if err != nil {
			t.Fatal(err)
		}
		var tmpl map[string]any
		if err := json.Unmarshal(raw, &tmpl); err != nil {
			t.Fatal(err)
		}
		index := docPath(tmpl, "template", "settings", "index").(map[string]any)
		if got := index["number_of_replicas"]; got != tt.wantReplicas {
			t.Errorf("%s: number_of_replicas: got %v, want %v", tt.name, got, tt.wantReplicas)
		}
		if got := index["auto_expand_replicas"]; got != tt.wantExpand {
			t.Errorf("%s: auto_expand_replicas: got %v, want %v", tt.name, got, tt.wantExpand)
		}
	}
}

// Templates whose patterns overlap have different priorities, the more specific the higher.
func TestTemplatePriority(t *testing.T) {
	prio := func(prefix string) float64 {
		c := ElasticsearchConfig{IndexPrefix: prefix}
		c.SetDefaults()
		raw, err := IndexTemplate(&c)
		if err != nil {
			t.Fatal(err)
		}
		var tmpl map[string]any
		if err := json.Unmarshal(raw, &tmpl); err != nil {
			t.Fatal(err)
		}
		return tmpl["priority"].(float64)
	}
	if a, b := prio("vigil-shadow"), prio("vigil-shadow-staging"); a >= b || a != 212 {
		t.Errorf("priorities: vigil-shadow %v, vigil-shadow-staging %v; want 212 and more", a, b)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// searchServer answers every search with two alerts and records the request body.
func searchServer(t *testing.T, got *map[string]any) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, got)
		io.WriteString(w, `{"hits":{"total":{"value":7,"relation":"eq"},"hits":[
 {"_source":{"@timestamp":"2026-11-27T10:00:03.123Z","vigil":{"alert":{"tenant":"acme","severity":"high","reason":"authentication event\twith source 203.0.113.9 created high alert SSH brute force."}},
  "rule":{"id":"vigil.auth.ssh_bruteforce"},"host":{"name":"web-01"},"user":{"name":"root"},"source":{"ip":"203.0.113.9"}}},
 {"_source":{"@timestamp":"2026-11-27T09:00:00Z","vigil":{"alert":{"tenant":"acme","severity":"low"}},"rule":{"id":"r2"},"host":{"ip":["10.0.0.1","10.0.0.2"]}}}]}}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAlertsSearchTable(t *testing.T) {
	var body map[string]any
	srv := searchServer(t, &body)
	var out, errOut bytes.Buffer
	code := run([]string{"alerts", "search", "--url", srv.URL, "--flavor", "opensearch", "--tenant", "acme",
		"--severity", "high,critical", "--since", "24h", "user.name:root", "AND", "ssh"}, nil, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit code %d, stderr: %s", code, errOut.String())
	}
	want := `TIME                  TENANT  SEVERITY  RULE                       HOST    USER  SOURCE IP    REASON
2026-11-27 10:00:03Z  acme    high      vigil.auth.ssh_bruteforce  web-01  root  203.0.113.9  authentication event with source 203.0.113.9 created high alert SSH brute force.
2026-11-27 09:00:00Z  acme    low       r2                         -       -     -            -
`
	if out.String() != want {
		t.Errorf("table:\ngot\n%s\nwant\n%s", out.String(), want)
	}
	if !strings.Contains(errOut.String(), "2 of 7 matching alerts") {
		t.Errorf("stderr: got %q, want the count", errOut.String())
	}
	b, _ := json.Marshal(body)
	for _, s := range []string{`"query":"user.name:root AND ssh"`, `"vigil.alert.tenant":"acme"`, `["high","critical"]`, `"@timestamp":{"gte":`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("request body %s: %s missing", b, s)
		}
	}
}

func TestAlertsSearchJSONFromConfig(t *testing.T) {
	var body map[string]any
	srv := searchServer(t, &body)
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(cfg, []byte(`rules: {paths: [rules]}
sources: [{type: file, file: {paths: [x.jsonl], tenant: acme}}]
sinks:
  - type: stdout
  - type: elasticsearch
    elasticsearch:
      flavor: opensearch
      urls: [`+srv.URL+`]
      index_prefix: soc
`), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"alerts", "search", "-c", cfg, "--json"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit code %d, stderr: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !json.Valid([]byte(lines[0])) || !strings.Contains(lines[0], `"vigil.auth.ssh_bruteforce"`) {
		t.Errorf("JSON lines: got %q", out.String())
	}
}

func TestAlertsSearchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"alerts"},
		{"alerts", "list"},
		{"alerts", "search", "--url", "http://127.0.0.1:9", "--severity", "urgent"},
		{"alerts", "search"}, // no URL
	} {
		var out, errOut bytes.Buffer
		t.Setenv("VIGIL_SEARCH_URLS", "")
		if code := run(args, nil, &out, &errOut); code != 2 {
			t.Errorf("%v: exit code %d, want 2 (stderr %q)", args, code, errOut.String())
		}
	}
}

func TestConfigElasticsearchSink(t *testing.T) {
	dir := t.TempDir()
	write := func(sink string) error {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte("rules: {paths: [r]}\nsources: [{type: file, file: {paths: [x], tenant: acme}}]\nsinks:\n"+sink), 0o600)
		_, err := loadConfig(p)
		return err
	}
	if err := write("  - type: elasticsearch\n    elasticsearch: {urls: [\"http://127.0.0.1:9200\"], flavor: opensearch, replicas: 0}\n"); err != nil {
		t.Errorf("valid elasticsearch sink: %v", err)
	}
	for sink, want := range map[string]string{
		"  - type: elasticsearch\n": "needs an elasticsearch block",
		"  - type: elasticsearch\n    elasticsearch: {flavor: solr, urls: [\"http://h:1\"]}\n": `unknown flavor "solr"`,
		"  - type: elasticsearch\n    elasticsearch: {urls: [\"http://h:1\"], shardz: 1}\n":    "shardz",
	} {
		if err := write(sink); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", sink, err, want)
		}
	}
}

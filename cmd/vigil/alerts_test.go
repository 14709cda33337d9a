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
 {"_source":{"@timestamp":"2026-11-27T10:00:03.123Z","vigil":{"alert":{"id":"4e45182796ffa8e718c08446d59d31f7","status":"open","original_time":"2026-11-24T09:13:02.732Z","tenant":"acme","severity":"high","reason":"authentication event\twith source 203.0.113.9 created high alert SSH brute force."}},
  "rule":{"id":"vigil.auth.ssh_bruteforce"},"host":{"name":"web-01"},"user":{"name":"root"},"source":{"ip":"203.0.113.9"}}},
 {"_source":{"@timestamp":"2026-11-27T10:00:03.123Z","vigil":{"alert":{"id":"9d1c","status":"open","original_time":"2026-11-22T18:40:00Z","tenant":"acme","severity":"low"}},"rule":{"id":"r2"},"host":{"ip":["10.0.0.1","10.0.0.2"]}}}]}}`)
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
	// Both alerts were created in the same second, by one batch; the table shows when their events happened.
	want := `EVENT TIME            ALERT ID                          STATUS  TENANT  SEVERITY  RULE                       HOST    USER  SOURCE IP    REASON
2026-11-24 09:13:02Z  4e45182796ffa8e718c08446d59d31f7  open    acme    high      vigil.auth.ssh_bruteforce  web-01  root  203.0.113.9  authentication event with source 203.0.113.9 created high alert SSH brute force.
2026-11-22 18:40:00Z  9d1c                              open    acme    low       r2                         -       -     -            -
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

// TestAlertsSearchTimeBounds: --since and --until take days and weeks (as the README and docker-compose.yml show
// them), RFC 3339 times and dates; --event-time moves the bounds and the order to the event's time.
func TestAlertsSearchTimeBounds(t *testing.T) {
	var body map[string]any
	srv := searchServer(t, &body)
	tests := []struct {
		args []string
		want string // in the request body
	}{
		{[]string{"--since", "30d"}, `"range":{"@timestamp":{"gte":"`},
		{[]string{"--since", "2w"}, `"range":{"@timestamp":{"gte":"`},
		{[]string{"--since", "2026-11-01"}, `"range":{"@timestamp":{"gte":"2026-11-01T00:00:00Z"}}`},
		{[]string{"--since", "2026-11-01T10:00:00+01:00", "--until", "2026-11-08"},
			`"range":{"@timestamp":{"gte":"2026-11-01T09:00:00Z","lt":"2026-11-08T00:00:00Z"}}`},
		{[]string{"--since", "2026-11-01T10:00", "--event-time"}, `"range":{"vigil.alert.original_time":{"gte":"2026-11-01T10:00:00Z"}}`},
		{[]string{"--until", "1d12h"}, `"range":{"@timestamp":{"lt":"`},
	}
	for _, tc := range tests {
		body = nil
		var out, errOut bytes.Buffer
		if code := run(append([]string{"alerts", "search", "--url", srv.URL, "--flavor", "opensearch"}, tc.args...), nil, &out, &errOut); code != 0 {
			t.Errorf("%v: exit code %d, stderr %s", tc.args, code, errOut.String())
			continue
		}
		if b, _ := json.Marshal(body); !strings.Contains(string(b), tc.want) {
			t.Errorf("%v: request body %s, want %s", tc.args, b, tc.want)
		}
	}
	for args, want := range map[string]string{
		"--since 30x":                           `--since: "30x" is neither a duration`,
		"--since 2026-11-08 --until 2026-11-01": "must be before",
		"--since -5d":                           "--since",
		"--until 2026-13-01":                    "--until",
	} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"alerts", "search", "--url", srv.URL}, strings.Fields(args)...), nil, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), want) {
			t.Errorf("%s: got exit %d, %q; want 2 and %q", args, code, errOut.String(), want)
		}
	}
}

// TestAlertsSearchConfigNeedsOnlyTheSink: with -c, search reads the search sink of a production config and nothing
// else: the Kafka variables it never uses may be unset (configs/kafka-to-search.yaml as shipped), and flags given
// beside -c override the file.
func TestAlertsSearchConfigNeedsOnlyTheSink(t *testing.T) {
	var body map[string]any
	srv := searchServer(t, &body)
	t.Setenv("VIGIL_SEARCH_URLS", srv.URL)
	t.Setenv("VIGIL_SEARCH_FLAVOR", "opensearch")
	t.Setenv("VIGIL_KAFKA_BROKERS", "") // restored at the end of the test
	os.Unsetenv("VIGIL_KAFKA_BROKERS")
	var out, errOut bytes.Buffer
	if code := run([]string{"alerts", "search", "-c", "../../configs/kafka-to-search.yaml", "--since", "30d"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit code %d, stderr: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "vigil.auth.ssh_bruteforce") {
		t.Errorf("output: got %q, want the alerts", out.String())
	}
	// A missing variable of the sink itself is still an error, and a flag overrides the file.
	os.Unsetenv("VIGIL_SEARCH_URLS")
	errOut.Reset()
	if code := run([]string{"alerts", "search", "-c", "../../configs/kafka-to-search.yaml"}, nil, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "VIGIL_SEARCH_URLS") || strings.Contains(errOut.String(), "VIGIL_KAFKA") {
		t.Errorf("without VIGIL_SEARCH_URLS: got exit %d, %q; want 2 naming that variable alone", code, errOut.String())
	}
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("sources: [{type: kafka, kafka: {brokers: [${VIGIL_TEST_UNSET_BROKERS}]}}]\n"+
		"sinks:\n  - type: elasticsearch\n    elasticsearch: {urls: [\"http://127.0.0.1:9\"], flavor: opensearch}\n"+
		"rules: {paths: [nowhere]}\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"alerts", "search", "-c", cfg, "--url", srv.URL}, nil, &out, &errOut); code != 0 {
		t.Errorf("--url over the config's: exit code %d, stderr: %s", code, errOut.String())
	}
	os.WriteFile(cfg, []byte("sinks:\n  - type: elasticsearch\n    elasticsearch: {urls: [\"http://h:1\"], shardz: 1}\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"alerts", "search", "-c", cfg}, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "line 3: field shardz not found") {
		t.Errorf("unknown key in the sink: got exit %d, %q; want 2 and the key with its line", code, errOut.String())
	}
}

// TestAlertsSearchOpenSearchHint: the default flavor against OpenSearch is refused by the Elasticsearch client;
// the command asks the root endpoint and says to use --flavor opensearch.
func TestAlertsSearchOpenSearchHint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			io.WriteString(w, `{"name":"n1","version":{"distribution":"opensearch","number":"2.19.1"},"tagline":"The OpenSearch Project: https://opensearch.org/"}`)
			return
		}
		io.WriteString(w, `{"hits":{"total":{"value":0,"relation":"eq"},"hits":[]}}`)
	}))
	defer srv.Close()
	t.Setenv("VIGIL_SEARCH_FLAVOR", "")
	var out, errOut bytes.Buffer
	code := run([]string{"alerts", "search", "--url", srv.URL}, nil, &out, &errOut)
	want := "hint: the server at " + srv.URL + " is OpenSearch 2.19.1: add --flavor opensearch"
	if code != 1 || !strings.Contains(errOut.String(), want) {
		t.Errorf("got exit %d, %q; want 1 and %q", code, errOut.String(), want)
	}
}

// TestAlertsSearchQueryError: a query the engine cannot parse shows the engine's reason.
func TestAlertsSearchQueryError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"root_cause":[{"type":"query_shard_exception","reason":"Failed to parse query [user.name:(]"}],"type":"search_phase_execution_exception","reason":"all shards failed","failed_shards":[{"shard":0,"reason":{"type":"query_shard_exception","reason":"Failed to parse query [user.name:(]","caused_by":{"type":"parse_exception","reason":"Cannot parse 'user.name:(': Encountered \"<EOF>\" at line 1, column 11.\nWas expecting one of:\n    <NOT> ..."}}}]},"status":400}`)
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	code := run([]string{"alerts", "search", "--url", srv.URL, "--flavor", "opensearch", "user.name:("}, nil, &out, &errOut)
	want := `Failed to parse query [user.name:(]: Cannot parse 'user.name:(': Encountered "<EOF>" at line 1, column 11.` + "\n"
	if code != 1 || !strings.HasSuffix(errOut.String(), want) {
		t.Errorf("got exit %d, %q; want 1 and the reason %q", code, errOut.String(), want)
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

package intake

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

type bulkResp struct {
	Errors bool                        `json:"errors"`
	Items  []map[string]map[string]any `json:"items"`
}

func TestBulkPerItemResults(t *testing.T) {
	_, fw, hs := newTestServer(t, testConfig(t))
	body := `{"index":{"_index":"logs-fw","_id":"a1"}}` + "\n" + `{"msg":"one","organization":{"id":"globex"}}` + "\n" +
		`{"create":{}}` + "\n" + `not json` + "\n" +
		`{"delete":{"_id":"x"}}` + "\n" +
		`{"create":{"_index":"other"}}` + "\n" + `{"msg":"three"}` + "\n"
	apiKey := base64.StdEncoding.EncodeToString([]byte("key-id:" + tokenAcme))
	code, resp, h := post(t, hs.URL+"/default-idx/_bulk", "ApiKey "+apiKey, body, "Content-Type", "application/x-ndjson")
	if code != 200 || h.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("got %d product %q %s, want 200 with the product header", code, h.Get("X-Elastic-Product"), resp)
	}
	var r bulkResp
	if err := json.Unmarshal([]byte(resp), &r); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		op     string
		status float64
		index  string
	}{{"index", 201, "logs-fw"}, {"create", 400, "default-idx"}, {"delete", 400, "default-idx"}, {"create", 201, "other"}}
	if !r.Errors || len(r.Items) != len(want) {
		t.Fatalf("got errors=%v %d items, want errors=true %d items: %s", r.Errors, len(r.Items), len(want), resp)
	}
	for i, w := range want {
		got := r.Items[i][w.op]
		if got == nil || got["status"] != w.status || got["_index"] != w.index {
			t.Errorf("item %d: got %v, want %s status %v index %s", i, r.Items[i], w.op, w.status, w.index)
		}
	}
	recs := fw.records()
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	if header(recs[0], "es.index") != "logs-fw" || header(recs[0], "es.id") != "a1" || header(recs[0], "tenant") != "acme" {
		t.Errorf("got headers %v, want es.index logs-fw, es.id a1, tenant acme", recs[0].Headers)
	}
}

func TestBulkAuthAndKafka(t *testing.T) {
	_, fw, hs := newTestServer(t, testConfig(t))
	doc := `{"index":{}}` + "\n" + `{"a":1}` + "\n"
	code, resp, h := post(t, hs.URL+"/_bulk", "", doc)
	if code != 401 || !strings.Contains(resp, "security_exception") || h.Get("WWW-Authenticate") == "" {
		t.Errorf("no credentials: got %d %s, want 401 security_exception with WWW-Authenticate", code, resp)
	}
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/_bulk", strings.NewReader(doc))
	req.SetBasicAuth("elastic", tokenGlobex)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || header(fw.records()[0], "tenant") != "globex" {
		t.Errorf("basic auth: got %d, want 200 for globex", res.StatusCode)
	}
	fw.fail = func(kafka.Message) error { return errors.New("down") }
	code, resp, h = post(t, hs.URL+"/_bulk", "Bearer "+tokenAcme, doc)
	if code != 503 || h.Get("Retry-After") == "" {
		t.Errorf("kafka down: got %d %s, want 503 with Retry-After", code, resp)
	}
	n := 0
	fw.fail = func(kafka.Message) error {
		if n++; n == 2 {
			return errors.New("partition leader gone")
		}
		return nil
	}
	code, resp, _ = post(t, hs.URL+"/_bulk", "Bearer "+tokenAcme, doc+doc)
	if code != 200 || !strings.Contains(resp, `"status":429`) || !strings.Contains(resp, `"status":201`) {
		t.Errorf("one item refused by Kafka: got %d %s, want 200 with one 201 and one 429 item", code, resp)
	}
}

func TestESProbes(t *testing.T) {
	_, _, hs := newTestServer(t, testConfig(t))
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/", `"number":"8.17.0"`},
		{"HEAD", "/", ""},
		{"HEAD", "/_cat/health", ""},
		{"GET", "/_license", `"status":"active"`},
		{"GET", "/_xpack", `"ilm"`},
		{"GET", "/_nodes/http", `"publish_address"`},
		{"PUT", "/_index_template/filebeat", `"acknowledged":true`},
		{"GET", "/_ilm/policy/logs", `"logs"`},
	} {
		req, _ := http.NewRequest(c.method, hs.URL+c.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := res.Body.Read(buf)
		b.Write(buf[:n])
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("X-Elastic-Product") != "Elasticsearch" || !strings.Contains(b.String(), c.want) {
			t.Errorf("%s %s: got %d %q, want 200 with the product header and %s", c.method, c.path, res.StatusCode, b.String(), c.want)
		}
	}
}

func TestNDJSON(t *testing.T) {
	_, fw, hs := newTestServer(t, testConfig(t))
	code, resp, _ := post(t, hs.URL+"/v1/events", "Bearer "+tokenAcme, "{\"a\":1}\n[1]\n{\"b\":\n{\"c\":3}\n")
	var r ndjsonResult
	_ = json.Unmarshal([]byte(resp), &r)
	if code != 422 || r.Accepted != 2 || r.Rejected != 2 || r.Errors[0].Line != 2 || r.Errors[1].Line != 3 {
		t.Fatalf("got %d %s, want 422 with 2 accepted, lines 2 and 3 rejected", code, resp)
	}
	if got := len(fw.records()); got != 2 {
		t.Errorf("got %d records, want 2", got)
	}
}

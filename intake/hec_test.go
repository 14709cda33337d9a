package intake

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestHECEventConcatenatedObjects(t *testing.T) {
	_, fw, hs := newTestServer(t, testConfig(t))
	body := `{"time":1700000000,"host":"fw1","sourcetype":"pan:traffic","event":{"action":"deny","tenant":"globex"}}` +
		`{"event":"second","fields":{"site":"paris"}}` + "\n" + `{"event":{"n":3},"index":"main"}`
	code, resp, _ := post(t, hs.URL+"/services/collector/event", "Splunk "+tokenAcme, body)
	if code != 200 || strings.TrimSpace(resp) != `{"text":"Success","code":0}` {
		t.Fatalf("got %d %s, want 200 {\"text\":\"Success\",\"code\":0}", code, resp)
	}
	recs := fw.records()
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	first := recs[0]
	if !strings.Contains(string(first.Value), `"tenant":"globex"`) || !json.Valid(first.Value) {
		t.Errorf("got value %s, want the partner's event object unchanged", first.Value)
	}
	// The payload claims globex; the token is acme's: the record goes to acme's topic with acme's header.
	if first.Topic != "partner.acme.events" || header(first, "tenant") != "acme" {
		t.Errorf("got topic %s tenant header %q, want partner.acme.events and acme", first.Topic, header(first, "tenant"))
	}
	for _, k := range []string{"vigil.intake.received", "vigil.intake.remote"} {
		if header(first, k) == "" {
			t.Errorf("got no %s header, want one", k)
		}
	}
	if got := header(first, "vigil.intake.route"); got != "hec/event" {
		t.Errorf("got route %q, want hec/event", got)
	}
	if got := header(first, "vigil.intake.credential"); got != "acme-fw" {
		t.Errorf("got credential %q, want acme-fw", got)
	}
	if got := header(first, "format"); got != "hec" {
		t.Errorf("got format header %q, want hec (vigil run decodes the record by it)", got)
	}
}

func TestHECErrors(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxBodyBytes, cfg.Limits.MaxEventBytes = 4096, 1024
	_, fw, hs := newTestServer(t, cfg)
	cases := []struct {
		name, auth, body string
		wantCode         int
		wantHEC          int
		wantNumber       int // -1: no invalid-event-number
		wantRecords      int
	}{
		{"no token", "", `{"event":1}`, 401, 2, -1, 0},
		{"malformed authorization", "Splunk", `{"event":1}`, 401, 3, -1, 0},
		{"unknown token", "Splunk nope", `{"event":1}`, 403, 4, -1, 0},
		{"no data", "Splunk " + tokenAcme, "  \n", 400, 5, -1, 0},
		{"invalid JSON mid-batch", "Splunk " + tokenAcme, `{"event":1}{"event":2}{"event":` + "\n" + `nope`, 400, 6, 2, 2},
		{"event missing", "Splunk " + tokenAcme, `{"event":1}{"host":"h"}`, 400, 12, 1, 1},
		{"event blank", "Splunk " + tokenAcme, `{"event":""}`, 400, 13, 0, 0},
		{"fields not an object", "Splunk " + tokenAcme, `{"event":1,"fields":[1]}`, 400, 15, 0, 0},
		{"fields null", "Splunk " + tokenAcme, `{"event":1,"fields":{}}{"event":1,"fields":null}`, 400, 15, 1, 1},
		{"event null", "Splunk " + tokenAcme, `{"event":1} {"event":null}`, 400, 13, 1, 1},
		{"not an object", "Splunk " + tokenAcme, `{"event":1}` + "\n" + `["event"]`, 400, 6, 1, 1},
		{"event over max_event_bytes", "Splunk " + tokenAcme, `{"event":1}{"event":"` + strings.Repeat("x", 2000) + `"}`, 400, 6, 1, 1},
		{"body too large", "Splunk " + tokenAcme, `{"event":"` + strings.Repeat("x", 5000) + `"}`, 413, 6, -1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(fw.records())
			code, resp, _ := post(t, hs.URL+"/services/collector", c.auth, c.body)
			var st struct {
				Code   int  `json:"code"`
				Number *int `json:"invalid-event-number"`
			}
			if err := json.Unmarshal([]byte(resp), &st); err != nil {
				t.Fatalf("got body %q, want HEC JSON: %v", resp, err)
			}
			if code != c.wantCode || st.Code != c.wantHEC {
				t.Fatalf("got %d code %d (%s), want %d code %d", code, st.Code, resp, c.wantCode, c.wantHEC)
			}
			if c.wantNumber >= 0 && (st.Number == nil || *st.Number != c.wantNumber) {
				t.Errorf("got invalid-event-number %v, want %d", st.Number, c.wantNumber)
			}
			if got := len(fw.records()) - before; got != c.wantRecords {
				t.Errorf("got %d records kept, want %d (the events before the invalid one)", got, c.wantRecords)
			}
		})
	}
}

func TestHECRawGzipAndTruncated(t *testing.T) {
	_, fw, hs := newTestServer(t, testConfig(t))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte("<34>1 2026-01-01T00:00:00Z fw1 sshd - - - Failed password\r\nsecond line\n\n"))
	_ = zw.Close()
	code, resp, _ := post(t, hs.URL+"/services/collector/raw?host=fw1&sourcetype=linux_secure", "Splunk "+tokenAcme,
		buf.String(), "Content-Encoding", "gzip")
	if code != 200 {
		t.Fatalf("got %d %s, want 200", code, resp)
	}
	recs := fw.records()
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	want := `{"event":"second line","host":"fw1","sourcetype":"linux_secure"}`
	if string(recs[1].Value) != want {
		t.Errorf("got %s, want %s", recs[1].Value, want)
	}
	truncated := buf.Bytes()[:buf.Len()-10]
	code, resp, _ = post(t, hs.URL+"/services/collector/raw", "Splunk "+tokenAcme, string(truncated), "Content-Encoding", "gzip")
	if code != 400 || !strings.Contains(resp, "truncated") {
		t.Errorf("got %d %s, want 400 naming the truncated gzip", code, resp)
	}
	if got := len(fw.records()); got != 2 {
		t.Errorf("got %d records after the truncated body, want still 2", got)
	}
}

func TestHECKafkaDown(t *testing.T) {
	s, fw, hs := newTestServer(t, testConfig(t))
	fw.fail = func(kafka.Message) error { return errors.New("broker unreachable") }
	code, resp, h := post(t, hs.URL+"/services/collector/event", "Splunk "+tokenAcme, `{"event":1}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(resp, `"code":9`) || h.Get("Retry-After") == "" {
		t.Fatalf("got %d %s Retry-After %q, want 503 code 9 with Retry-After", code, resp, h.Get("Retry-After"))
	}
	resp2, err := http.Get(hs.URL + "/services/collector/health")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 503 || s.Ready(t.Context()) == nil {
		t.Errorf("got health %d, want 503 after a failed write", resp2.StatusCode)
	}
}

func TestHECHealth(t *testing.T) {
	_, _, hs := newTestServer(t, testConfig(t))
	resp, err := http.Get(hs.URL + "/services/collector/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st hecStatus
	_ = json.NewDecoder(resp.Body).Decode(&st)
	if resp.StatusCode != 200 || st.Code != 17 {
		t.Errorf("got %d code %d, want 200 code 17", resp.StatusCode, st.Code)
	}
}

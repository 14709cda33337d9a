package intake

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestTokensReloadAndExpiry(t *testing.T) {
	dir := t.TempDir()
	path := writeTokens(t, dir)
	tok, err := LoadTokens(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := tok.Lookup(tokenAcme); !ok || p.Tenant != "acme" || p.Name != "acme-fw" {
		t.Fatalf("got %v %v, want acme-fw of acme", p, ok)
	}
	if _, ok := tok.Lookup("acme-token-0002"); ok {
		t.Error("got a near-miss token accepted, want refused")
	}
	// Replace the file: globex is revoked, a new acme token expires in the past.
	data := "tokens:\n" + hashLine("acme", "acme-fw", tokenAcme) + hashLine("acme", "old", "expired-token") +
		"    expires: 2020-01-01T00:00:00Z\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	_ = os.Chtimes(path, future, future)
	if changed, err := tok.reload(); !changed || err != nil {
		t.Fatalf("got changed=%v err=%v, want a reload", changed, err)
	}
	if _, ok := tok.Lookup(tokenGlobex); ok {
		t.Error("got the revoked globex token accepted, want refused")
	}
	if _, ok := tok.Lookup("expired-token"); ok {
		t.Error("got an expired token accepted, want refused")
	}
	// A broken file keeps the tokens in force.
	_ = os.WriteFile(path, []byte("tokens:\n  - tenant: Bad Tenant\n    sha256: zz\n"), 0o600)
	later := future.Add(time.Hour)
	_ = os.Chtimes(path, later, later)
	if _, err := tok.reload(); err == nil || !strings.Contains(err.Error(), "tokens[0]") {
		t.Errorf("got %v, want an error naming tokens[0]", err)
	}
	if _, ok := tok.Lookup(tokenAcme); !ok {
		t.Error("got acme refused after a failed reload, want the previous tokens kept")
	}
}

func TestNewTokenVerifies(t *testing.T) {
	token, entry, err := NewToken("acme", "fw")
	if err != nil {
		t.Fatal(err)
	}
	set, err := parseTokens([]byte("tokens:\n  - tenant: acme\n    sha256: " + entry.SHA256 + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := set.lookup(token, time.Now()); !ok || p.Tenant != "acme" {
		t.Errorf("got %v %v, want the new token to authenticate acme", p, ok)
	}
	if strings.Contains(entry.SHA256, token) || len(token) != 36 {
		t.Errorf("got token %q entry %v, want a 36-character token and only its hash in the entry", token, entry)
	}
}

func TestQuota429(t *testing.T) {
	cfg := testConfig(t)
	cfg.Quotas.Tenants = map[string]Quota{"acme": {EventsPerSecond: 1, Burst: 1}}
	_, fw, hs := newTestServer(t, cfg)
	body := `{"event":1}{"event":2}{"event":3}`
	code, resp, _ := post(t, hs.URL+"/services/collector", "Splunk "+tokenAcme, body)
	if code != 200 {
		t.Fatalf("first request: got %d %s, want 200", code, resp)
	}
	code, resp, h := post(t, hs.URL+"/services/collector", "Splunk "+tokenAcme, body)
	if code != 429 || !strings.Contains(resp, `"code":9`) || h.Get("Retry-After") == "" {
		t.Fatalf("second request: got %d %s Retry-After %q, want 429 code 9 with Retry-After", code, resp, h.Get("Retry-After"))
	}
	// Another tenant is not affected.
	if code, resp, _ := post(t, hs.URL+"/services/collector", "Splunk "+tokenGlobex, body); code != 200 {
		t.Errorf("globex: got %d %s, want 200", code, resp)
	}
	if got := len(fw.records()); got != 6 {
		t.Errorf("got %d records, want 6", got)
	}
}

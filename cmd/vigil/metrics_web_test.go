package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// webTestPassword is the password of the user "prometheus" in the web configurations of these tests.
const webTestPassword = "s3cret-scrape"

// webBasicAuth is the basic_auth_users block of a web configuration: the user prometheus with webTestPassword.
func webBasicAuth(t *testing.T) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(webTestPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("basic_auth_users:\n  prometheus: %q\n", hash)
}

// webTestCA writes a CA and a server certificate for 127.0.0.1 signed by it into dir; it returns the pool that
// trusts the CA and the certificate and key files.
func webTestCA(t *testing.T, dir string) (pool *x509.CertPool, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "vigil"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	writeTestFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeTestFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return pool, certFile, keyFile
}

// status GETs url with client, as user (none when empty) with password, and returns the status code.
func status(t *testing.T, client *http.Client, url, user, password string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// TestMetricsWebConfigBasicAuth: with a web configuration that requires basic authentication, /metrics (and the
// health endpoints) answer 401 without credentials or with a wrong password, and 200 with the right ones. The
// configuration comes from metrics.web_config_file of a `vigil run` configuration.
func TestMetricsWebConfigBasicAuth(t *testing.T) {
	dir := t.TempDir()
	webConfig := filepath.Join(dir, "web.yml")
	writeTestFile(t, webConfig, webBasicAuth(t))
	writeTestFile(t, filepath.Join(dir, "rule.yml"), metricsRules)
	events := filepath.Join(dir, "events.jsonl")
	writeTestFile(t, events, `{"a":1}`+"\n")
	addr := freeAddr(t)
	config := filepath.Join(dir, "vigil.yaml")
	writeTestFile(t, config, fmt.Sprintf(`rules: {paths: [%s]}
sources: [{type: file, file: {paths: [%s], tenant: acme, follow: true, poll_interval: 20ms}}]
sinks: [{type: file, file: {path: %s}}]
dead_letter: {path: %s}
metrics: {addr: "%s", web_config_file: %s}
`, filepath.Join(dir, "rule.yml"), events, filepath.Join(dir, "alerts.jsonl"), filepath.Join(dir, "dl.jsonl"), addr, webConfig))
	logs := &syncBuffer{}
	runInProcess(t, config, logs)
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	base := "http://" + addr
	waitFor(t, 10*time.Second, "the metrics server", func() bool {
		res, err := client.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	})
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if got := status(t, client, base+path, "", ""); got != http.StatusUnauthorized {
			t.Errorf("%s without credentials: got %d, want 401", path, got)
		}
		if got := status(t, client, base+path, "prometheus", "wrong"); got != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: got %d, want 401", path, got)
		}
	}
	if got := status(t, client, base+"/metrics", "prometheus", webTestPassword); got != http.StatusOK {
		t.Errorf("/metrics with the credentials: got %d, want 200", got)
	}
}

// TestMetricsWebConfigTLS: with tls_server_config, the endpoints are served over HTTPS: a client that trusts the
// test CA gets 200 (with the credentials), one that does not is refused the certificate, and plain HTTP gets no
// metrics.
func TestMetricsWebConfigTLS(t *testing.T) {
	dir := t.TempDir()
	pool, certFile, keyFile := webTestCA(t, dir)
	webConfig := filepath.Join(dir, "web.yml")
	writeTestFile(t, webConfig, fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", certFile, keyFile)+webBasicAuth(t))
	m := newMonitor(slog.New(slog.DiscardHandler))
	m.ready.set("rules", nil)
	if err := m.serveWeb("127.0.0.1:0", webConfig); err != nil {
		t.Fatal(err)
	}
	defer m.close()
	url := "https://" + m.addr + "/metrics"
	trusting := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	if got := status(t, trusting, url, "prometheus", webTestPassword); got != http.StatusOK {
		t.Errorf("https with the test CA and the credentials: got %d, want 200", got)
	}
	if got := status(t, trusting, url, "", ""); got != http.StatusUnauthorized {
		t.Errorf("https without credentials: got %d, want 401", got)
	}
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(url); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("https without the test CA: got %v, want a certificate error", err)
	}
	if got := status(t, &http.Client{Timeout: 5 * time.Second}, "http://"+m.addr+"/metrics", "prometheus", webTestPassword); got == http.StatusOK {
		t.Errorf("plain http to the TLS port: got %d, want a refusal", got)
	}
}

// TestMetricsWebConfigInvalid: a web configuration that cannot work stops start-up before the port is bound,
// instead of a server that fails every request.
func TestMetricsWebConfigInvalid(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"plain password": "basic_auth_users:\n  prometheus: not-a-bcrypt-hash\n",
		"missing key":    "tls_server_config:\n  cert_file: " + filepath.Join(dir, "none.crt") + "\n  key_file: " + filepath.Join(dir, "none.key") + "\n",
		"unknown key":    "basic_auth_user:\n  prometheus: x\n",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yml")
		writeTestFile(t, path, text)
		addr := freeAddr(t)
		m := newMonitor(slog.New(slog.DiscardHandler))
		if err := m.serveWeb(addr, path); err == nil {
			m.close()
			t.Errorf("%s: got no error, want one", name)
			continue
		}
		if ln, err := net.Listen("tcp", addr); err != nil {
			t.Errorf("%s: the port was bound in spite of the error: %v", name, err)
		} else {
			ln.Close()
		}
	}
	if err := newMonitor(slog.New(slog.DiscardHandler)).serveWeb(freeAddr(t), filepath.Join(dir, "absent.yml")); err == nil {
		t.Error("a web configuration file that does not exist: got no error, want one")
	}
}

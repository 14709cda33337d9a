package intake

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestReadFrame(t *testing.T) {
	in := "<13>1 first line\r\n" + "26 <14>1 counted with\nnewline" + "2026-01-01 bare line starting with digits\n" +
		strings.Repeat("x", 40) + "\n" + "<15>last without newline"
	br := bufio.NewReader(strings.NewReader(in))
	var got []string
	for {
		msg, err := readFrame(br, 32)
		var tooLong *errFrameTooLong
		if errors.As(err, &tooLong) {
			got = append(got, "TOO LONG")
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(msg))
	}
	want := []string{"<13>1 first line", "<14>1 counted with\nnewline", "TOO LONG", "TOO LONG", "<15>last without newline"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// startServer serves cfg over the fake writer on real listeners.
func startServer(t *testing.T, cfg Config) (*Server, *fakeWriter) {
	t.Helper()
	fw := &fakeWriter{}
	return serve(t, cfg, Options{Writer: fw}), fw
}

func waitRecords(t *testing.T, fw *fakeWriter, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(fw.records()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(fw.records()); got != n {
		t.Fatalf("got %d records, want %d", got, n)
	}
}

func TestSyslogTCPAndMTLS(t *testing.T) {
	pki := newTestPKI(t)
	cfg := testConfig(t)
	cfg.TLS = TLSConfig{CertFile: pki.certFile, KeyFile: pki.key, ClientCAFile: pki.caFile, ClientTenantPrefix: "partner-"}
	cfg.Syslog = []SyslogConfig{{Name: "acme-tcp", Listen: "127.0.0.1:0", Tenant: "acme"},
		{Name: "certs", Listen: "127.0.0.1:0", TLS: true},
		{Name: "globex-tls", Listen: "127.0.0.1:0", TLS: true, Tenant: "globex"}}
	s, fw := startServer(t, cfg)

	c, err := net.Dial("tcp", s.SyslogAddr("acme-tcp"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "<34>1 2026-01-01T00:00:00Z fw1 sshd - - - Failed password for root\n12 <13>1 hello!")
	c.Close()
	waitRecords(t, fw, 2)
	r := fw.records()[0]
	if string(r.Value) != "<34>1 2026-01-01T00:00:00Z fw1 sshd - - - Failed password for root" ||
		header(r, "format") != "syslog" || header(r, "tenant") != "acme" || header(r, "vigil.intake.route") != "syslog/acme-tcp" ||
		r.Topic != "partner.acme.events.syslog" {
		t.Errorf("got %q headers %v, want the raw line, format syslog, tenant acme, route syslog/acme-tcp on partner.acme.events.syslog", r.Value, r.Headers)
	}

	tc, err := tls.Dial("tcp", s.SyslogAddr("certs"), pki.client(t, "partner-globex"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(tc, "19 <13>1 from globex..")
	tc.Close()
	waitRecords(t, fw, 3)
	if got := header(fw.records()[2], "tenant"); got != "globex" {
		t.Errorf("got tenant %q from the certificate partner-globex, want globex", got)
	}

	// acme's certificate on globex's listener is refused: nothing is written.
	tc, err = tls.Dial("tcp", s.SyslogAddr("globex-tls"), pki.client(t, "partner-acme"))
	if err == nil {
		fmt.Fprint(tc, "<13>1 acme pretending to be globex\n")
		_, _ = io.ReadAll(tc) // the server closes the connection
		tc.Close()
	}
	time.Sleep(100 * time.Millisecond)
	if got := len(fw.records()); got != 3 {
		t.Errorf("got %d records after acme's certificate on globex's listener, want 3", got)
	}

	// Over HTTPS, the certificate names the tenant; a token of another tenant with it is refused.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.client(t, "partner-acme")}}
	for _, c := range []struct {
		auth string
		want int
	}{{"", 200}, {"Splunk " + tokenAcme, 200}, {"Splunk " + tokenGlobex, 403}} {
		req, _ := http.NewRequest(http.MethodPost, "https://"+s.Addr()+"/services/collector", strings.NewReader(`{"event":1}`))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("certificate of acme with %q: got %d, want %d", c.auth, res.StatusCode, c.want)
		}
	}
}

// A listener's format (bare CEF from a firewall) travels in the format header, and its lines go to the syslog
// topic; a format that is not a line format is a configuration error.
func TestSyslogListenerFormat(t *testing.T) {
	cfg := testConfig(t)
	cfg.Syslog = []SyslogConfig{{Name: "fw", Listen: "127.0.0.1:0", Tenant: "acme", Format: "cef"}}
	s, fw := startServer(t, cfg)
	c, err := net.Dial("tcp", s.SyslogAddr("fw"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "CEF:0|V|P|1|100|Blocked|5|src=192.0.2.1 dst=198.51.100.2\n")
	c.Close()
	waitRecords(t, fw, 1)
	if r := fw.records()[0]; header(r, "format") != "cef" || r.Topic != "partner.acme.events.syslog" {
		t.Errorf("got format header %q on %s, want cef on partner.acme.events.syslog", header(r, "format"), r.Topic)
	}
	cfg.Syslog[0].Format = "json"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `syslog[0] (fw): format "json": want one of syslog, cef, leef, kv, lines`) {
		t.Errorf("format json on a syslog listener: got %v, want the line formats named", err)
	}
}

func TestSlowClientTimesOut(t *testing.T) {
	cfg := testConfig(t)
	cfg.Timeouts.ReadHeader = 200 * time.Millisecond
	s, _ := startServer(t, cfg)
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "POST /services/collector HTTP/1.1\r\nHost: x\r\n") // and never the end of the headers
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("got the connection still open after 10s, want it closed by read_header")
	}
}

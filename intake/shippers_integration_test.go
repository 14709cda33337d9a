//go:build integration

package intake

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/testenv"
)

// Real log shippers from Debian's packages, run as child processes against a real intake on the real broker:
// rsyslog forwarding over TLS syslog (RFC 5425, omfwd with the gtls driver, a client certificate naming the
// tenant) and posting to _bulk (omelasticsearch), syslog-ng posting to HEC (http() destination). Each reads a file
// the test wrote (imfile, file()): twenty-odd failed SSH logons for different accounts from one address. The test
// reads the records back from Kafka, then the real `vigil run` consumes them and raises the password spray and the
// brute force, in the tenant of the credential that sent them.

// shippers returns the folder where testenv/log-shippers unpacked rsyslog and syslog-ng, running it (which
// installs them on first use, with apt-get). Without them the test is skipped, or fails under
// VIGIL_REQUIRE_INTEGRATION=1.
func shippers(t *testing.T) string {
	t.Helper()
	var stderr strings.Builder
	cmd := exec.Command(filepath.Join("..", "testenv", "log-shippers"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := fmt.Sprintf("rsyslog and syslog-ng not installable: %v\n%s", err, stderr.String())
		if os.Getenv(testenv.EnvRequire) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return strings.TrimSpace(string(out))
}

// startDaemon runs a shipper in the foreground until the end of the test (SIGTERM, then SIGKILL after 10 s);
// its output is shown when the test fails, with the extra files given (the daemon's own logs).
func startDaemon(t *testing.T, env []string, extra []string, name string, args ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "daemon.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		f.Close()
		if t.Failed() {
			for _, p := range append([]string{logPath}, extra...) {
				b, _ := os.ReadFile(p)
				t.Logf("%s, %s:\n%s", filepath.Base(name), filepath.Base(p), b)
			}
		}
	})
}

// sprayer is the address of the failed logons in the shippers' files.
const sprayer = "203.0.113.7"

// writeLines writes n messages of sshd, failed logons of accounts admin0, admin1... from sprayer, to a new file
// and returns its path.
func writeLines(t *testing.T, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Failed password for invalid user admin%d from %s port 22 ssh2\n", i, sprayer)
	}
	path := filepath.Join(dir, "app.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkHeaders fails unless every record has the headers want (key: value).
func checkHeaders(t *testing.T, msgs []kafka.Message, want map[string]string) {
	t.Helper()
	for i, m := range msgs {
		for k, v := range want {
			if got := header(m, k); got != v {
				t.Fatalf("record %d (%s): got header %s=%q, want %q", i, m.Value, k, got, v)
			}
		}
	}
}

// clientFiles writes a client certificate with the common name cn and its key as PEM files.
func (p *testPKI) clientFiles(t *testing.T, cn string) (cert, key string) {
	c := p.issue(t, cn, nil, x509.ExtKeyUsageClientAuth)
	keyDER, _ := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	return p.write(t, cn+".pem", "CERTIFICATE", c.Certificate[0]), p.write(t, cn+"-key.pem", "EC PRIVATE KEY", keyDER)
}

// rsyslogConf forwards every line of a file twice: over TLS syslog with acme's client certificate, and to _bulk
// over HTTPS with globex's token. Both actions have a queue and retry forever, as docs/intake.md advises.
const rsyslogConf = `
global(workDirectory="{dir}" DefaultNetstreamDriverCAFile="{ca}"
       DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}")
module(load="imfile")
module(load="omelasticsearch")
template(name="doc" type="list" option.jsonf="on") {
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host.hostname" name="hostname" format="jsonf")
  property(outname="process.name" name="programname" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}
ruleset(name="forward") {
  action(type="omfwd" target="127.0.0.1" port="{syslog_port}" protocol="tcp" TCP_Framing="octet-counted"
         StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="server"
         template="RSYSLOG_SyslogProtocol23Format" queue.type="LinkedList" action.resumeRetryCount="-1")
  action(type="omelasticsearch" server="127.0.0.1" serverport="{http_port}" usehttps="on" tls.cacert="{ca}"
         uid="partner" pwd="{token}" template="doc" searchIndex="syslog" bulkmode="on"
         queue.type="LinkedList" action.resumeRetryCount="-1")
}
input(type="imfile" file="{file}" tag="sshd" ruleset="forward")
action(type="omfile" file="{dir}/rsyslogd.log")
`

func TestIntegrationRsyslog(t *testing.T) {
	root := shippers(t)
	addr := testenv.Kafka(t)
	topic := testenv.CreateTopic(t, addr, 1)
	testenv.CreateNamedTopic(t, addr, topic+".syslog", 1)
	pki := newTestPKI(t)
	cfg := multiTenantConfig(t, addr, topic)
	cfg.TLS = TLSConfig{CertFile: pki.certFile, KeyFile: pki.key, ClientCAFile: pki.caFile}
	cfg.Syslog = []SyslogConfig{{Name: "tls", Listen: "127.0.0.1:0", TLS: true}}
	s := realServer(t, cfg)
	dir := t.TempDir()
	cert, key := pki.clientFiles(t, "acme")
	_, syslogPort, _ := strings.Cut(s.SyslogAddr("tls"), ":")
	_, httpPort, _ := strings.Cut(s.Addr(), ":")
	conf := strings.NewReplacer("{dir}", dir, "{ca}", pki.caFile, "{cert}", cert, "{key}", key,
		"{syslog_port}", syslogPort, "{http_port}", httpPort, "{token}", tokenGlobex,
		"{file}", writeLines(t, dir, 20)).Replace(rsyslogConf)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, nil, []string{filepath.Join(dir, "rsyslogd.log")}, filepath.Join(root, "usr/sbin/rsyslogd"),
		"-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"),
		"-M", filepath.Join(root, "usr/lib/x86_64-linux-gnu/rsyslog"))

	t.Run("tls syslog", func(t *testing.T) {
		msgs := testenv.ReadRecords(t, addr, topic+".syslog", 20)
		checkHeaders(t, msgs, map[string]string{"tenant": "acme", "vigil.intake.route": "syslog/tls",
			"vigil.intake.credential": "cert:acme", "format": "syslog"})
		if v := string(msgs[0].Value); !strings.HasPrefix(v, "<") || !strings.Contains(v, "sshd") ||
			!strings.Contains(v, "admin0 from "+sprayer) {
			t.Errorf("got record %q, want an RFC 5424 line of sshd with the first line's text", v)
		}
	})
	t.Run("omelasticsearch", func(t *testing.T) {
		msgs := testenv.ReadRecords(t, addr, topic, 20)
		checkHeaders(t, msgs, map[string]string{"tenant": "globex", "vigil.intake.route": "bulk",
			"vigil.intake.credential": "globex-hec", "es.index": "syslog"})
		if v := string(msgs[0].Value); !strings.Contains(v, `"message":"Failed password for invalid user admin0`) {
			t.Errorf("got document %s, want the template's JSON with the first line as message", v)
		}
	})
	// The syslog lines (format: syslog) and the documents (JSON, with process.name) both go through the shipped
	// Linux parsers; each tenant gets its own alerts.
	parsers := "parsers: [configs/parsers/linux.yml]"
	runVigil(t, addr, []string{"{name: " + topic + ".syslog, multi_tenant: true, format: syslog, " + parsers + "}",
		"{name: " + topic + ", multi_tenant: true, " + parsers + "}"},
		append(sprayAlerts("acme", sprayer), sprayAlerts("globex", sprayer)...)...)
}

// syslogNGConf posts every line of a file to HEC's event endpoint in batches of 10, with acme's token: the event is
// an object with the message and the program (format-json nests dotted names), as a HEC client sends parsed logs.
const syslogNGConf = `@version: 3.38
options { stats-freq(0); };
source s_app { file("{file}" follow-freq(0.1) flags(no-parse)); };
destination d_hec {
  http(url("http://{addr}/services/collector/event") method("POST")
       headers("Authorization: Splunk {token}", "Content-Type: application/json")
       body("$(format-json --scope none time=${UNIXTIME} sourcetype=linux_secure host=web01 event.message=${MESSAGE} event.process.name=sshd)")
       batch-lines(10) batch-timeout(100));
};
log { source(s_app); destination(d_hec); };
`

func TestIntegrationSyslogNG(t *testing.T) {
	root := shippers(t)
	addr := testenv.Kafka(t)
	topic := testenv.CreateTopic(t, addr, 1)
	s := realServer(t, multiTenantConfig(t, addr, topic))
	dir := t.TempDir()
	conf := strings.NewReplacer("{file}", writeLines(t, dir, 25), "{addr}", s.Addr(), "{token}", tokenAcme).
		Replace(syslogNGConf)
	confPath := filepath.Join(dir, "syslog-ng.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(root, "usr/lib/syslog-ng")
	startDaemon(t, []string{"LD_LIBRARY_PATH=" + lib}, nil, filepath.Join(root, "usr/sbin/syslog-ng"),
		"-F", "-e", "--no-caps", "-f", confPath, "--module-path", filepath.Join(lib, "3.38"),
		"-R", filepath.Join(dir, "persist"), "-p", filepath.Join(dir, "pid"), "-c", filepath.Join(dir, "ctl"))
	msgs := testenv.ReadRecords(t, addr, topic, 25)
	checkHeaders(t, msgs, map[string]string{"tenant": "acme", "vigil.intake.route": "hec/event",
		"vigil.intake.credential": "acme-fw"})
	checkHeaders(t, msgs, map[string]string{"format": "hec"})
	var first struct {
		Time       string `json:"time"`
		Sourcetype string `json:"sourcetype"`
		Event      struct {
			Message string `json:"message"`
			Process struct {
				Name string `json:"name"`
			} `json:"process"`
		} `json:"event"`
	}
	if err := json.Unmarshal(msgs[0].Value, &first); err != nil || first.Time == "" || first.Sourcetype != "linux_secure" ||
		first.Event.Process.Name != "sshd" || first.Event.Message != "Failed password for invalid user admin0 from "+sprayer+" port 22 ssh2" {
		t.Errorf("got record %s (%v), want the HEC object syslog-ng built: time, sourcetype linux_secure, event.message "+
			"the first line, event.process.name sshd", msgs[0].Value, err)
	}
	// The topic is JSON; the header format: hec unwraps the envelope, and the shipped Linux parsers read the message.
	runVigil(t, addr, []string{"{name: " + topic + ", multi_tenant: true, parsers: [configs/parsers/linux.yml]}"},
		sprayAlerts("acme", sprayer)...)
}

//go:build integration

package intake

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsoc/vigil/testenv"
)

// The last step of the tests with real clients: the real `vigil run`, with the shipped rules and Linux parsers,
// consumes what the client sent through intake and raises the alerts an analyst would see.

// wantAlert is an alert the run must raise: the rule, the tenant, and fields of the alert document (dotted keys).
type wantAlert struct {
	rule, tenant string
	fields       map[string]string
}

// runVigil builds vigil and runs `vigil run` over one Kafka source with the given topic entries (YAML flow maps,
// e.g. `{name: t, multi_tenant: true}`), the shipped rules and a correlation stage of its own, until the alert file
// holds every wanted alert; it stops vigil and returns the alerts by rule id.
func runVigil(t *testing.T, addr string, topics []string, want ...wantAlert) map[string][]map[string]any {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vigil")
	build := exec.Command("go", "build", "-o", bin, "./cmd/vigil")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	name := testenv.UniqueName(t, "vigil-intake-")
	alerts := filepath.Join(dir, "alerts.jsonl")
	config := filepath.Join(dir, "run.yaml")
	yaml := fmt.Sprintf(`rules:
  paths: [configs/rules]
tenants: [acme, globex]
sources:
  - name: intake
    type: kafka
    kafka:
      brokers: [%s]
      group_id: %s
      start_offset: earliest
      topics:
        - %s
sinks:
  - type: file
    file: {path: %s}
dead_letter: {type: file, path: %s}
correlate:
  kafka: {}
  topic: %s.matches
  changelog_topic: %s.state
  group_id: %s
  partitions: 1
`, addr, name, strings.Join(topics, "\n        - "), alerts, filepath.Join(dir, "deadletters.jsonl"), name, name, name)
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "vigil.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "run", "-c", config)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "VIGIL_METRICS_ADDR=127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	fail := func(format string, args ...any) {
		t.Helper()
		_ = cmd.Process.Kill()
		b, _ := os.ReadFile(logPath)
		t.Fatalf(format+"; vigil's log:\n%s", append(args, b)...)
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		got := readAlerts(t, alerts)
		missing := 0
		for _, w := range want {
			if !hasAlert(got[w.rule], w) {
				missing++
			}
		}
		if missing == 0 {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-done:
				if err != nil {
					fail("vigil run exited with %v after SIGTERM", err)
				}
			case <-time.After(60 * time.Second):
				fail("vigil run did not stop within 60s of SIGTERM")
			}
			return readAlerts(t, alerts)
		}
		select {
		case err := <-done:
			fail("vigil run exited (%v) with %d of %d expected alerts", err, len(want)-missing, len(want))
		default:
		}
		if time.Now().After(deadline) {
			fail("%d of %d expected alerts after 3 minutes (%v); alerts: %v", len(want)-missing, len(want), want, got)
		}
	}
}

// readAlerts reads the alert file (a missing file has none) by rule id, each alert flattened to dotted keys.
func readAlerts(t *testing.T, path string) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var doc map[string]any
		if json.Unmarshal(sc.Bytes(), &doc) != nil {
			continue // a line being written
		}
		flat := flatten("", doc, map[string]any{})
		rule, _ := flat["rule.id"].(string)
		out[rule] = append(out[rule], flat)
	}
	return out
}

func flatten(prefix string, v any, out map[string]any) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = v
		return out
	}
	for k, x := range m {
		if prefix != "" {
			k = prefix + "." + k
		}
		flatten(k, x, out)
	}
	return out
}

// hasAlert reports whether one of the alerts is of w's tenant and has w's fields.
func hasAlert(alerts []map[string]any, w wantAlert) bool {
next:
	for _, a := range alerts {
		if a["vigil.alert.tenant"] != w.tenant {
			continue
		}
		for k, v := range w.fields {
			if fmt.Sprint(a[k]) != v {
				continue next
			}
		}
		return true
	}
	return false
}

// sprayAlerts are the alerts of twenty or more failed SSH logons for different accounts from one public address
// within ten minutes: a password spray and a brute force from that address, in tenant's index.
func sprayAlerts(tenant, address string) []wantAlert {
	return []wantAlert{
		{rule: "vigil.auth.password_spray", tenant: tenant, fields: map[string]string{"source.ip": address}},
		{rule: "vigil.auth.bruteforce_source", tenant: tenant, fields: map[string]string{"source.ip": address}},
	}
}

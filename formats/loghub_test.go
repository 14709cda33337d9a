package formats

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedTestdata returns a folder of the shared test data (../shared/testdata beside the module root; origin and
// licence in its SOURCE.md files), or skips the test when it is absent. The data is read in place, never copied.
func sharedTestdata(t testing.TB, rel string) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test: cannot find ../shared/testdata")
		}
		dir = parent
	}
	path := filepath.Join(dir, "..", "shared", "testdata", rel)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared test data %s is absent (%v): skipping the real-data test", path, err)
	}
	return path
}

// decodeFile decodes every line of a file and returns the events as flattened fields.
func decodeFile(t *testing.T, d *Decoder, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		out = append(out, flat("", decodeLine(t, d, sc.Text()), map[string]any{}))
	}
	return out
}

// Linux_2k.log (real RFC 3164 syslog from loghub) decodes completely, and every sshd and pam_unix line is parsed.
func TestLinux2kParsed(t *testing.T) {
	path := filepath.Join(sharedTestdata(t, "loghub/Linux"), "Linux_2k.log")
	d := mustDecoder(t, Config{Format: "syslog", Parsers: []string{"../configs/parsers/linux.yml"}})
	events := decodeFile(t, d, path)
	if len(events) != 2000 {
		t.Fatalf("got %d events, want 2000", len(events))
	}
	var unparsed []string
	failures, withIP := 0, 0
	for _, ev := range events {
		if ev["vigil.parse.failed"] == "syslog" {
			unparsed = append(unparsed, ev["event.original"].(string))
			continue
		}
		name, _ := ev["process.name"].(string)
		if (strings.Contains(name, "sshd") || strings.Contains(name, "pam_unix")) && ev["vigil.parse.failed"] != nil {
			unparsed = append(unparsed, ev["event.original"].(string))
		}
		if ev["event.action"] == "ssh_login" && ev["event.outcome"] == "failure" {
			failures++
			if ev["source.ip"] != nil {
				withIP++
			}
		}
	}
	if len(unparsed) > 0 {
		t.Errorf("got %d unparsed syslog, sshd or pam lines, want none:\n%s", len(unparsed), strings.Join(unparsed, "\n"))
	}
	// grep -c 'sshd(pam_unix).*authentication failure' Linux_2k.log: 489; 300 of them name the address by IP (the others by host name: source.domain).
	if failures != 489 || withIP != 300 {
		t.Errorf("got %d SSH login failures, %d with source.ip; want 489 and 300", failures, withIP)
	}
}

// Apache_2k.log (a real Apache error log from loghub) goes through the shipped apache_error parser.
func TestApache2kParsed(t *testing.T) {
	path := filepath.Join(sharedTestdata(t, "loghub/Apache"), "Apache_2k.log")
	d := mustDecoder(t, Config{Format: "lines", Parsers: []string{"../configs/parsers/apache.yml"}})
	levels := map[string]int{}
	for _, ev := range decodeFile(t, d, path) {
		if ev["vigil.parse.failed"] != nil {
			t.Errorf("unparsed: %v", ev["event.original"])
			continue
		}
		levels[ev["log.level"].(string)]++
		if ts, _ := ev["@timestamp"].(string); !strings.HasPrefix(ts, "2005-") {
			t.Errorf("%v: @timestamp: got %q, want a time in 2005", ev["event.original"], ts)
		}
	}
	// grep -c '\[error\]' and '\[notice\]' Apache_2k.log: 595 and 1405.
	if levels["error"] != 595 || levels["notice"] != 1405 {
		t.Errorf("got levels %v, want 595 error and 1405 notice", levels)
	}
}

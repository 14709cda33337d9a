package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchUnknownWorkload(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"bench", "--workload", "rules-100,nosuch"}, nil, &out, &errOut); code != 2 {
		t.Fatalf("got exit code %d, want 2; stderr: %s", code, errOut.String())
	}
	for _, want := range []string{`unknown workload "nosuch"`, "rules-1000", "correlate-cost"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("got stderr %q, want it to contain %q", errOut.String(), want)
		}
	}
	if out.Len() > 0 {
		t.Errorf("got output %q, want none: nothing may run", out.String())
	}
}

// The correlation workloads, small, as JSON: one object each, with alerts and groups counted.
func TestBenchCorrelationJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"bench", "--json", "--workload", "correlate,correlate-cost", "--groups", "20000", "--records",
		"60000", "--events", "4000", "--duration", "1ms"}
	if code := run(args, nil, &out, &errOut); code != 0 {
		t.Fatalf("got exit code %d, want 0; stderr: %s", code, errOut.String())
	}
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, m)
	}
	if len(got) != 2 {
		t.Fatalf("got %d JSON objects, want 2: %s", len(got), out.String())
	}
	if got[0]["workload"] != "correlate" || got[0]["alerts"].(float64) <= 0 || got[0]["groups_seen"].(float64) <= 0 {
		t.Errorf("got %v, want the correlate workload with alerts and groups", got[0])
	}
	if got[1]["workload"] != "correlate-cost:rules-1000" || got[1]["match_records"].(float64) <= 0 {
		t.Errorf("got %v, want the correlate-cost workload with match records", got[1])
	}
}

// compile-sigma on the small Sigma repository of the converter's tests: its rules convert, compile, and the result
// counts them and has the heap they keep (too small here to assert on).
func TestBenchSigmaCompileJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"bench", "--json", "--workload", "compile-sigma", "--sigma", "../../rules/sigma/testdata/repo/rules"}
	if code := run(args, nil, &out, &errOut); code != 0 {
		t.Fatalf("got exit code %d, want 0; stderr: %s", code, errOut.String())
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if _, ok := got["bytes_per_rule"].(float64); got["workload"] != "compile-sigma" || got["rules"].(float64) < 1 || !ok {
		t.Errorf("got %v, want the compile-sigma workload with its rules and bytes per rule", got)
	}
	var missing bytes.Buffer
	args[len(args)-1] = t.TempDir() + "/none"
	if code := run(args, nil, &bytes.Buffer{}, &missing); code != 0 || !strings.Contains(missing.String(), "skipped") {
		t.Errorf("missing folder: got exit code %d and %q, want 0 and a message that it was skipped", code, missing.String())
	}
}

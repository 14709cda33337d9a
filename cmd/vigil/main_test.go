package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestBadFlagIsExplained runs every subcommand with a flag it does not have: each must exit 2 and say which flag
// was wrong, followed by its usage, instead of exiting silently.
func TestBadFlagIsExplained(t *testing.T) {
	for _, cmd := range [][]string{
		{"run"}, {"replay"}, {"rules", "validate"}, {"rules", "test"}, {"sigma", "convert"}, {"sigma", "test"},
		{"alerts", "search"}, {"deadletters", "list"}, {"deadletters", "show"}, {"deadletters", "replay"}, {"bench"},
	} {
		name := strings.Join(cmd, " ")
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append(cmd, "--no-such-flag"), nil, &out, &errOut)
			if code != 2 {
				t.Errorf("exit code: got %d, want 2", code)
			}
			msg := errOut.String()
			if !strings.Contains(msg, "vigil "+name+": unknown flag: --no-such-flag") {
				t.Errorf("stderr: got %q, want the command and the error", msg)
			}
			if !strings.Contains(msg, "usage: vigil "+name) {
				t.Errorf("stderr: got %q, want the usage after the error", msg)
			}
		})
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"alerts", "search", "--size", "many"}, nil, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), `invalid argument "many" for "--size" flag`) {
		t.Errorf("a bad flag value: got exit %d and %q, want 2 and the reason", code, errOut.String())
	}
}

// TestHelpFlagExitsZero checks that --help still prints the usage and succeeds.
func TestHelpFlagExitsZero(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"alerts", "search", "--help"}, nil, &out, &errOut); code != 0 ||
		!strings.Contains(errOut.String(), "usage: vigil alerts search") || strings.Contains(errOut.String(), "help requested") {
		t.Errorf("--help: got exit %d and %q, want 0 and the usage alone", code, errOut.String())
	}
}

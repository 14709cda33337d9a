package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestIntakeExampleConfigLoads(t *testing.T) {
	cfg, err := loadIntakeConfig("../../configs/intake.example.yaml")
	if err != nil {
		t.Fatalf("got %v, want the example to load", err)
	}
	if got := cfg.Intake.Kafka.TopicFor("acme", false); got != "partner.acme.events" {
		t.Errorf("got topic %s, want partner.acme.events", got)
	}
}

func TestIntakeToken(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"intake", "token", "--tenant", "acme", "--name", "fw", "--expires", "2027-01-01"}, nil, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "sha256: ") || !strings.Contains(out.String(), "expires: 2027-01-01T00:00:00Z") {
		t.Errorf("got %d %q %q, want 0 with the sha256 and expires lines", code, out.String(), errb.String())
	}
	if code := run([]string{"intake", "token", "--tenant", "Not A Tenant"}, nil, &out, &errb); code != 2 {
		t.Errorf("got %d for a bad tenant, want 2", code)
	}
}

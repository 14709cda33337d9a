package main

import (
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/sinks"
)

func TestParseTimeBound(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: ""},
		{in: "2h", want: now.Add(-2 * time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.AddDate(0, 0, -7)},
		{in: "1d12h", want: now.Add(-36 * time.Hour)},
		{in: " 30s ", want: now.Add(-30 * time.Second)},
		{in: "2026-11-27T10:00:00Z", want: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)},
		{in: "2026-11-27T11:00:00+01:00", want: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)},
		{in: "2026-11-20", want: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)},
		{in: "yesterday", err: "neither a duration"},
		{in: "7days", err: "neither a duration"},
		{in: "-2h", err: "must be positive"},
		{in: "0s", err: "must be positive"},
		{in: "999999999d", err: "too many days"},
	} {
		got, err := parseTimeBound(c.in, now)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: got %v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%q: got %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestLetterFilter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	letter := func(kind, reason, tenant string, age time.Duration) *sinks.ParkedLetter {
		return &sinks.ParkedLetter{DeadLetter: vigil.DeadLetter{Kind: kind, Reason: reason, Tenant: tenant}, Parked: now.Add(-age)}
	}
	decode := letter("event", "decode", "acme", 3*time.Hour)
	mapping := letter("alert", "mapping", "globex", 30*time.Minute)
	tenantless := letter("event", "tenant", "", 10*24*time.Hour)
	all := []*sinks.ParkedLetter{decode, mapping, tenantless}
	for _, c := range []struct {
		name  string
		flags filterFlags
		want  []*sinks.ParkedLetter
	}{
		{"none", filterFlags{}, all},
		{"one reason", filterFlags{reasons: []string{"decode"}}, []*sinks.ParkedLetter{decode}},
		{"two reasons", filterFlags{reasons: []string{"mapping", " tenant"}}, []*sinks.ParkedLetter{mapping, tenantless}},
		{"tenant", filterFlags{tenant: "globex"}, []*sinks.ParkedLetter{mapping}},
		{"kind", filterFlags{kind: "event"}, []*sinks.ParkedLetter{decode, tenantless}},
		{"since", filterFlags{since: "2h"}, []*sinks.ParkedLetter{mapping}},
		{"until", filterFlags{until: "1h"}, []*sinks.ParkedLetter{decode, tenantless}},
		{"window", filterFlags{since: "7d", until: "1h"}, []*sinks.ParkedLetter{decode}},
		{"since a time", filterFlags{since: "2026-11-27T09:00:00Z"}, []*sinks.ParkedLetter{decode, mapping}},
		{"everything", filterFlags{reasons: []string{"decode"}, tenant: "acme", kind: "event", since: "1d"}, []*sinks.ParkedLetter{decode}},
		{"nothing", filterFlags{reasons: []string{"decode"}, kind: "alert"}, nil},
	} {
		f, err := c.flags.filter(now)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var got []*sinks.ParkedLetter
		for _, l := range all {
			if f.match(l) {
				got = append(got, l)
			}
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: got %d letters, want %d", c.name, len(got), len(c.want))
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: letter %d is %s/%s, want %s/%s", c.name, i, got[i].Kind, got[i].Reason, c.want[i].Kind, c.want[i].Reason)
			}
		}
	}
	if f, _ := (&filterFlags{}).filter(now); !f.empty() {
		t.Error("no flags: the filter is not empty")
	}
	if f, _ := (&filterFlags{limit: 3}).filter(now); !f.empty() || f.limit != 3 {
		t.Errorf("--limit alone: got %+v, want an empty filter with limit 3", f)
	}
}

func TestLetterFilterErrors(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		flags filterFlags
		want  string
	}{
		{filterFlags{kind: "record"}, `--kind: "record" is neither event nor alert`},
		{filterFlags{since: "soon"}, "--since:"},
		{filterFlags{until: "later"}, "--until:"},
		{filterFlags{since: "1h", until: "2h"}, "must be before --until"},
		{filterFlags{limit: -1}, "--limit: -1 is negative"},
	} {
		if _, err := c.flags.filter(now); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.flags, err, c.want)
		}
	}
}

func TestParseLetterIDs(t *testing.T) {
	for _, c := range []struct {
		id        string
		topic     string
		partition int
		offset    int64
		ok        bool
	}{
		{"vigil.deadletter/0/42", "vigil.deadletter", 0, 42, true},
		{"dlq_x-1/12/0", "dlq_x-1", 12, 0, true},
		{"a/b/1/2", "a/b", 1, 2, true}, // not a Kafka topic name, but the split is from the right
		{"vigil.deadletter/0", "", 0, 0, false},
		{"/0/1", "", 0, 0, false},
		{"t/x/1", "", 0, 0, false},
		{"t/-1/1", "", 0, 0, false},
		{"t/0/-1", "", 0, 0, false},
		{"deadletters.jsonl:3", "", 0, 0, false},
	} {
		topic, p, off, err := parseKafkaLetterID(c.id)
		if (err == nil) != c.ok || c.ok && (topic != c.topic || p != c.partition || off != c.offset) {
			t.Errorf("%q: got %q %d %d, %v", c.id, topic, p, off, err)
		}
		if err != nil && !strings.Contains(err.Error(), "TOPIC/PARTITION/OFFSET") {
			t.Errorf("%q: the error %q does not show the form", c.id, err)
		}
	}
	for _, c := range []struct {
		id   string
		path string
		line int64
		ok   bool
	}{
		{"deadletters.jsonl:3", "deadletters.jsonl", 3, true},
		{"/var/lib/vigil/dl.jsonl:12", "/var/lib/vigil/dl.jsonl", 12, true},
		{"C:/x:dl.jsonl:7", "C:/x:dl.jsonl", 7, true},
		{"deadletters.jsonl:0", "", 0, false},
		{"deadletters.jsonl", "", 0, false},
		{":3", "", 0, false},
		{"dl.jsonl:x", "", 0, false},
	} {
		path, line, err := parseFileLetterID(c.id)
		if (err == nil) != c.ok || c.ok && (path != c.path || line != c.line) {
			t.Errorf("%q: got %q %d, %v", c.id, path, line, err)
		}
	}
}

package correlate

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/rules"
)

const chain = bruteForce + `
---
id: brute_then_success
name: brute force then success
severity: critical
correlation:
  type: temporal_ordered
  rules: [brute, ok]
  group_by: [user.name]
  timespan: 10m
---
id: spray
name: spray
severity: high
correlation:
  type: value_percentile
  rules: [fail]
  group_by: [source.ip]
  timespan: 10m
  condition: {field: user.name, lte: 20}
---
id: quiet
name: quiet
severity: low
correlation:
  type: absence
  rules: [ok]
  group_by: [user.name]
  timespan: 3m
`

// workload is a mix of failures and successes for a few users, in batches.
func workload() [][]Record {
	var batches [][]Record
	n := 0
	for b := range 40 {
		var batch []Record
		for i := range 25 {
			at := time.Duration(b*25+i) * 2 * time.Second
			user := fmt.Sprint("u", (b*25+i)%7)
			input := "fail"
			if (b*25+i)%11 == 0 {
				input = "ok"
			}
			n++
			for _, rule := range map[string][]string{"fail": {"brute", "spray"}, "ok": {"brute_then_success", "quiet"}}[input] {
				group := []string{user}
				if rule == "spray" {
					group = []string{fmt.Sprint("10.0.0.", n%3)}
				}
				batch = append(batch, Record{Tenant: "acme", Rule: rule, Input: input, AlertID: fmt.Sprintf("%032x", n),
					Time: t0.Add(at), Group: group, Value: user})
			}
		}
		batches = append(batches, batch)
	}
	// Every group's data goes on three hours later, so each window and wait above is decided by the data (the end of
	// the data decides nothing), on whichever partition the group lives.
	var last []Record
	for i := range 7 {
		user := fmt.Sprint("u", i)
		for _, r := range []Record{{Rule: "brute", Input: "fail", Group: []string{user}},
			{Rule: "brute_then_success", Input: "ok", Group: []string{user}}, {Rule: "quiet", Input: "ok", Group: []string{user}},
			{Rule: "spray", Input: "fail", Group: []string{fmt.Sprint("10.0.0.", i%3)}, Value: user}} {
			n++
			r.Tenant, r.AlertID, r.Time = "acme", fmt.Sprintf("%032x", n), t0.Add(3*time.Hour)
			last = append(last, r)
		}
	}
	return append(batches, last)
}

// run feeds batches[from:to] to a partition restored from changelog and returns the alert versions, the changelog
// grown. Batch i stands for offset i of the match partition: the restored partition skips what its checkpoint says
// it applied, as the stage does.
func run(e *Engine, changelog *[]StateRecord, batches [][]Record, from, to int, flush bool) map[string]string {
	p := e.NewPartition(nil)
	for _, rec := range *changelog {
		if err := p.Restore(rec); err != nil {
			panic(err)
		}
	}
	out := map[string]string{}
	keep := func(alerts []*vigil.Alert) {
		for _, a := range alerts {
			out[a.ID] = fmt.Sprint(a.RuleID, " ", vigil.Get(a.Doc, "seq"), vigil.Get(a.Doc, "vigil", "correlation", "count"), " ",
				vigil.Get(a.Doc, "vigil", "correlation", "window"), " ", vigil.Get(a.Doc, "vigil", "suppression"))
		}
	}
	resume, _ := p.Resume()
	for i := max(from, int(resume)); i < to; i++ {
		for j := range batches[i] {
			p.Add(&batches[i][j])
		}
		p.MarkApplied(int64(i + 1))
		alerts, _ := p.Advance()
		keep(alerts)
		*changelog = append(*changelog, p.Checkpoint()...)
	}
	if flush {
		alerts, _ := p.Flush()
		keep(alerts)
	}
	return out
}

// crashes checks that an instance that dies after any batch, restored from the changelog and fed again from the batch
// in flight (delivered again: at least once), ends with the alerts of an instance that never died; it returns them.
func crashes(t *testing.T, set *rules.RuleSet, batches [][]Record, step int) map[string]string {
	t.Helper()
	var log []StateRecord
	want := run(New(set, Config{}), &log, batches, 0, len(batches), true)
	for crash := 1; crash < len(batches); crash += step {
		var log []StateRecord
		got := run(New(set, Config{}), &log, batches, 0, crash, false)
		maps.Copy(got, run(New(set, Config{}), &log, batches, crash-1, len(batches), true))
		if !maps.Equal(got, want) {
			t.Fatalf("crash after batch %d: got %v, want %v", crash, sorted(got), sorted(want))
		}
	}
	return want
}

// TestRestoreFromChangelog: an instance that dies after any batch, restored from the changelog and fed again from the
// batch after its last checkpoint, ends with the alerts of an instance that never died.
func TestRestoreFromChangelog(t *testing.T) {
	for name, text := range map[string]string{"": chain,
		"the spray suppressed": strings.Replace(chain, "  condition: {field: user.name, lte: 20}\n",
			"  condition: {field: user.name, lte: 20}\nsuppress: {for: 30m}\n", 1)} {
		t.Run(name, func(t *testing.T) {
			want := crashes(t, testSet(t, text), workload(), 3)
			if suppresses := strings.Contains(text, "suppress:"); suppresses != regexp.MustCompile(`count:[2-9]`).MatchString(fmt.Sprint(want)) {
				t.Fatalf("suppress in the rules: %v; want an alert that folds others among %v exactly then", suppresses, sorted(want))
			}
			if len(want) < 4 {
				t.Fatalf("the workload raises %d alerts; want a few of each correlation: %v", len(want), want)
			}
		})
	}
}

func sorted(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

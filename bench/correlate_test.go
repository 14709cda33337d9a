package bench

import (
	"testing"
	"time"

	"github.com/vigilsoc/vigil/correlate"
	"github.com/vigilsoc/vigil/rules"
)

func TestMeasureCorrelateSmall(t *testing.T) {
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	opts := CorrelateOptions{Groups: 20_000, Records: 60_000}
	res, err := MeasureCorrelate(env, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Correlations != len(corrSpecs) {
		t.Errorf("got %d correlations, want %d", res.Correlations, len(corrSpecs))
	}
	if res.Alerts == 0 {
		t.Errorf("got no correlation alert; the hot groups must reach their thresholds")
	}
	if res.Unknown+res.Late+res.Duplicates+res.Evicted != 0 {
		t.Errorf("got %d unknown, %d late, %d duplicate, %d evicted records, want none", res.Unknown, res.Late,
			res.Duplicates, res.Evicted)
	}
	// 60,000 records over 20,000 groups, 95% of them at random: most groups get a record.
	if res.GroupsSeen < opts.Groups/2 || res.GroupsSeen > opts.Groups {
		t.Errorf("got %d groups seen, want between %d and %d", res.GroupsSeen, opts.Groups/2, opts.Groups)
	}
	if res.OpenGroups <= 0 || res.OpenGroups > int64(res.GroupsSeen) {
		t.Errorf("got %d open groups, want between 1 and the %d groups seen", res.OpenGroups, res.GroupsSeen)
	}
	if res.CheckpointBytesPerRecord <= 0 || res.RecordsPerSec <= 0 || res.BaselineRecordsPerSec <= 0 {
		t.Errorf("got checkpoint %.1f B/record, %.0f and %.0f records/s, want all positive",
			res.CheckpointBytesPerRecord, res.RecordsPerSec, res.BaselineRecordsPerSec)
	}
	if res.BytesPerGroup < 40 || res.BytesPerGroup > 4096 {
		t.Errorf("got %.1f bytes per open group, want a plausible size (an entry alone is 40 bytes)", res.BytesPerGroup)
	}
}

// The generated stream is in event-time order, deterministic, and covers every correlation and input.
func TestMatchStream(t *testing.T) {
	a, b := newMatchStream(CorrelateOptions{Groups: 2000}), newMatchStream(CorrelateOptions{Groups: 2000})
	var last time.Time
	rulesSeen, closings := map[string]bool{}, 0
	for i := range 20_000 {
		ra := a.next()
		enc := ra.AppendBinary(nil)
		if got := string(b.next().AppendBinary(nil)); got != string(enc) {
			t.Fatalf("record %d: two streams of one seed differ", i)
		}
		var r correlate.Record
		if err := r.UnmarshalBinary(enc); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if r.Time.Before(last) {
			t.Fatalf("record %d: time %v before the previous %v", i, r.Time, last)
		}
		last = r.Time
		rulesSeen[r.Rule+"/"+r.Input] = true
		if r.Rule == "c19" && r.Input == "ok" {
			closings++
		}
	}
	if len(rulesSeen) < len(corrSpecs)+3 { // 3 correlations take two inputs
		t.Errorf("got %d correlation/input pairs, want %d: %v", len(rulesSeen), len(corrSpecs)+3, rulesSeen)
	}
	if closings == 0 {
		t.Errorf("got no absence closing")
	}
}

func TestMeasureCorrelationCostSmall(t *testing.T) {
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	w := Workload{Name: "rules-1000", Rules: Rules(1000, 1), Events: Events(4000, 1)}
	res, err := MeasureCorrelationCost(env, w, CostOptions{MinDuration: time.Millisecond, MinRounds: 2, Batch: 200})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Correlations != 20 || res.Rounds < 2 {
		t.Errorf("got %d correlations and %d rounds, want 20 and at least 2", res.Correlations, res.Rounds)
	}
	if res.Alerts == 0 || res.NamedAlerts == 0 || res.NamedAlerts > res.Alerts {
		t.Errorf("got %d alerts, %d of named rules, want some of each and no more named than all", res.Alerts, res.NamedAlerts)
	}
	// Every alert of a named rule makes a record per correlation naming it, unless it lacks the group-by field.
	if res.MatchRecords < res.NamedAlerts/2 {
		t.Errorf("got %d match records of %d alerts of named rules, want most to make records", res.MatchRecords, res.NamedAlerts)
	}
	if res.CorrelationAlerts == 0 {
		t.Errorf("got no correlation alert; the correlations over the rules that fire most must raise some")
	}
	if res.DetectMicros <= 0 || res.CorrelateMicros <= 0 || res.RecordsMicros <= 0 {
		t.Errorf("got %.2f, %.2f and %.2f µs per event, want all positive", res.DetectMicros, res.CorrelateMicros, res.RecordsMicros)
	}
}

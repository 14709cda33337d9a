package bench

import (
	"fmt"
	"slices"
	"testing"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// TestIndexEquivalence proves that the prefilter index changes nothing: on every benchmark workload, including the
// OTRF recordings, the indexed engine raises exactly the alerts of the engine that evaluates every rule on every
// event.
func TestIndexEquivalence(t *testing.T) {
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	workloads, err := Workloads(equivalenceEvents*4, "../../shared/testdata/otrf")
	if err != nil {
		t.Fatal(err)
	}
	if len(workloads) < 5 {
		t.Logf("OTRF recordings not found in ../../shared/testdata/otrf: checking generated workloads only")
	}
	for _, w := range workloads {
		if len(w.Rules) == 0 {
			continue
		}
		// The unindexed engine evaluates every rule on every event: bound its time, under -race too.
		w.Events = w.Events[:min(len(w.Events), equivalenceEvents*1000/max(len(w.Rules), 250))]
		t.Run(w.Name, func(t *testing.T) {
			set, err := env.CompileSet(w.Rules)
			if err != nil {
				t.Fatal(err)
			}
			indexed, naive := rules.NewEngine(set), rules.NewEngine(set.Unindexed())
			total := 0
			for i, raw := range w.Events {
				tree, err := fields.Parse(raw)
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				ev := &vigil.Event{Raw: raw, Fields: tree, Tenant: rules.DefaultTenant}
				got, want := alertIDs(indexed.Detect(ev, nil)), alertIDs(naive.Detect(ev, nil))
				if !slices.Equal(got, want) {
					t.Fatalf("event %d (%s): indexed engine raised %v, unindexed %v", i, raw, got, want)
				}
				total += len(want)
			}
			if total == 0 {
				t.Errorf("no alert at all: the workload does not exercise matching")
			}
			idx, always, nFields := set.IndexStats()
			t.Logf("%s: %d alerts over %d events; %d rules indexed on %d fields, %d always evaluated",
				w.Name, total, len(w.Events), idx, nFields, always)
		})
	}
}

func alertIDs(as []*vigil.Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%s/%s", a.RuleID, a.ID)
	}
	slices.Sort(out)
	return out
}

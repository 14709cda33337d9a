package sigma

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// ecsDifferences are the rules whose matches on the OTRF recordings differ between windows-flat (on the recorded
// events) and ecs (on the same events as Winlogbeat ships them), with the number of (rule, event) pairs only
// windows-flat finds and only ecs finds, and why. Each is inherent to what the shipper does to the event; docs/sigma.md
// lists them. Any other difference, or another count, fails TestECSOnWinlogbeatEvents.
var ecsDifferences = map[string]struct {
	flatOnly, ecsOnly int
	reason            string
}{
	// proc_creation_win_susp_system_user_anomaly: `User|contains: [AUTHORI, AUTORI]` looks for the domain of
	// "NT AUTHORITY\SYSTEM"; the Sysmon pipeline splits User into user.domain and user.name and drops it, and the
	// profile maps User to user.name ("SYSTEM").
	"sigma.2617e7ed-adb7-40ba-b0f3-8f9945fe6c09": {2, 0, "the shipper splits User into user.domain and user.name"},
	// To fix in the profile: it maps Signed to file.code_signature.signed, which the Sysmon pipeline never sets
	// (it compares the text "true" with a boolean); Signed stays in winlog.event_data.
	"sigma.b5de0c9a-6f19-43e0-af4e-55ad01f550af": {6, 0, "profile: Signed"},
	// To fix in the profile: it maps ProcessName to process.executable, but the Security pipeline moves it there
	// only for logon, privilege-use and account events; 4656 and 4663 keep it in winlog.event_data.
	"sigma.4a1b6da0-d94f-4fc3-98fc-2d9cb9e5ee76": {0, 3, "profile: ProcessName of 4656"},
	"sigma.962fe167-e48d-4fd6-9974-11e5b9a5d6d1": {0, 2, "profile: ProcessName of 4656"},
}

// TestECSOnWinlogbeatEvents converts SigmaHQ's rules with both built-in profiles and runs windows-flat's on the OTRF
// recordings and ecs's on the same events turned into what Winlogbeat 8 indexes (winlogbeatEvent): both must find
// the same (rule, event) pairs, except the documented differences.
func TestECSOnWinlogbeatEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 7,500 events through every Windows rule, twice")
	}
	root := shared(t, "sigma")
	events := otrfEvents(t)
	derived := make([]*vigil.Event, len(events))
	for i, ev := range events {
		events[i], derived[i] = shippedPair(t, ev)
	}
	flat := matchPairs(windowsRuleSet(t, root, newTestConverter(t, "windows-flat")), events)
	ecs := matchPairs(windowsRuleSet(t, root, newTestConverter(t, "ecs")), derived)

	type diff struct{ flatOnly, ecsOnly []int }
	diffs := map[string]*diff{}
	get := func(id string) *diff {
		if diffs[id] == nil {
			diffs[id] = &diff{}
		}
		return diffs[id]
	}
	for p := range flat {
		if !ecs[p] {
			get(p.rule).flatOnly = append(get(p.rule).flatOnly, p.event)
		}
	}
	for p := range ecs {
		if !flat[p] {
			get(p.rule).ecsOnly = append(get(p.rule).ecsOnly, p.event)
		}
	}
	ids := make([]string, 0, len(diffs))
	for id := range diffs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d, want := diffs[id], ecsDifferences[id]
		if len(d.flatOnly) == want.flatOnly && len(d.ecsOnly) == want.ecsOnly {
			continue
		}
		var ex []string
		for _, i := range append(d.flatOnly, d.ecsOnly...)[:1] {
			ex = append(ex, "recorded: "+string(events[i].Raw), "shipped: "+string(derived[i].Raw))
		}
		t.Errorf("rule %s: got %d pairs only with windows-flat and %d only with ecs, want %d and %d (%s)\n%s",
			id, len(d.flatOnly), len(d.ecsOnly), want.flatOnly, want.ecsOnly, want.reason, strings.Join(ex, "\n"))
	}
	for id, want := range ecsDifferences {
		if diffs[id] == nil {
			t.Errorf("rule %s: documented difference (%s) is gone: update ecsDifferences and docs/sigma.md", id, want.reason)
		}
	}
	t.Logf("%d (rule, event) pairs with windows-flat on the recordings, %d with ecs on Winlogbeat's events; %d rules differ",
		len(flat), len(ecs), len(diffs))
}

type matchPair struct {
	rule  string
	event int
}

func matchPairs(set *rules.RuleSet, events []*vigil.Event) map[matchPair]bool {
	eng := rules.NewEngine(set)
	out := map[matchPair]bool{}
	var alerts []*vigil.Alert
	for i, ev := range events {
		alerts = eng.Detect(ev, alerts[:0])
		for _, a := range alerts {
			out[matchPair{a.RuleID, i}] = true
		}
	}
	return out
}

// shippedPair returns the recorded event with its System values under EVTX's names (evtxNames), and the event
// Winlogbeat would index for it.
func shippedPair(t testing.TB, ev *vigil.Event) (recorded, shipped *vigil.Event) {
	t.Helper()
	var flat map[string]any
	if err := json.Unmarshal(ev.Raw, &flat); err != nil {
		t.Fatal(err)
	}
	evtxNames(flat)
	return jsonEvent(t, flat), jsonEvent(t, winlogbeatEvent(flat))
}

func jsonEvent(t testing.TB, doc map[string]any) *vigil.Event {
	t.Helper()
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := fields.Parse(raw)
	if err != nil {
		t.Fatal(fmt.Errorf("%s: %w", raw, err))
	}
	return &vigil.Event{Raw: raw, Fields: tree, Tenant: "default"}
}

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

// TestECSOnShippedFields covers the profile's Winlogbeat-specific mappings that the OTRF recordings do not exercise:
// each rule must match the flat event under windows-flat and the same event as Winlogbeat ships it under ecs.
func TestECSOnShippedFields(t *testing.T) {
	flatConv, ecsConv := newTestConverter(t, "windows-flat"), newTestConverter(t, "ecs")
	sysmon, security := `"Channel":"Microsoft-Windows-Sysmon/Operational","Provider_Name":"Microsoft-Windows-Sysmon"`,
		`"Channel":"Security","Provider_Name":"Microsoft-Windows-Security-Auditing"`
	cases := []struct{ logsource, detection, event string }{
		{"{product: windows, service: security}", "sel: {EventID: 4624, ProcessName|endswith: '\\winlogon.exe', IpAddress: 10.0.0.5, WorkstationName: PC1}",
			`{` + security + `,"EventID":4624,"ProcessName":"C:\\Windows\\System32\\winlogon.exe","ProcessId":"0x1c0","IpAddress":"10.0.0.5","IpPort":"0","WorkstationName":"PC1","TargetUserName":"bob","SubjectUserName":"PC1$"}`},
		{"{product: windows, service: security}", "sel: {EventID: 4624, SubjectUserName|endswith: '$', TargetUserName: bob}",
			`{` + security + `,"EventID":4624,"TargetUserName":"bob","SubjectUserName":"PC1$"}`},
		{"{product: windows, service: security}", "sel: {EventID: 5140, IpAddress: 10.0.0.5, ShareName: '\\\\*\\C$'}",
			`{` + security + `,"EventID":5140,"IpAddress":"10.0.0.5","IpPort":"5050","ShareName":"\\\\*\\C$"}`},
		{"{product: windows, service: security}", "sel: {EventID: 5156, Application|endswith: '\\mshta.exe', DestPort: 443, SourcePort: 50000, Protocol: 6}",
			`{` + security + `,"EventID":5156,"Application":"\\device\\harddiskvolume2\\windows\\system32\\mshta.exe","DestAddress":"1.2.3.4","DestPort":"443","SourcePort":"50000","Protocol":"6"}`},
		{"{product: windows, category: process_tampering}", "sel: {Type: 'Image is replaced', Image|endswith: '\\x.exe'}",
			`{` + sysmon + `,"EventID":25,"Type":"Image is replaced","Image":"C:\\x.exe"}`},
		{"{product: windows, category: process_tampering}", "sel: {Type: 'Image is replaced', Image|endswith: '\\x.exe'}",
			`{` + sysmon + `,"EventID":25,"Type":"Image is replaced","Image":"C:\\x.exe","Message":"Process Tampering:\r\nType: Image is replaced"}`},
		{"{product: windows, category: ps_script}", "sel: {ScriptBlockText|contains: Invoke-Mimikatz, Path|endswith: '\\a.ps1'}",
			`{"Channel":"Microsoft-Windows-PowerShell/Operational","EventID":4104,"ScriptBlockText":"Invoke-Mimikatz -x","Path":"C:\\a.ps1"}`},
		{"{product: windows, category: image_load}", "sel: {ImageLoaded|endswith: '\\a.dll', Signed: 'false'}",
			`{` + sysmon + `,"EventID":7,"Image":"C:\\x.exe","ImageLoaded":"C:\\a.dll","Signed":"false","SignatureStatus":"Unavailable"}`},
		{"{product: windows, category: process_access}", "sel: {TargetImage|endswith: '\\lsass.exe', SourceImage|endswith: '\\x.exe', GrantedAccess: '0x1010'}",
			`{` + sysmon + `,"EventID":10,"SourceImage":"C:\\x.exe","TargetImage":"C:\\Windows\\system32\\lsass.exe","GrantedAccess":"0x1010","SourceProcessGUID":"{1}","SourceProcessId":"4"}`},
	}
	for _, tc := range cases {
		text := "title: t\nid: 1\nlogsource: " + tc.logsource + "\ndetection:\n  " + tc.detection + "\n  condition: sel\n"
		var flat map[string]any
		if err := json.Unmarshal([]byte(tc.event), &flat); err != nil {
			t.Fatal(err)
		}
		shipped := jsonEvent(t, winlogbeatEvent(flat))
		for _, c := range []struct {
			conv *Converter
			ev   *vigil.Event
		}{{flatConv, testEvent(t, tc.event)}, {ecsConv, shipped}} {
			res, err := convertText(t, c.conv, text)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Compiled.Match(c.ev) {
				t.Errorf("%s: got no match with %s on\n%s\nwant a match; condition:\n%s", tc.detection, c.conv.Profile.Name, c.ev.Raw, res.Rule.Condition)
			}
		}
	}
}

package sigma

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// shipperDifference is a rule whose matches differ between windows-flat (on the flat events) and ecs (on the same
// events as Winlogbeat ships them): the number of (rule, event) pairs only windows-flat finds and only ecs finds,
// and why. Each is inherent to what the shipper does to the event; docs/sigma.md lists them.
type shipperDifference struct {
	flatOnly, ecsOnly int
	reason            string
}

// otrfDifferences are those on the OTRF recordings. Any other difference, or another count, fails
// TestECSOnWinlogbeatEvents.
var otrfDifferences = map[string]shipperDifference{
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
	shipped := make([]*vigil.Event, len(events))
	for i, ev := range events {
		var flat map[string]any
		if err := json.Unmarshal(ev.Raw, &flat); err != nil {
			t.Fatal(err)
		}
		evtxNames(flat)
		events[i], shipped[i] = jsonEvent(t, flat), jsonEvent(t, winlogbeatEvent(flat))
	}
	compareShipped(t, root, "the OTRF recordings", events, shipped, otrfDifferences)
}

// compareShipped runs windows-flat's Windows rules on flat and ecs's on shipped (the same events as Winlogbeat
// ships them) and checks that they find the same (rule, event) pairs but for the documented differences.
func compareShipped(t *testing.T, root, name string, flat, shipped []*vigil.Event,
	documented map[string]shipperDifference) {
	flatPairs := matchPairs(windowsRuleSet(t, root, newTestConverter(t, "windows-flat")), flat)
	ecsPairs := matchPairs(windowsRuleSet(t, root, newTestConverter(t, "ecs")), shipped)
	type diff struct{ flatOnly, ecsOnly []int }
	diffs := map[string]*diff{}
	get := func(id string) *diff {
		if diffs[id] == nil {
			diffs[id] = &diff{}
		}
		return diffs[id]
	}
	for p := range flatPairs {
		if !ecsPairs[p] {
			get(p.rule).flatOnly = append(get(p.rule).flatOnly, p.event)
		}
	}
	for p := range ecsPairs {
		if !flatPairs[p] {
			get(p.rule).ecsOnly = append(get(p.rule).ecsOnly, p.event)
		}
	}
	ids := make([]string, 0, len(diffs))
	for id := range diffs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d, want := diffs[id], documented[id]
		if len(d.flatOnly) == want.flatOnly && len(d.ecsOnly) == want.ecsOnly {
			continue
		}
		i := append(d.flatOnly, d.ecsOnly...)[0]
		t.Errorf("rule %s: got %d pairs only with windows-flat and %d only with ecs, want %d and %d (%s); an event:\n"+
			"flat:    %s\nshipped: %s", id, len(d.flatOnly), len(d.ecsOnly), want.flatOnly, want.ecsOnly, want.reason,
			flat[i].Raw, shipped[i].Raw)
	}
	for id, want := range documented {
		if diffs[id] == nil {
			t.Errorf("rule %s: documented difference (%s) is gone: update the list and docs/sigma.md", id, want.reason)
		}
	}
	t.Logf("%s (%d events): %d (rule, event) pairs with windows-flat, %d with ecs on the events as Winlogbeat ships "+
		"them; %d rules differ", name, len(flat), len(flatPairs), len(ecsPairs), len(diffs))
}

// regressionDifferences are those on SigmaHQ's regression data. Any other difference, or another count, fails
// TestECSOnWinlogbeatRegressionEvents.
var regressionDifferences = map[string]shipperDifference{
	// registry_set rules on `Details: 'DWORD (0x00000000)'`: the Sysmon pipeline writes a DWORD's (and QWORD's)
	// value as the decimal number's text in registry.data.strings ("0") and drops Details.
	"sigma.37b437cf-3fc5-4c8e-9c94-1d7c9aff842b": {1, 0, dwordReason}, // registry_set_allow_rdp_remote_assistance_feature
	"sigma.3ae1a046-f7db-439d-b7ce-b8b366b81fa6": {1, 0, dwordReason}, // registry_set_disable_security_center_notifications
	"sigma.8b7273a4-ba5d-4d8a-b04f-11f2900d043a": {1, 0, dwordReason}, // registry_set_deviceguard_hypervisorenforcedcodeintegrity_disabled
	"sigma.974515da-6cc5-4c95-ae65-f97f9150ec7f": {1, 0, dwordReason}, // registry_set_disable_defender_firewall
	"sigma.aa37cbb0-da36-42cb-a90f-fdf216fc7467": {1, 0, dwordReason}, // registry_set_amsi_disable
	"sigma.c7dcacd0-cc59-4004-b0a4-1d6cdebe6f3e": {2, 0, dwordReason}, // registry_set_disable_administrative_share
	"sigma.d526c60a-e236-4011-b165-831ffa52ab70": {1, 0, dwordReason}, // registry_set_vulnerable_driver_blocklist_disable
	"sigma.f8aebc67-a56d-4ec9-9fbe-7b0e8b7b4efd": {1, 0, dwordReason}, // registry_set_special_accounts
}

const dwordReason = "the shipper writes Details: DWORD (0x...) as a decimal number's text in registry.data.strings"

// TestECSOnWinlogbeatRegressionEvents is TestECSOnWinlogbeatEvents on SigmaHQ's regression data (every rule's
// events, through every Windows rule): EVTX exports, whose System, EventData and UserData are apart, as Winlogbeat
// reads them (winlogbeatFromEVTX).
func TestECSOnWinlogbeatRegressionEvents(t *testing.T) {
	root := shared(t, "sigma")
	var flat, shipped []*vigil.Event
	err := filepath.WalkDir(filepath.Join(root, "regression_data"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			flat = append(flat, jsonEvent(t, FlattenEVTX(doc)))
			shipped = append(shipped, jsonEvent(t, winlogbeatFromEVTX(doc)))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	compareShipped(t, root, "SigmaHQ's regression data", flat, shipped, regressionDifferences)
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

package sigma

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestWinlogbeatEventGolden checks winlogbeatEvent against what Winlogbeat's own tests say it ships: the event data
// of two of elastic/beats' golden files (x-pack/winlogbeat/module/sysmon/test/testdata/ingest/
// sysmon-12-processcreate.golden.json, module/security/test/testdata/ingest/
// security-windows2019_4688_Process_Created.golden.json), flattened, must give their process, user and event data.
func TestWinlogbeatEventGolden(t *testing.T) {
	cases := []struct {
		name, flat string
		want       map[string]string // a field of the result -> its JSON in the golden file
	}{
		{"sysmon 1", `{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Provider_Name":"Microsoft-Windows-Sysmon",
			"Computer":"vagrant","Security_UserID":"S-1-5-18","RuleName":"-","UtcTime":"2020-10-27 20:00:14.320",
			"ProcessGuid":"{9F32B55F-7C4E-5F98-5803-000000000500}","ProcessId":"3616","Image":"C:\\Windows\\System32\\notepad.exe",
			"FileVersion":"10.0.17763.475 (WinBuild.160101.0800)","Description":"Notepad","Product":"Microsoft® Windows® Operating System",
			"Company":"Microsoft Corporation","OriginalFileName":"NOTEPAD.EXE","CommandLine":"\"C:\\Windows\\system32\\notepad.exe\" ",
			"CurrentDirectory":"C:\\Users\\vagrant\\","User":"VAGRANT\\vagrant","LogonGuid":"{9F32B55F-6FDD-5F98-E7C9-020000000000}",
			"LogonId":"0x2c9e7","TerminalSessionId":"1","IntegrityLevel":"Medium","Hashes":"SHA1=B6D237154F2E528F0B503B58B025862D66B02B73",
			"ParentProcessGuid":"{9F32B55F-6FDF-5F98-7000-000000000500}","ParentProcessId":"4212","ParentImage":"C:\\Windows\\explorer.exe",
			"ParentCommandLine":"C:\\Windows\\Explorer.EXE"}`,
			map[string]string{
				"process": `{"args":["C:\\Windows\\system32\\notepad.exe"],"args_count":1,"command_line":"\"C:\\Windows\\system32\\notepad.exe\" ",
					"entity_id":"{9F32B55F-7C4E-5F98-5803-000000000500}","executable":"C:\\Windows\\System32\\notepad.exe",
					"hash":{"sha1":"b6d237154f2e528f0b503b58b025862d66b02b73"},"name":"notepad.exe",
					"parent":{"args":["C:\\Windows\\Explorer.EXE"],"args_count":1,"command_line":"C:\\Windows\\Explorer.EXE",
					"entity_id":"{9F32B55F-6FDF-5F98-7000-000000000500}","executable":"C:\\Windows\\explorer.exe","name":"explorer.exe","pid":4212},
					"pe":{"company":"Microsoft Corporation","description":"Notepad","file_version":"10.0.17763.475 (WinBuild.160101.0800)",
					"original_file_name":"NOTEPAD.EXE","product":"Microsoft® Windows® Operating System"},"pid":3616,"working_directory":"C:\\Users\\vagrant\\"}`,
				"user": `{"domain":"VAGRANT","id":"S-1-5-18","name":"vagrant"}`,
				"winlog.event_data": `{"Company":"Microsoft Corporation","Description":"Notepad","FileVersion":"10.0.17763.475 (WinBuild.160101.0800)",
					"IntegrityLevel":"Medium","LogonGuid":"{9F32B55F-6FDD-5F98-E7C9-020000000000}","LogonId":"0x2c9e7",
					"Product":"Microsoft® Windows® Operating System","TerminalSessionId":"1"}`,
				"winlog.event_id": `"1"`,
				"event.code":      `"1"`,
			}},
		{"security 4688", `{"EventID":4688,"Channel":"Security","Provider_Name":"Microsoft-Windows-Security-Auditing","Computer":"vagrant",
			"SubjectUserSid":"S-1-5-21-1610636575-2290000098-1654242922-1000","SubjectUserName":"vagrant","SubjectDomainName":"VAGRANT",
			"SubjectLogonId":"0x274a2","NewProcessId":"0x11cc","NewProcessName":"C:\\Windows\\System32\\wevtutil.exe",
			"TokenElevationType":"TokenElevationTypeFull (2)","ProcessId":"0x122c","CommandLine":"\"C:\\Windows\\system32\\wevtutil.exe\" cl Security",
			"TargetUserSid":"S-1-0-0","TargetUserName":"-","TargetDomainName":"-","TargetLogonId":"0x0",
			"ParentProcessName":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","MandatoryLabel":"S-1-16-12288"}`,
			map[string]string{
				"process": `{"args":["\"C:\\Windows\\system32\\wevtutil.exe\"","cl","Security"],
					"command_line":"\"C:\\Windows\\system32\\wevtutil.exe\" cl Security","executable":"C:\\Windows\\System32\\wevtutil.exe",
					"name":"wevtutil.exe","parent":{"executable":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
					"name":"powershell.exe","pid":4652},"pid":4556}`,
				"user": `{"domain":"VAGRANT","effective":{"id":"S-1-0-0"},"id":"S-1-5-21-1610636575-2290000098-1654242922-1000","name":"vagrant"}`,
				"winlog.event_data": `{"CommandLine":"\"C:\\Windows\\system32\\wevtutil.exe\" cl Security","MandatoryLabel":"S-1-16-12288",
					"ProcessId":"0x122c","SubjectDomainName":"VAGRANT","SubjectLogonId":"0x274a2","SubjectUserName":"vagrant",
					"SubjectUserSid":"S-1-5-21-1610636575-2290000098-1654242922-1000","TargetDomainName":"-","TargetLogonId":"0x0",
					"TargetUserName":"-","TargetUserSid":"S-1-0-0","TokenElevationType":"TokenElevationTypeFull (2)"}`,
				"winlog.logon.id": `"0x274a2"`,
				"winlog.event_id": `"4688"`,
			}},
	}
	for _, tc := range cases {
		var flat map[string]any
		if err := json.Unmarshal([]byte(tc.flat), &flat); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// As the ingest pipeline sees it: numbers as JSON numbers, everything through one JSON round trip.
		var got map[string]any
		raw, _ := json.Marshal(winlogbeatEvent(flat))
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		for field, js := range tc.want {
			var want any
			if err := json.Unmarshal([]byte(js), &want); err != nil {
				t.Fatalf("%s %s: %v", tc.name, field, err)
			}
			if g := getPath(got, field); !reflect.DeepEqual(g, want) {
				gs, _ := json.Marshal(g)
				t.Errorf("%s: %s: got %s, want %s (the golden file)", tc.name, field, gs, js)
			}
		}
	}
}

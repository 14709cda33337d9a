package rules

import (
	"reflect"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

// otrfEvent is a Security 4688 record as the OTRF recordings hold it (NXLog's flat export): no ECS fields, the host
// in Hostname, the process in NewProcessName.
const otrfEvent = `{"SubjectUserName":"wardog","TimeCreated":"2020-10-18 07:50:05.958","SubjectLogonId":"0xc61d9",` +
	`"SubjectDomainName":"WORKSTATION5","SubjectUserSid":"S-1-5-21-3940915590-64593676-1414006259-500",` +
	`"EventID":4688,"Channel":"Security","Task":"13312","Hostname":"WORKSTATION5",` +
	`"NewProcessName":"C:\\Windows\\System32\\rundll32.exe","NewProcessId":"0x12d8",` +
	`"CommandLine":"\"C:\\Windows\\System32\\rundll32.exe\" C:\\windows\\System32\\comsvcs.dll, MiniDump 748 C:\\ProgramData\\lsass.dmp full",` +
	`"ParentProcessName":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","TargetUserName":"-",` +
	`"TargetDomainName":"-","TokenElevationType":"%%1936","MandatoryLabel":"S-1-16-12288",` +
	`"SourceName":"Microsoft-Windows-Security-Auditing"}`

// TestReasonFlatWindows: converted Sigma rules run on flat Windows events, which have no ECS fields; their alerts
// must still say which process, addresses, user and host they are about.
func TestReasonFlatWindows(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	c, err := env.Compile(&Rule{ID: "sigma.x", Name: "LSASS dump via comsvcs", Severity: "high", Condition: "true"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, event, want string }{
		{"OTRF Security process creation", otrfEvent,
			"event with process rundll32.exe, by wardog on WORKSTATION5 created high alert LSASS dump via comsvcs."},
		{"Sysmon network connection, flattened from EVTX",
			`{"EventID":3,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"WKS-7.corp.example",` +
				`"Image":"C:\\Users\\bob\\AppData\\Local\\Temp\\x.exe","User":"CORP\\bob","SourceIp":"10.1.2.3",` +
				`"DestinationIp":"198.51.100.7","DestinationPort":443}`,
			"event with process x.exe with source 10.1.2.3 to 198.51.100.7, by CORP\\bob on WKS-7.corp.example " +
				"created high alert LSASS dump via comsvcs."},
		{"logon: '-' is no value, the target user is the next choice",
			`{"EventID":4624,"Channel":"Security","Computer":"DC01","SubjectUserName":"-","TargetUserName":"alice",` +
				`"IpAddress":"-","WorkstationName":"-"}`,
			"event, by alice on DC01 created high alert LSASS dump via comsvcs."},
		{"Windows Filtering Platform connection", `{"EventID":5156,"Hostname":"WS1","Application":"\\device\\x\\svc.exe",` +
			`"SourceAddress":"10.0.0.9","DestAddress":"203.0.113.5"}`,
			"event with source 10.0.0.9 to 203.0.113.5 on WS1 created high alert LSASS dump via comsvcs."},
		{"ECS fields win over flat ones", `{"host":{"name":"ecs-host"},"Computer":"flat-host","user":{"name":"-"},` +
			`"TargetUserName":"carol"}`,
			"event, by carol on ecs-host created high alert LSASS dump via comsvcs."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAlert(c, event(t, tc.event), time.Now())
			if got := vigil.Get(a.Doc, "vigil", "alert", "reason"); got != tc.want {
				t.Errorf("got reason %q, want %q", got, tc.want)
			}
		})
	}
}

// TestEntities: the entities of an alert document, as a summary sink names them.
func TestEntities(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	c := compileCond(t, env, "true")
	a := NewAlert(c, event(t, otrfEvent), time.Now())
	want := []Entity{
		{Name: "process.name", Field: "NewProcessName", Value: "rundll32.exe"},
		{Name: "user.name", Field: "SubjectUserName", Value: "wardog"},
		{Name: "host.name", Field: "Hostname", Value: "WORKSTATION5"},
	}
	if got := Entities(a.Doc); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	a = NewAlert(c, event(t, `{"host":{"name":"web-01"},"source":{"ip":["203.0.113.9","10.0.0.1"]},"Computer":"x"}`), time.Now())
	want = []Entity{{Name: "source.ip", Field: "source.ip", Value: "203.0.113.9"}, {Name: "host.name", Field: "host.name", Value: "web-01"}}
	if got := Entities(a.Doc); !reflect.DeepEqual(got, want) {
		t.Errorf("ECS event: got %+v, want %+v", got, want)
	}
}

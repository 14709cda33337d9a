package sigma

import (
	"strings"
	"testing"
)

func TestRunRegression(t *testing.T) {
	conv := newTestConverter(t, "windows-flat")
	run, err := RunRegression("testdata/repo", nil, conv)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Results) != 1 || run.NoData != 1 || run.Correlations != 1 {
		t.Fatalf("got %d results, %d without data and %d correlations skipped, want 1, 1 and 1",
			len(run.Results), run.NoData, run.Correlations)
	}
	r := run.Results[0]
	if !r.OK() || r.Matched != 2 || r.Events != 4 || r.Want != 2 {
		t.Errorf("got ok=%v matched %d of %d (want %d) %v %v, want ok with 2 of 4 (want 2)",
			r.OK(), r.Matched, r.Events, r.Want, r.Failures, r.Err)
	}

	run, err = RunRegression("testdata/failing", nil, conv)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Results) != 1 || run.Results[0].OK() {
		t.Fatalf("got %+v, want one failed result", run.Results)
	}
	if got := strings.Join(run.Results[0].Failures, ";"); !strings.Contains(got, "0 of 1 events matched, want at least 1") {
		t.Errorf("got failure %q, want it to say what matched and what was expected", got)
	}
}

func TestFlattenEVTX(t *testing.T) {
	doc := map[string]any{"Event": map[string]any{
		"System": map[string]any{
			"Provider":    map[string]any{"#attributes": map[string]any{"Name": "Microsoft-Windows-Sysmon"}},
			"EventID":     map[string]any{"#attributes": map[string]any{"Qualifiers": 16384}, "#text": 7045},
			"Channel":     "System",
			"Correlation": nil,
			"Security":    map[string]any{"#attributes": map[string]any{"UserID": "S-1-5-18"}},
		},
		"EventData": map[string]any{
			"#attributes": map[string]any{"Name": "TaskDisabled"},
			"Threat Name": "EICAR",
			"Image":       map[string]any{"#text": "C:\\x.exe"},
			"Channel":     "from event data",
		},
		"UserData": map[string]any{"Operation_ClientFailure": map[string]any{
			"#attributes":     map[string]any{"xmlns": "http://manifests.microsoft.com/win/2006/windows/WMI"},
			"ClientProcessId": 25920,
		}},
	}}
	got := FlattenEVTX(doc)
	want := map[string]any{
		"Provider_Name": "Microsoft-Windows-Sysmon", "EventID": 7045, "EventID_Qualifiers": 16384, "Channel": "System",
		"Security_UserID": "S-1-5-18", "ThreatName": "EICAR", "Image": "C:\\x.exe", "ClientProcessId": 25920,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d fields %v, want %d", len(got), got, len(want))
	}
}

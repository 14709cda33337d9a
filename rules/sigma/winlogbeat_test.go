package sigma

import (
	"fmt"
	"strconv"
	"strings"
)

// winlogbeatEvent turns one flattened Windows event (EVTX System values and EventData fields side by side, as
// windows-flat reads them; evtxNames names the OTRF recordings' System values so) into the document Winlogbeat 8
// indexes, so that the ecs profile is tested on what ships rather than on what the profile expects.
//
// It follows the shipper, not the profile. Sources, read in elastic/beats:
//
//   - Winlogbeat's own fields: winlog.channel, winlog.event_id (text since 8.0), winlog.provider_name,
//     winlog.provider_guid, winlog.computer_name, winlog.record_id, winlog.user.*, winlog.process.*, event.code (the
//     event id as text), message; winlog.event_data.<Name> holds every EventData value as text, winlog.user_data
//     UserData's.
//   - x-pack/winlogbeat/module/routing/ingest/routing.yml (at 0be3454385eb): which module pipeline an event goes
//     through; the pipelines, in winlogbeat_sysmon_test.go and winlogbeat_security_test.go: sysmon.yml (at
//     00bd2bd999dd), security.yml (at 075bf8f7d19a), powershell_operational.yml (at 100c3957a324). The Elastic Agent
//     "windows" integration ships copies of them; they were not read.
//   - The modules' golden files (security-windows2019_4688_Process_Created, sysmon-12-processcreate,
//     sysmon-13-processtampering, security-windows2012_4674) for the result's shape: ECS 8.17, winlog.event_id "4688",
//     AccessMask a list.
//
// Where the recording and Winlogbeat differ in what they keep, this decides (docs/sigma.md lists it):
//   - host.name is the event's computer (Winlogbeat sets the agent's host name: the same on the collecting host).
//   - A few OTRF events spell the channel "security": Winlogbeat reports the channel as Windows names it, so the
//     pipeline is chosen ignoring case, and the recorded spelling is kept.
//   - The classic Windows PowerShell pipeline is not modelled: the recordings' 800 events carry no event data.
//   - Message-table values (%%1936) are kept as recorded. The pipelines read them as they are, but recent Winlogbeat
//     may render some itself (the 8.17 golden file of 4688 has TokenElevationType "TokenElevationTypeFull (2)"):
//     not modelled, so a Sigma value written as %%1937 is not tested against its rendering.
func winlogbeatEvent(flat map[string]any) map[string]any {
	data := map[string]any{}
	for k, v := range flat {
		if notEventData[k] {
			continue
		}
		if k == "EventType" && flat["Channel"] != "Microsoft-Windows-Sysmon/Operational" {
			continue // NXLog's severity (INFO, AUDIT_SUCCESS); only Sysmon has an EventType in its event data
		}
		data[k] = v
	}
	return shipWindowsEvent(flat, data, nil)
}

// winlogbeatFromEVTX is winlogbeatEvent for an event of an EVTX JSON export (SigmaHQ's regression data), where
// System, EventData and UserData are apart: EventData becomes winlog.event_data (names without spaces, as
// FlattenEVTX writes them; unnamed Data values are param1, param2 ... as Winlogbeat names them), UserData's element
// winlog.user_data.
func winlogbeatFromEVTX(doc map[string]any) map[string]any {
	ev, _ := doc["Event"].(map[string]any)
	if ev == nil {
		ev = doc
	}
	sys := FlattenEVTX(map[string]any{"System": ev["System"]})
	data := map[string]any{}
	if d, ok := ev["EventData"].(map[string]any); ok {
		flattenData(data, d)
	}
	switch unnamed := data["Data"].(type) {
	case []any:
		delete(data, "Data")
		for i, v := range unnamed {
			data["param"+strconv.Itoa(i+1)] = v
		}
	case string:
		delete(data, "Data")
		data["param1"] = unnamed
	}
	var user map[string]any
	if u, ok := ev["UserData"].(map[string]any); ok {
		for k, v := range u {
			if child, ok := v.(map[string]any); ok && k != "#attributes" {
				user = map[string]any{}
				flattenData(user, child)
			}
		}
	}
	return shipWindowsEvent(sys, data, user)
}

// shipWindowsEvent builds Winlogbeat's document from an event's System values (by their EVTX-flat names: EventID,
// Channel, Provider_Name, Computer ...), its event data and its user data, and runs the module pipeline the
// routing pipeline picks for it.
func shipWindowsEvent(sys, eventData, userData map[string]any) map[string]any {
	ev := map[string]any{}
	data := map[string]any{}
	for k, v := range eventData {
		if v != nil {
			data[k] = textOf(v)
		}
	}
	code := fmt.Sprint(textOf(sys["EventID"]))
	channel, _ := sys["Channel"].(string)
	winlog := map[string]any{"channel": channel, "event_id": code, "event_data": data}
	if len(userData) > 0 {
		ud := map[string]any{}
		for k, v := range userData {
			if v != nil {
				ud[k] = textOf(v)
			}
		}
		winlog["user_data"] = ud
	}
	ev["winlog"] = winlog
	setPath(ev, "event.code", code)
	for from, to := range winlogSystem {
		if v, ok := sys[from]; ok && v != nil {
			setPath(ev, to, v)
		}
	}
	if v, ok := sys["Computer"]; ok {
		setPath(ev, "host.name", v)
	}
	switch provider := sys["Provider_Name"]; {
	case strings.EqualFold(channel, "Security") && (provider == "Microsoft-Windows-Security-Auditing" ||
		provider == "Microsoft-Windows-Eventlog"):
		securityPipeline(ev, data, code)
	case strings.EqualFold(channel, "Microsoft-Windows-Sysmon/Operational"):
		sysmonPipeline(ev, data, code)
	case strings.EqualFold(channel, "Microsoft-Windows-PowerShell/Operational"):
		psOperationalPipeline(ev, data, code)
	}
	if len(data) == 0 {
		delete(winlog, "event_data")
	}
	return ev
}

// evtxNames gives an OTRF event (flattened by NXLog) the names EVTX and windows-flat give the System values it
// records under other names: Provider_Name (NXLog's SourceName) and Computer (Hostname). A few Security events were
// recorded without their provider; Windows writes them as Microsoft-Windows-Security-Auditing (Microsoft-Windows-
// Eventlog for 1102, the log cleared), and Winlogbeat always sends it, so it is filled in.
func evtxNames(flat map[string]any) {
	if v, ok := flat["SourceName"]; ok && flat["Provider_Name"] == nil {
		flat["Provider_Name"] = v
	}
	if v, ok := flat["Hostname"]; ok && flat["Computer"] == nil {
		flat["Computer"] = v
	}
	if ch, _ := flat["Channel"].(string); strings.EqualFold(ch, "Security") && flat["Provider_Name"] == nil {
		flat["Provider_Name"] = "Microsoft-Windows-Security-Auditing"
		if textOf(flat["EventID"]) == "1102" {
			flat["Provider_Name"] = "Microsoft-Windows-Eventlog"
		}
	}
}

// winlogSystem maps System values, by their EVTX-flat names and by the names NXLog gave them in the OTRF
// recordings, to Winlogbeat's fields.
var winlogSystem = map[string]string{
	"Provider_Name":       "winlog.provider_name",
	"Provider_Guid":       "winlog.provider_guid",
	"ProviderGuid":        "winlog.provider_guid",
	"Computer":            "winlog.computer_name",
	"EventRecordID":       "winlog.record_id",
	"RecordNumber":        "winlog.record_id",
	"Task":                "winlog.task",
	"Opcode":              "winlog.opcode",
	"Version":             "winlog.version",
	"ActivityID":          "winlog.activity_id",
	"Execution_ProcessID": "winlog.process.pid",
	"ExecutionProcessID":  "winlog.process.pid",
	"Execution_ThreadID":  "winlog.process.thread.id",
	"ThreadID":            "winlog.process.thread.id",
	"Security_UserID":     "winlog.user.identifier",
	"UserID":              "winlog.user.identifier",
	"AccountName":         "winlog.user.name",
	"Domain":              "winlog.user.domain",
	"AccountType":         "winlog.user.type",
	"Message":             "message",
	"@timestamp":          "@timestamp",
}

// notEventData are the flat event's fields that are not EventData: EVTX System values by their EVTX-flat names
// (FlattenEVTX) and by NXLog's in the OTRF recordings, and what NXLog and the recordings' Logstash added.
var notEventData = map[string]bool{
	"@timestamp": true, "@version": true, "AccountName": true, "AccountType": true, "ActivityID": true,
	"Category": true, "Channel": true, "Computer": true, "Domain": true, "ERROR_EVT_UNRESOLVED": true,
	"EventID": true, "EventReceivedTime": true, "EventTime": true, "EventTypeOrignal": true,
	"ExecutionProcessID": true, "Hostname": true, "Keywords": true, "Level": true, "Message": true,
	"Opcode": true, "OpcodeValue": true, "Provider_Name": true, "ProviderGuid": true, "RecordNumber": true,
	"Severity": true, "SeverityValue": true, "SourceModuleName": true, "SourceModuleType": true,
	"SourceName": true, "Task": true, "ThreadID": true, "TimeCreated": true, "UserID": true, "Version": true,
	"host": true, "port": true, "tags": true,
	"Provider_Guid": true, "Provider_EventSourceName": true, "EventID_Qualifiers": true, "EventRecordID": true,
	"Execution_ProcessID": true, "Execution_ThreadID": true, "Security_UserID": true, "TimeCreated_SystemTime": true,
	"Correlation_ActivityID": true, "Correlation_RelatedActivityID": true,
}

// rename is the ingest rename processor with ignore_missing and ignore_failure: nothing happens when the target
// exists (the rename fails) or the value is empty.
func rename(ev, data map[string]any, from, to string) {
	v, ok := data[from]
	if !ok || v == "" || getPath(ev, to) != nil {
		return
	}
	setPath(ev, to, v)
	delete(data, from)
}

// renameData is rename within the event data.
func renameData(data map[string]any, from, to string) {
	if v, ok := data[from]; ok && v != "" {
		if _, exists := data[to]; !exists {
			data[to] = v
			delete(data, from)
		}
	}
}

// copyTo is the set processor with copy_from and ignore_empty_value.
func copyTo(ev, data map[string]any, from, to string) {
	if v, ok := data[from]; ok && v != "" {
		setPath(ev, to, v)
	}
}

// toLong is the convert processor to long with a target field: a value that is not a decimal number is left alone.
func toLong(ev, data map[string]any, from, to string) {
	if s, ok := data[from].(string); ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			setPath(ev, to, n)
		}
	}
}

func toBool(ev, data map[string]any, from, to string) {
	if s, ok := data[from].(string); ok {
		if b, err := strconv.ParseBool(strings.ToLower(s)); err == nil {
			setPath(ev, to, b)
		}
	}
}

// decodeLong is Java's Long.decode: decimal, or hexadecimal after 0x.
func decodeLong(v any) (int64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		n, err := strconv.ParseInt(h, 16, 64)
		return n, err == nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func setIfAbsent(ev map[string]any, path, orPath string, v any) {
	if v == nil {
		return
	}
	if getPath(ev, path) == nil {
		setPath(ev, path, v)
	} else {
		setPath(ev, orPath, v)
	}
}

func setNonEmpty(ev map[string]any, path, v string) {
	if v != "" {
		setPath(ev, path, v)
	}
}

func dropEmpty(data map[string]any, also ...string) {
	for k, v := range data {
		if v == "" || oneOf(fmt.Sprint(v), also...) {
			delete(data, k)
		}
	}
}

func oneOf(s string, list ...string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// textOf is an event data value as Winlogbeat sends it: text.
func textOf(v any) any {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = textOf(e)
		}
		return out
	}
	return fmt.Sprint(v)
}

func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

func getPath(m map[string]any, path string) any {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return nil
		}
		m = next
	}
	return m[parts[len(parts)-1]]
}

// setUser sets user.id from the record's user and splits the event data's User (DOMAIN\name), as both the sysmon and
// the security pipelines do.
func setUser(ev, data map[string]any) {
	if id := getPath(ev, "winlog.user.identifier"); id != nil {
		setPath(ev, "user.id", id)
	}
	if u, ok := data["User"].(string); ok {
		if parts := strings.Split(u, `\`); len(parts) == 2 {
			setNonEmpty(ev, "user.domain", parts[0])
			setNonEmpty(ev, "user.name", parts[1])
		}
	}
}

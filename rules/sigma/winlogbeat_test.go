package sigma

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// winlogbeatEvent turns one flattened Windows event (EVTX System values and EventData fields side by side, as
// windows-flat reads them; see evtxNames for the OTRF recordings) into the document Winlogbeat 8.x indexes, so that the ecs profile
// is tested on what ships rather than on what the profile expects.
//
// It follows the shipper, not the profile. Sources, read in elastic/beats (the Winlogbeat modules' Elasticsearch
// ingest pipelines, which Winlogbeat 8 runs through its routing pipeline; the Elastic Agent "windows" integration
// ships copies of them):
//
//   - Winlogbeat's own fields (sys/wineventlog): winlog.channel, winlog.event_id (a string since 8.0),
//     winlog.provider_name, winlog.provider_guid, winlog.computer_name, winlog.record_id, winlog.user.*, winlog.process.*,
//     event.code (the event id as a string), event.provider, message, log.level; winlog.event_data.<Name> holds every
//     EventData value as a string.
//   - x-pack/winlogbeat/module/routing/ingest/routing.yml (at 0be3454385eb): which pipeline an event goes through.
//   - x-pack/winlogbeat/module/sysmon/ingest/sysmon.yml (at 00bd2bd999dd): sysmonPipeline.
//   - x-pack/winlogbeat/module/security/ingest/security.yml (at 075bf8f7d19a): securityPipeline.
//   - x-pack/winlogbeat/module/powershell/ingest/powershell_operational.yml (at 100c3957a324): psOperationalPipeline.
//   - The modules' golden files (security-windows2019_4688_Process_Created, sysmon-12-processcreate) to check the
//     result's shape: ECS 8.17, winlog.event_id "4688".
//
// Where the recording and Winlogbeat differ in what they keep, this decides (docs/sigma.md lists it):
//   - host.name is the recording's Hostname (Winlogbeat sets the agent's host name; on the collecting host the same).
//   - A few OTRF events spell the channel "security": Winlogbeat reports the channel as Windows names it, so the
//     pipeline is chosen ignoring case, and the recorded spelling is kept.
//   - The Windows PowerShell (classic) pipeline is not modelled: the recordings' 800 events carry no event data.
//   - Message-table values (%%1936) are kept as recorded. The pipelines read them as they are, but recent Winlogbeat
//     may render some itself (the 8.17 golden file of 4688 has TokenElevationType "TokenElevationTypeFull (2)"):
//     not modelled, so a Sigma value written as %%1937 is not tested against its rendering.
func winlogbeatEvent(flat map[string]any) map[string]any {
	data := map[string]any{}
	for k, v := range flat {
		if otrfNotEventData[k] {
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

// otrfNotEventData are the recording's fields that are not EventData: EVTX System values, and what NXLog and the
// recording's Logstash added.
var otrfNotEventData = map[string]bool{
	"@timestamp": true, "@version": true, "AccountName": true, "AccountType": true, "ActivityID": true,
	"Category": true, "Channel": true, "Provider_Name": true, "Computer": true, "Domain": true, "ERROR_EVT_UNRESOLVED": true,
	"EventID": true, "EventReceivedTime": true, "EventTime": true, "EventTypeOrignal": true,
	"ExecutionProcessID": true, "Hostname": true, "Keywords": true, "Level": true, "Message": true, "Opcode": true,
	"OpcodeValue": true, "ProviderGuid": true, "RecordNumber": true, "Severity": true, "SeverityValue": true,
	"SourceModuleName": true, "SourceModuleType": true, "SourceName": true, "Task": true, "ThreadID": true,
	"TimeCreated": true, "UserID": true, "Version": true, "host": true, "port": true, "tags": true,
}

// sysmonPipeline is sysmon.yml's processors, in their order, for the fields Sigma rules read.
func sysmonPipeline(ev, data map[string]any, code string) {
	dropEmpty(data, "-", "{00000000-0000-0000-0000-000000000000}")
	rename(ev, data, "RuleName", "rule.name")
	if code == "255" {
		rename(ev, data, "ID", "error.code")
	}
	if code == "25" { // a rename: it fails, and Type stays, when Winlogbeat sent the rendered message
		rename(ev, data, "Type", "message")
	}
	renameData(data, "Hash", "Hashes")
	hashes := parseHashes(data["Hashes"])
	if len(hashes) > 0 && oneOf(code, "1", "23", "24", "25", "26") {
		setHashes(ev, "process", hashes)
	}
	for _, r := range [][2]string{
		{"ProcessGuid", "process.entity_id"}, {"Image", "process.executable"},
		{"SourceProcessGuid", "process.entity_id"}, {"SourceProcessGUID", "process.entity_id"},
		{"SourceImage", "process.executable"}, {"Destination", "process.executable"},
		{"CommandLine", "process.command_line"}, {"CurrentDirectory", "process.working_directory"},
		{"ParentProcessGuid", "process.parent.entity_id"}, {"ParentImage", "process.parent.executable"},
		{"ParentCommandLine", "process.parent.command_line"},
	} {
		rename(ev, data, r[0], r[1])
		switch r[0] { // the pid conversions sit between these renames
		case "ProcessGuid":
			toLong(ev, data, "ProcessId", "process.pid")
		case "SourceProcessGUID":
			toLong(ev, data, "SourceProcessId", "process.pid")
			toLong(ev, data, "SourceThreadId", "process.thread.id")
		case "ParentProcessGuid":
			toLong(ev, data, "ParentProcessId", "process.parent.pid")
		}
	}
	pe := "process.pe."
	if code == "7" {
		pe = "file.pe."
	} else {
		rename(ev, data, "OriginalFileName", pe+"original_file_name")
		copyTo(ev, data, "Company", pe+"company")
		copyTo(ev, data, "Description", pe+"description")
		copyTo(ev, data, "FileVersion", pe+"file_version")
		copyTo(ev, data, "Product", pe+"product")
	}
	for _, p := range []string{"process", "process.parent"} {
		if cl, ok := getPath(ev, p+".command_line").(string); ok && cl != "" {
			args := commandLineToArgv(cl)
			setPath(ev, p+".args", args)
			setPath(ev, p+".args_count", len(args))
		}
		if exe, ok := getPath(ev, p+".executable").(string); ok {
			if i := strings.LastIndex(exe, `\`); i >= 0 && i+1 < len(exe) {
				setPath(ev, p+".name", exe[i+1:])
			}
		}
	}

	if len(hashes) > 0 && oneOf(code, "6", "7", "15", "26", "29") {
		setHashes(ev, "file", hashes)
	}
	rename(ev, data, "TargetFilename", "file.path")
	rename(ev, data, "Device", "file.path")
	rename(ev, data, "PipeName", "file.name")
	rename(ev, data, "ImageLoaded", "file.path")
	copyTo(ev, data, "Signature", "file.code_signature.subject_name")
	copyTo(ev, data, "SignatureStatus", "file.code_signature.status")
	if code == "7" {
		rename(ev, data, "OriginalFileName", pe+"original_file_name")
		copyTo(ev, data, "Company", pe+"company")
		copyTo(ev, data, "Description", pe+"description")
		copyTo(ev, data, "FileVersion", pe+"file_version")
		copyTo(ev, data, "Product", pe+"product")
	}
	// `ctx.winlog.event_data.Signed == true` compares the event data's string with a boolean: never true, so
	// file.code_signature.signed is never set; Signed stays in the event data.
	if data["SignatureStatus"] == "Valid" {
		setPath(ev, "file.code_signature.valid", true)
	}
	if path, ok := getPath(ev, "file.path").(string); ok && len(path) > 1 {
		if i := strings.LastIndex(path, `\`); i >= 0 {
			setPath(ev, "file.name", path[i+1:])
			setPath(ev, "file.directory", path[:i])
			if j := strings.LastIndex(path, "."); j >= 0 {
				setPath(ev, "file.extension", path[j+1:])
			}
		}
	}

	rename(ev, data, "Protocol", "network.transport")
	if code != "22" {
		rename(ev, data, "DestinationPortName", "network.protocol")
		rename(ev, data, "SourcePortName", "network.protocol")
	} else {
		setPath(ev, "network.protocol", "dns")
	}
	copyTo(ev, data, "SourceIp", "source.ip")
	rename(ev, data, "SourceHostname", "source.domain")
	toLong(ev, data, "SourcePort", "source.port")
	copyTo(ev, data, "DestinationIp", "destination.ip")
	rename(ev, data, "DestinationHostname", "destination.domain")
	toLong(ev, data, "DestinationPort", "destination.port")
	rename(ev, data, "QueryName", "dns.question.name")
	switch data["Initiated"] {
	case "true":
		setPath(ev, "network.direction", "egress")
	case "false":
		setPath(ev, "network.direction", "ingress")
	}

	if id := getPath(ev, "winlog.user.identifier"); id != nil {
		setPath(ev, "user.id", id)
	}
	if u, ok := data["User"].(string); ok {
		if parts := strings.Split(u, `\`); len(parts) == 2 {
			setNonEmpty(ev, "user.domain", parts[0])
			setNonEmpty(ev, "user.name", parts[1])
		}
	}

	if s, ok := data["QueryStatus"].(string); ok {
		delete(data, "QueryStatus")
		if name, ok := dnsStatus[s]; ok {
			s = name
		}
		setPath(ev, "sysmon.dns.status", s)
	}
	toBool(ev, data, "Archived", "sysmon.file.archived")
	toBool(ev, data, "IsExecutable", "sysmon.file.is_executable")

	if obj, ok := data["TargetObject"].(string); ok && oneOf(code, "12", "13", "14") {
		registryFields(ev, obj, data["Details"])
	}
	renameData(data, "TargetProcessGuid", "TargetProcessGUID")
	for _, k := range []string{"ProcessId", "ParentProcessId", "SourceProcessId", "SourceThreadId", "SourceIp",
		"SourcePort", "SourcePortName", "DestinationIp", "DestinationPort", "DestinationPortName", "RuleName", "User",
		"Initiated", "SourceIsIpv6", "DestinationIsIpv6", "QueryStatus", "Archived", "IsExecutable", "QueryResults",
		"UtcTime", "Hash", "Hashes", "TargetObject", "Details"} {
		delete(data, k)
	}
	dropEmpty(data, "-")
}

// registryFields is sysmon.yml's "Set registry fields" script: registry.path, hive, key, value and the data, whose
// DWORD and QWORD text Sysmon writes ("DWORD (0x00000001)") the pipeline turns into a decimal number's text.
func registryFields(ev map[string]any, path string, details any) {
	setPath(ev, "registry.path", path)
	tokens := strings.Split(path, `\`)
	if hive, ok := registryHives[tokens[0]]; ok {
		setPath(ev, "registry.hive", hive)
		if len(tokens) > 1 {
			setPath(ev, "registry.key", strings.Join(tokens[1:], `\`))
		}
	}
	setPath(ev, "registry.value", tokens[len(tokens)-1])
	d, _ := details.(string)
	if d == "" {
		return
	}
	value, typ := d, "REG_SZ"
	if m := qwordRe.FindStringSubmatch(d); m != nil {
		hi, _ := strconv.ParseInt(m[1][2:], 16, 64)
		lo, _ := strconv.ParseInt(m[2][2:], 16, 64)
		value, typ = strconv.FormatInt(hi<<8+lo, 10), "SZ_QWORD" // sic: the pipeline shifts by 8
	} else if m := dwordRe.FindStringSubmatch(d); m != nil {
		n, _ := strconv.ParseInt(m[1][2:], 16, 64)
		value, typ = strconv.FormatInt(n, 10), "SZ_DWORD"
	} else if d == "Binary Data" {
		typ = "REG_BINARY"
	}
	setPath(ev, "registry.data.strings", []any{value})
	setPath(ev, "registry.data.type", typ)
}

var (
	qwordRe        = regexp.MustCompile(`^(?i)QWORD \((0x[0-9A-F]{8})-(0x[0-9A-F]{8})\)$`)
	dwordRe        = regexp.MustCompile(`^(?i)DWORD \((0x[0-9A-F]{8})\)$`)
	registryHives  = map[string]string{"HKEY_CLASSES_ROOT": "HKCR", "HKCR": "HKCR", "HKEY_CURRENT_CONFIG": "HKCC", "HKCC": "HKCC", "HKEY_CURRENT_USER": "HKCU", "HKCU": "HKCU", "HKEY_DYN_DATA": "HKDD", "HKDD": "HKDD", "HKEY_LOCAL_MACHINE": "HKLM", "HKLM": "HKLM", "HKEY_PERFORMANCE_DATA": "HKPD", "HKPD": "HKPD", "HKEY_USERS": "HKU", "HKU": "HKU"}
	dnsStatus      = map[string]string{"0": "SUCCESS", "5": "ERROR_ACCESS_DENIED", "123": "ERROR_INVALID_NAME", "1460": "ERROR_TIMEOUT", "9003": "DNS_ERROR_RCODE_NAME_ERROR", "9501": "DNS_INFO_NO_RECORDS", "9502": "DNS_ERROR_BAD_PACKET", "9701": "DNS_ERROR_RECORD_DOES_NOT_EXIST"}
	logonTypes     = map[string]string{"2": "Interactive", "3": "Network", "4": "Batch", "5": "Service", "7": "Unlock", "8": "NetworkCleartext", "9": "NewCredentials", "10": "RemoteInteractive", "11": "CachedInteractive"}
	securityTarget = []string{"4624", "4625", "4634", "4647", "4648", "4768", "4769", "4770", "4771", "4776", "4964"}
	// securitySubject are the events whose Subject* the pipeline copies to user.*.
	securitySubject = []string{"4657", "4670", "4672", "4673", "4674", "4688", "4689", "4697", "4698", "4699", "4700",
		"4701", "4702", "4706", "4707", "4713", "4716", "4717", "4718", "4719", "4720", "4722", "4723", "4724", "4725",
		"4726", "4727", "4728", "4729", "4730", "4731", "4732", "4733", "4734", "4735", "4737", "4738", "4739", "4740",
		"4741", "4742", "4743", "4744", "4745", "4746", "4747", "4748", "4749", "4750", "4751", "4752", "4753", "4754",
		"4755", "4756", "4757", "4758", "4759", "4760", "4761", "4762", "4763", "4764", "4767", "4781", "4798", "4799",
		"4817", "4904", "4905", "4907", "4912", "4648"}
	// securityCommonAuth are the events whose ProcessId, ProcessName, IpAddress, IpPort, WorkstationName and
	// ClientAddress the pipeline moves out of the event data ("Rename Common Auth Fields").
	securityCommonAuth = []string{"1100", "1102", "1104", "1105", "1108", "4624", "4648", "4625", "4670", "4673",
		"4674", "4689", "4697", "4719", "4720", "4722", "4723", "4724", "4725", "4726", "4727", "4728", "4729", "4730",
		"4731", "4732", "4733", "4734", "4735", "4737", "4738", "4740", "4741", "4742", "4743", "4744", "4745", "4746",
		"4747", "4748", "4749", "4750", "4751", "4752", "4753", "4754", "4755", "4756", "4757", "4758", "4759", "4760",
		"4761", "4762", "4763", "4764", "4767", "4768", "4769", "4770", "4771", "4798", "4799", "4817", "4904", "4905",
		"4907", "4912"}
)

// securityPipeline is security.yml's processors, in their order, for the fields Sigma rules read. Unlike Sysmon's,
// it keeps most event data (Subject*, Target*, CommandLine, "-" values) and copies some of it to ECS fields.
func securityPipeline(ev, data map[string]any, code string) {
	if t, ok := logonTypes[fmt.Sprint(data["LogonType"])]; ok {
		setPath(ev, "winlog.logon.type", t)
	}
	copyTo(ev, data, "ServiceName", "service.name")
	if am, ok := data["AccessMask"].(string); ok { // split on white space into a list, left in the event data
		if f := strings.Fields(am); len(f) > 0 {
			list := make([]any, len(f))
			for i, s := range f {
				list[i] = s
			}
			data["AccessMask"] = list
		}
	}
	if oneOf(code, securityTarget...) {
		id := data["TargetUserSid"]
		if id == nil {
			id = data["TargetSid"]
		}
		setIfAbsent(ev, "user.id", "user.target.id", id)
		if n, ok := data["TargetUserName"].(string); ok {
			setIfAbsent(ev, "user.name", "user.target.name", strings.Split(n, "@")[0])
		}
		setIfAbsent(ev, "user.domain", "user.target.domain", data["TargetDomainName"])
	}
	if oneOf(code, "4634", "4647", "4964") {
		copyTo(ev, data, "TargetLogonId", "winlog.logon.id")
	}
	if oneOf(code, securitySubject...) {
		copyTo(ev, data, "SubjectUserSid", "user.id")
		copyTo(ev, data, "SubjectUserName", "user.name")
		copyTo(ev, data, "SubjectDomainName", "user.domain")
	}
	copyTo(ev, data, "SubjectLogonId", "winlog.logon.id")
	if oneOf(code, securityCommonAuth...) {
		if pid, ok := decodeLong(data["ProcessId"]); ok {
			setPath(ev, "process.pid", pid)
			delete(data, "ProcessId")
		}
		rename(ev, data, "ProcessName", "process.executable")
		if data["IpAddress"] != "-" {
			rename(ev, data, "IpAddress", "source.ip")
		}
		if port, ok := decodeLong(data["IpPort"]); ok && data["IpPort"] != "-" {
			setPath(ev, "source.port", port)
			delete(data, "IpPort")
		}
		rename(ev, data, "WorkstationName", "source.domain")
		if data["ClientAddress"] != "-" {
			rename(ev, data, "ClientAddress", "related.ip")
		}
	}
	if code == "4688" {
		if pid, ok := decodeLong(data["NewProcessId"]); ok {
			setPath(ev, "process.pid", pid)
			delete(data, "NewProcessId")
		}
		rename(ev, data, "NewProcessName", "process.executable")
		rename(ev, data, "ParentProcessName", "process.parent.executable")
		if pid, ok := decodeLong(data["ProcessId"]); ok {
			setPath(ev, "process.parent.pid", pid)
		}
		if cl, ok := data["CommandLine"].(string); ok {
			setPath(ev, "process.args", splitQuoted(cl))
			setPath(ev, "process.command_line", cl)
		}
	}
	for _, p := range []string{"process", "process.parent"} {
		if exe, ok := getPath(ev, p+".executable").(string); ok && getPath(ev, p+".name") == nil {
			setPath(ev, p+".name", exe[strings.LastIndex(exe, `\`)+1:])
		}
	}
	if oneOf(code, "4672", "4673", "4674", "4741", "4742", "4743") {
		if pl, ok := data["PrivilegeList"].(string); ok {
			var list []any
			for _, s := range regexp.MustCompile(`\s+`).Split(pl, -1) {
				list = append(list, s)
			}
			data["PrivilegeList"] = list
		}
	}
	if ud, ok := getPath(ev, "winlog.user_data").(map[string]any); ok && code == "1102" {
		copyTo(ev, ud, "SubjectUserSid", "user.id")
		copyTo(ev, ud, "SubjectUserName", "user.name")
		copyTo(ev, ud, "SubjectDomainName", "user.domain")
		copyTo(ev, ud, "SubjectLogonId", "winlog.logon.id")
	}
	if ip, ok := getPath(ev, "source.ip").(string); ok {
		setPath(ev, "source.ip", strings.ReplaceAll(ip, "::ffff:", ""))
	}
}

// psOperationalPipeline is powershell_operational.yml: 4103's ContextInfo is split into event data fields (keys
// without spaces; values trimmed of spaces, tabs and \n but not \r), some of which become ECS fields, and ContextInfo
// and Payload are removed (Payload's lines go to powershell.command.invocation_details).
func psOperationalPipeline(ev, data map[string]any, code string) {
	if ci, ok := data["ContextInfo"].(string); ok && code == "4103" {
		for _, line := range strings.Split(ci, "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			data[strings.Join(strings.Fields(k), "")] = strings.Trim(v, " \n\t")
		}
	}
	for _, r := range [][2]string{
		{"HostID", "process.entity_id"}, {"HostApplication", "process.command_line"}, {"HostName", "process.title"},
		{"ShellID", "powershell.id"}, {"EngineVersion", "powershell.engine.version"},
		{"PipelineID", "powershell.pipeline_id"}, {"RunspaceID", "powershell.runspace_id"},
		{"RunspaceId", "powershell.runspace_id"}, {"HostVersion", "powershell.process.executable_version"},
		{"CommandLine", "powershell.command.value"}, {"CommandPath", "powershell.command.path"},
		{"CommandName", "powershell.command.name"}, {"CommandType", "powershell.command.type"},
		{"ScriptBlockId", "powershell.file.script_block_id"}, {"ScriptBlockText", "powershell.file.script_block_text"},
	} {
		if data[r[0]] != "" {
			rename(ev, data, r[0], r[1])
		}
	}
	if id := getPath(ev, "winlog.user.identifier"); id != nil {
		setPath(ev, "user.id", id)
	}
	if u, ok := data["User"].(string); ok {
		if parts := strings.Split(u, `\`); len(parts) == 2 {
			setNonEmpty(ev, "user.domain", parts[0])
			setNonEmpty(ev, "user.name", parts[1])
		}
	}
	if p, ok := data["Payload"].(string); ok && code == "4103" {
		var details []any
		for _, line := range strings.Split(p, "\n") {
			details = append(details, map[string]any{"value": line})
		}
		setPath(ev, "powershell.command.invocation_details", details)
	}
	if cl, ok := getPath(ev, "process.command_line").(string); ok && cl != "" {
		args := commandLineToArgv(cl)
		setPath(ev, "process.args", args)
		setPath(ev, "process.args_count", len(args))
	}
	renameData(data, "Path", "ScriptName")
	if data["ScriptName"] != "" {
		rename(ev, data, "ScriptName", "file.path")
	}
	for _, k := range []string{"SequenceNumber", "User", "ConnectedUser", "ContextInfo", "Severity", "MessageTotal",
		"MessageNumber", "Payload"} {
		delete(data, k)
	}
	dropEmpty(data)
}

// commandLineToArgv is the Sysmon and PowerShell pipelines' "Windows-like SplitCommandLine" (Go's
// syscall.CommandLineToArgv, with the pre-2008 rule for doubled quotes).
func commandLineToArgv(cmd string) []any {
	var args []any
	for len(cmd) > 0 {
		if cmd[0] == ' ' || cmd[0] == '\t' {
			cmd = cmd[1:]
			continue
		}
		var arg string
		arg, cmd = readNextArg(cmd)
		args = append(args, arg)
	}
	return args
}

func readNextArg(cmd string) (arg, rest string) {
	var b strings.Builder
	inquote, nslash := false, 0
	for ; len(cmd) > 0; cmd = cmd[1:] {
		c := cmd[0]
		switch {
		case c == ' ' || c == '\t':
			if !inquote {
				b.WriteString(strings.Repeat(`\`, nslash))
				return b.String(), cmd[1:]
			}
		case c == '"':
			b.WriteString(strings.Repeat(`\`, nslash/2))
			if nslash%2 == 0 {
				if inquote && len(cmd) > 1 && cmd[1] == '"' {
					b.WriteByte(c)
					cmd = cmd[1:]
				}
				inquote = !inquote
			} else {
				b.WriteByte(c)
			}
			nslash = 0
			continue
		case c == '\\':
			nslash++
			continue
		}
		b.WriteString(strings.Repeat(`\`, nslash))
		nslash = 0
		b.WriteByte(c)
	}
	b.WriteString(strings.Repeat(`\`, nslash))
	return b.String(), ""
}

// splitQuoted is the security pipeline's 4688 split: on white space outside double quotes, quotes kept.
func splitQuoted(cl string) []any {
	var out []any
	start, inQuote := 0, false
	for i := 0; i < len(cl); i++ {
		if cl[i] == '"' {
			inQuote = !inQuote
		}
		if (cl[i] == ' ' || cl[i] == '\t' || cl[i] == '\n' || cl[i] == '\r') && !inQuote {
			out = append(out, cl[start:i])
			start = i + 1
		}
		if i == len(cl)-1 {
			out = append(out, cl[start:])
		}
	}
	return out
}

// parseHashes is the kv processor on Hashes ("SHA1=..,MD5=..") and the script after it: keys and values
// lowercased, empty and all-zero hashes left out.
func parseHashes(v any) map[string]any {
	s, _ := v.(string)
	out := map[string]any{}
	for _, kv := range strings.Split(s, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || strings.Trim(val, "0") == "" {
			continue
		}
		out[strings.ToLower(k)] = strings.ToLower(val)
	}
	return out
}

func setHashes(ev map[string]any, prefix string, hashes map[string]any) {
	for k, v := range hashes {
		if k == "imphash" {
			setPath(ev, prefix+".pe.imphash", v)
		} else {
			setPath(ev, prefix+".hash."+k, v)
		}
	}
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

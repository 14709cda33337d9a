package sigma

import (
	"fmt"
	"regexp"
	"strings"
)

// The Security and PowerShell/Operational pipelines of winlogbeatEvent: x-pack/winlogbeat/module/security/ingest/
// security.yml (elastic/beats at 075bf8f7d19a) and module/powershell/ingest/powershell_operational.yml (at
// 100c3957a324).

var (
	whitespace = regexp.MustCompile(`\s+`)
	logonTypes = map[string]string{"2": "Interactive", "3": "Network", "4": "Batch", "5": "Service", "7": "Unlock",
		"8": "NetworkCleartext", "9": "NewCredentials", "10": "RemoteInteractive", "11": "CachedInteractive"}
	// securityTarget are the events whose Target* the pipeline copies to user.* ("Copy Target User").
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
	if oneOf(code, "4648", "4688") { // "Copy Target User to Effective"
		for _, f := range [][2]string{{"TargetUserSid", "id"}, {"TargetUserName", "name"}, {"TargetDomainName", "domain"}} {
			if v, ok := data[f[0]].(string); ok && v != "" && v != "-" {
				if f[1] == "name" {
					v = strings.Split(v, "@")[0]
				}
				setPath(ev, "user.effective."+f[1], v)
			}
		}
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
			for _, s := range whitespace.Split(pl, -1) {
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
	setUser(ev, data)
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

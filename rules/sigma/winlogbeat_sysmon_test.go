package sigma

import (
	"regexp"
	"strconv"
	"strings"
)

// The Sysmon pipeline of winlogbeatEvent: x-pack/winlogbeat/module/sysmon/ingest/sysmon.yml (elastic/beats at
// 00bd2bd999dd).

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

	setUser(ev, data)

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
	qwordRe       = regexp.MustCompile(`^(?i)QWORD \((0x[0-9A-F]{8})-(0x[0-9A-F]{8})\)$`)
	dwordRe       = regexp.MustCompile(`^(?i)DWORD \((0x[0-9A-F]{8})\)$`)
	registryHives = map[string]string{"HKEY_CLASSES_ROOT": "HKCR", "HKCR": "HKCR", "HKEY_CURRENT_CONFIG": "HKCC",
		"HKCC": "HKCC", "HKEY_CURRENT_USER": "HKCU", "HKCU": "HKCU", "HKEY_DYN_DATA": "HKDD", "HKDD": "HKDD",
		"HKEY_LOCAL_MACHINE": "HKLM", "HKLM": "HKLM", "HKEY_PERFORMANCE_DATA": "HKPD", "HKPD": "HKPD", "HKEY_USERS": "HKU",
		"HKU": "HKU"}
	// dnsStatus is part of the pipeline's table (the codes seen most); another code stays a number's text.
	dnsStatus = map[string]string{"0": "SUCCESS", "5": "ERROR_ACCESS_DENIED", "123": "ERROR_INVALID_NAME",
		"1460": "ERROR_TIMEOUT", "9003": "DNS_ERROR_RCODE_NAME_ERROR", "9501": "DNS_INFO_NO_RECORDS",
		"9502": "DNS_ERROR_BAD_PACKET", "9701": "DNS_ERROR_RECORD_DOES_NOT_EXIST"}
)

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

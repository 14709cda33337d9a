// Package bench generates realistic, seeded detection workloads (rule sets and ECS events) and measures Vigil's
// detection path against a naive baseline in the same run. `vigil bench` and the Go benchmarks use it; the equality
// test of the prefilter index runs on the same workloads.
package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/vigilsoc/vigil/rules"
)

// Vocabularies shared by rules and events. Events mostly carry common, benign values and occasionally suspicious ones;
// rules mostly look for the suspicious ones, so that, as in production, most events are candidates for few rules and
// about one event in a hundred raises an alert.
var (
	categories = []string{"authentication", "process", "network", "dns", "file", "iam", "configuration"}
	actions    = map[string][]string{
		"authentication": {"logon-failed", "logged-in", "logged-out", "user-locked", "password-changed", "mfa-challenge"},
		"process":        {"start", "end", "exec", "fork", "access"},
		"network":        {"connection_attempted", "connection_accepted", "flow", "denied"},
		"dns":            {"query", "answer"},
		"file":           {"creation", "deletion", "modification", "rename", "read"},
		"iam":            {"CreateUser", "CreateAccessKey", "AttachUserPolicy", "DeleteTrail", "StopLogging", "ConsoleLogin", "PutBucketPolicy"},
		"configuration":  {"service-installed", "scheduled-task-created", "registry-value-set", "log-cleared"},
	}
	commonProcesses = []string{"explorer.exe", "svchost.exe", "chrome.exe", "msedge.exe", "outlook.exe", "winword.exe",
		"excel.exe", "cmd.exe", "powershell.exe", "teams.exe", "python3", "bash", "systemd", "sshd", "java", "node"}
	suspiciousProcesses = []string{"rundll32.exe", "regsvr32.exe", "certutil.exe", "bitsadmin.exe", "wmic.exe",
		"mshta.exe", "schtasks.exe", "sc.exe", "net.exe", "net1.exe", "vssadmin.exe", "nc", "curl", "wget", "crontab",
		"sudo", "procdump.exe", "psexec.exe", "mimikatz.exe", "ntdsutil.exe"}
	commonFragments = []string{"get-process", "dir", "ls -la", "ipconfig", "whoami", "hostname", "systeminfo",
		"tasklist", "netstat -an", "notepad", "update --quiet", "--version", "-m pip install", "status", "/c echo ok"}
	suspiciousFragments = []string{"-enc", "-nop", "-w hidden", "downloadstring", "iex", "invoke-expression",
		"urlcache", "/transfer", "delete shadows", "shadowcopy delete", "/add", "localgroup administrators", "-decode",
		"javascript:", "scrobj.dll", "/s /n /u /i:", "comsvcs.dll", "minidump", "/create", "/sc minute", "bash -i",
		"/dev/tcp/", "base64 -d", "chmod +x", "nohup", "--no-check-certificate", "sekurlsa", "-accepteula"}
	commonPaths     = []string{`C:\Windows\System32\`, `C:\Program Files\`, `C:\Users\jdoe\Documents\`, "/usr/bin/", "/home/alice/", "/var/log/"}
	suspiciousPaths = []string{`C:\Windows\Temp\`, `C:\Users\Public\`, `C:\ProgramData\`, `C:\Users\jdoe\AppData\Roaming\`, "/tmp/", "/var/tmp/", "/dev/shm/", "/etc/cron.d/"}
	privileged      = []string{"administrator", "root", "svc_backup", "domain_admin", "sa"}
	hosts           = []string{"ws-0231", "ws-0457", "ws-1102", "srv-dc01", "srv-file02", "web-01", "web-02", "db-01", "jump-01"}
	domains         = []string{"microsoft.com", "windowsupdate.com", "google.com", "github.com", "corp.example", "okta.com", "slack.com"}
	badTLDs         = []string{"xyz", "top", "ru", "tk", "biz"}
	commonPorts     = []int64{53, 80, 443, 445, 3389, 5985, 8080, 8443, 22}
	rarePorts       = []int64{4444, 1337, 6667, 9001, 31337, 5555, 2222}
	eventIDs        = []int64{4624, 4625, 4688, 4697, 4698, 4720, 4728, 4732, 1102, 7045, 10, 1, 3, 11, 13, 22}
	internal        = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}
	external        = []string{"203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24", "185.220.101.0/24", "45.33.0.0/16"}
	severities      = []string{"low", "medium", "high", "critical"}
)

// vocabulary is the set of suspicious values rules look for. It grows with the rule count: a real 10,000-rule set
// detects many more distinct tools, flags and accounts than a 100-rule set, rather than 100 copies of the same rules.
// Events draw their rare values from the vocabulary of the largest rule set, so every workload sees the same events.
type vocabulary struct {
	processes, fragments, privileged []string
	ports                            []int64
}

func newVocabulary(nRules int) *vocabulary {
	v := &vocabulary{
		processes:  slices.Clone(suspiciousProcesses),
		fragments:  slices.Clone(suspiciousFragments),
		privileged: slices.Clone(privileged),
		ports:      slices.Clone(rarePorts),
	}
	for i := range nRules / 20 {
		v.processes = append(v.processes, fmt.Sprintf("tool%04d.exe", i))
		v.fragments = append(v.fragments, fmt.Sprintf("--opt-%04d", i))
	}
	for i := range nRules / 50 {
		v.ports = append(v.ports, int64(40000+i))
	}
	for i := range nRules / 100 {
		v.privileged = append(v.privileged, fmt.Sprintf("svc_adm%03d", i))
	}
	return v
}

// universe is the vocabulary events draw from.
var universe = newVocabulary(10000)

// rare picks from suspicious with probability p, else from common.
func rare[T any](r *rand.Rand, p float64, common, suspicious []T) T {
	if r.Float64() < p {
		return pick(r, suspicious)
	}
	return pick(r, common)
}

// userName is one of 200 ordinary accounts, or rarely a privileged one.
func userName(r *rand.Rand) string {
	if r.IntN(100) == 0 {
		return pick(r, universe.privileged)
	}
	return fmt.Sprintf("user%03d", r.IntN(200))
}

// Rules generates n rules, seeded. The mix: equality on event.category/event.action/event.code, `in` lists,
// contains/startsWith on command lines and paths, CIDR tests, regular expressions, disjunctions, and about 8% rules
// without any indexable literal.
func Rules(n int, seed uint64) []*rules.Rule {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	v := newVocabulary(n)
	out := make([]*rules.Rule, n)
	for i := range out {
		out[i] = genRule(r, v, i)
	}
	return out
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func genRule(r *rand.Rand, v *vocabulary, i int) *rules.Rule {
	cat := pick(r, categories)
	act := pick(r, actions[cat])
	var cond string
	switch k := r.IntN(100); {
	case k < 25: // category + action + a field test
		cond = fmt.Sprintf(`event.category == %s && event.action == %s && process.name.lowerAscii() == %s`,
			quote(cat), quote(act), quote(pick(r, v.processes)))
	case k < 40: // action in a list, with a command-line fragment
		cond = fmt.Sprintf(`event.action in [%s, %s] && process.command_line.lowerAscii().contains(%s)`,
			quote(act), quote(pick(r, actions[cat])), quote(pick(r, v.fragments)))
	case k < 50: // Windows event code and user
		cond = fmt.Sprintf(`event.code == %s && user.name in [%s, %s]`,
			quote(fmt.Sprint(pick(r, eventIDs))), quote(pick(r, v.privileged)), quote(pick(r, v.privileged)))
	case k < 60: // process name in a list, parent process
		cond = fmt.Sprintf(`process.name in [%s, %s, %s] && process.parent.name == %s`,
			quote(pick(r, v.processes)), quote(pick(r, v.processes)), quote(pick(r, v.processes)),
			quote(rare(r, 0.5, commonProcesses, v.processes)))
	case k < 70: // network: category, port, external destination
		cond = fmt.Sprintf(`event.category == "network" && destination.port == %d && !cidr(%s).containsIP(destination.ip)`,
			pick(r, v.ports), quote(pick(r, internal)))
	case k < 77: // file path prefix
		cond = fmt.Sprintf(`event.category == "file" && event.action == %s && file.path.startsWith(%s)`,
			quote(pick(r, actions["file"])), quote(pick(r, suspiciousPaths)))
	case k < 84: // regex on command lines
		cond = fmt.Sprintf(`event.category == "process" && process.command_line.matches(%s)`,
			quote(fmt.Sprintf("(?i)%s.*%s", regexpQuote(pick(r, v.fragments)), regexpQuote(pick(r, v.fragments)))))
	case k < 92: // disjunction of two indexable branches
		cat2 := pick(r, categories)
		cond = fmt.Sprintf(`(event.action == %s && process.name == %s) || (event.category == %s && user.name == %s)`,
			quote(act), quote(pick(r, v.processes)), quote(cat2), quote(pick(r, v.privileged)))
	case k < 95: // substrings only
		cond = fmt.Sprintf(`process.command_line.contains(%s) && process.command_line.contains(%s)`,
			quote(pick(r, v.fragments)), quote(pick(r, v.fragments)))
	case k < 97: // no literal: a threshold and a CIDR test (indexed by the presence of network.bytes)
		cond = fmt.Sprintf(`network.bytes > %d && !cidr(%s).containsIP(destination.ip)`,
			(50+r.IntN(950))<<20, quote(pick(r, internal)))
	case k < 99: // no literal: a loop over arguments (indexed by the presence of process.args)
		cond = fmt.Sprintf(`process.args.exists(a, a.lowerAscii().startsWith(%s))`, quote(pick(r, v.fragments)))
	default: // no literal, a field every event has: evaluated on every event
		cond = fmt.Sprintf(`event.kind != "event" && event.risk_score > %d`, r.IntN(100))
	}
	id := fmt.Sprintf("bench.rule_%05d", i)
	text := fmt.Sprintf("id: %s\ncondition: %s\n", id, cond)
	return &rules.Rule{
		ID: id, Name: fmt.Sprintf("Generated rule %d", i), Severity: pick(r, severities), Condition: cond,
		Tags:   []string{"bench"},
		Source: rules.Position{File: "generated", Line: i + 1}, Text: []byte(text),
	}
}

func regexpQuote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `.`, `\.`, `+`, `\+`, `*`, `\*`, `?`, `\?`, `(`, `\(`, `)`, `\)`,
		`[`, `\[`, `]`, `\]`, `{`, `\{`, `}`, `\}`, `|`, `\|`, `^`, `\^`, `$`, `\$`).Replace(s)
}

// Events generates n ECS events as JSON lines, seeded: authentication, process, network, DNS, file and cloud audit.
func Events(n int, seed uint64) [][]byte {
	return EventsFrom(n, seed, time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))
}

// EventsFrom is Events with the first event at base (one event per second after it).
func EventsFrom(n int, seed uint64, base time.Time) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0xe7e7))
	out := make([][]byte, n)
	for i := range out {
		ev := genEvent(r, i, base.Add(time.Duration(i)*time.Second))
		b, err := json.Marshal(ev)
		if err != nil {
			panic(err)
		}
		out[i] = b
	}
	return out
}

type obj = map[string]any

func ipIn(r *rand.Rand, cidrs []string) string {
	c := pick(r, cidrs)
	parts := strings.Split(strings.Split(c, "/")[0], ".")
	return fmt.Sprintf("%s.%s.%d.%d", parts[0], parts[1], r.IntN(256), 1+r.IntN(254))
}

func genEvent(r *rand.Rand, i int, ts time.Time) obj {
	cat := pick(r, categories)
	host := pick(r, hosts)
	ev := obj{
		"@timestamp": ts.Format(time.RFC3339Nano),
		"event": obj{"id": fmt.Sprintf("evt-%08d", i), "kind": "event", "category": cat,
			"action": pick(r, actions[cat]), "code": fmt.Sprint(pick(r, eventIDs)), "dataset": "bench." + cat},
		"host":  obj{"name": host, "ip": []any{ipIn(r, internal)}, "os": obj{"family": "windows"}},
		"user":  obj{"name": userName(r), "domain": "CORP"},
		"agent": obj{"type": "winlogbeat", "version": "8.15.0"},
	}
	switch cat {
	case "authentication":
		src := ipIn(r, internal)
		if r.IntN(4) == 0 {
			src = ipIn(r, external)
		}
		ev["source"] = obj{"ip": src, "port": int64(1024 + r.IntN(60000))}
		ev["event"].(obj)["outcome"] = pick(r, []string{"success", "failure"})
	case "process":
		name := rare(r, 0.02, commonProcesses, universe.processes)
		frag := rare(r, 0.02, commonFragments, universe.fragments)
		ev["process"] = obj{"pid": int64(r.IntN(65535)), "name": name,
			"executable":   rare(r, 0.02, commonPaths, suspiciousPaths) + name,
			"command_line": name + " " + frag + " " + rare(r, 0.02, commonFragments, universe.fragments),
			"args":         []any{name, frag},
			"parent":       obj{"name": rare(r, 0.02, commonProcesses, universe.processes), "pid": int64(r.IntN(65535))}}
	case "network":
		ev["source"] = obj{"ip": ipIn(r, internal), "port": int64(1024 + r.IntN(60000))}
		dst := ipIn(r, internal)
		if r.IntN(3) == 0 {
			dst = ipIn(r, external)
		}
		ev["destination"] = obj{"ip": dst, "port": rare(r, 0.01, commonPorts, universe.ports)}
		bytes := int64(r.IntN(1 << 20))
		if r.IntN(200) == 0 { // a rare large transfer
			bytes = int64(r.IntN(1 << 30))
		}
		ev["network"] = obj{"transport": "tcp", "bytes": bytes}
	case "dns":
		name := pick(r, domains)
		if r.IntN(10) == 0 {
			name = fmt.Sprintf("%x.%s", r.Uint64(), pick(r, badTLDs))
		}
		ev["dns"] = obj{"question": obj{"name": name, "type": "A"}}
		ev["source"] = obj{"ip": ipIn(r, internal)}
	case "file":
		ev["file"] = obj{"path": rare(r, 0.03, commonPaths, suspiciousPaths) + fmt.Sprintf("file%d.%s", r.IntN(100), pick(r, []string{"exe", "dll", "ps1", "txt", "sh"}))}
		ev["process"] = obj{"name": rare(r, 0.02, commonProcesses, universe.processes)}
	case "iam":
		ev["cloud"] = obj{"provider": "aws", "region": "eu-west-1", "account": obj{"id": "123456789012"}}
		ev["event"].(obj)["provider"] = "iam.amazonaws.com"
		ev["source"] = obj{"ip": ipIn(r, external)}
	case "configuration":
		ev["winlog"] = obj{"channel": "System", "event_id": pick(r, eventIDs)}
		ev["process"] = obj{"name": rare(r, 0.02, commonProcesses, universe.processes),
			"command_line": rare(r, 0.02, commonFragments, universe.fragments)}
	}
	return ev
}

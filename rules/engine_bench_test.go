package rules

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkEvaluate measures one rule evaluation on a decoded event, the innermost loop of detection.
func BenchmarkEvaluate(b *testing.B) {
	env, err := NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	ev := event(b, `{"event":{"category":"process","action":"start"},"process":{"name":"PowerShell.exe","command_line":"powershell -nop -enc AAAA","args":["powershell","-nop"]},"user":{"name":"jdoe"}}`)
	for _, tc := range []struct{ name, cond string }{
		{"equality", `event.category == "process" && event.action == "start"`},
		{"lowerAscii", `process.name.lowerAscii() == "powershell.exe"`},
		{"contains", `process.command_line.contains("-enc")`},
		{"regex", `process.command_line.matches("(?i)-e(nc)?\\s")`},
		{"missing_field", `file.path == "/etc/shadow"`},
		{"exists", `process.args.exists(a, a == "-nop")`},
	} {
		c := compileCond(b, env, tc.cond)
		act := &activation{fields: ev.Fields}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.match(act, "")
			}
		})
	}
}

// BenchmarkCandidates measures the prefilter lookup alone: finding the candidate rules of one event among 1,000.
func BenchmarkCandidates(b *testing.B) {
	env, err := NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	var rs []*Rule
	for i := range 1000 {
		rs = append(rs, &Rule{ID: fmt.Sprintf("r%d", i), Name: "r", Severity: "low", Condition: fmt.Sprintf(
			`event.action == "a%d" && process.command_line.lowerAscii().contains("frag%d") && network.bytes > %d`, i%50, i, i)})
	}
	set, err := env.CompileSet(rs)
	if err != nil {
		b.Fatal(err)
	}
	ev := event(b, `{"event":{"category":"process","action":"a7"},"process":{"command_line":"C:\\x.exe FRAG107 frag7 -enc"},"network":{"bytes":500}}`)
	s := set.index.pool.Get().(*scratch)
	b.ReportAllocs()
	for b.Loop() {
		set.index.candidates(ev.Fields, s)
	}
	if n := len(set.index.candidates(ev.Fields, s)); n != 2 {
		b.Fatalf("got %d candidates, want 2 (rules 7 and 107)", n)
	}
}

// BenchmarkNewAlert measures building one alert document from a rule and an event.
func BenchmarkNewAlert(b *testing.B) {
	env, err := NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	c, err := env.Compile(&Rule{ID: "r", Name: "Encoded PowerShell", Severity: "high", Condition: `true`,
		MitreAttack: []MitreAttack{{Tactic: "TA0002", Technique: "T1059", Subtechnique: "T1059.001"}}, Tags: []string{"attack.execution"}})
	if err != nil {
		b.Fatal(err)
	}
	ev := event(b, `{"@timestamp":"2026-11-24T09:14:03Z","event":{"id":"e1","category":["process"],"action":"start"},"host":{"name":"ws-1","ip":["10.0.0.5"]},"user":{"name":"jdoe"},"process":{"name":"powershell.exe","command_line":"powershell -enc AAAA","parent":{"name":"winword.exe"}}}`)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		NewAlert(c, ev, now)
	}
}

// BenchmarkNewAlertECS builds an alert from a full ECS event as Elastic Agent ships it (the first of
// configs/samples/attacks.jsonl): more top-level and event.* keys than BenchmarkNewAlert's, as most partner events have.
func BenchmarkNewAlertECS(b *testing.B) {
	env, err := NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	c, err := env.Compile(&Rule{ID: "vigil.linux.ssh_brute_force", Name: "SSH brute force", Severity: "high",
		Description: "Many failed SSH logins from one source.", Author: "Vigil", Condition: `true`,
		References: []string{"https://attack.mitre.org/techniques/T1110/001/"}, Tags: []string{"attack.credential_access", "linux"},
		MitreAttack: []MitreAttack{{Tactic: "TA0006", Technique: "T1110", Subtechnique: "T1110.001"}}})
	if err != nil {
		b.Fatal(err)
	}
	ev := event(b, `{"@timestamp":"2026-11-22T04:31:03.286Z","event":{"id":"69e2d31a-9fc2-4d73-abaa-1d2202131e45","kind":"event","dataset":"system.auth","module":"system","category":["authentication"],"type":["info"],"action":"ssh_login","outcome":"failure"},"ecs":{"version":"8.11.0"},"host":{"name":"bastion-01","hostname":"bastion-01","ip":["172.18.1.5"],"os":{"family":"debian","type":"linux","name":"Ubuntu","version":"24.04 LTS"}},"agent":{"type":"elastic-agent","version":"8.15.3"},"process":{"name":"sshd","pid":43831},"user":{"name":"root"},"source":{"ip":"45.155.205.12","port":57269},"system":{"auth":{"ssh":{"event":"Failed","method":"password"}}},"related":{"ip":["45.155.205.12"],"user":["root"]}}`)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		NewAlert(c, ev, now)
	}
}

// BenchmarkReason measures the alert's reason sentence on an ECS event without a destination (the flat Windows
// fields of the missing entities are looked for) and on a flat Windows event.
func BenchmarkReason(b *testing.B) {
	env, err := NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	c := compileCond(b, env, "true")
	for _, bc := range []struct{ name, event string }{
		{"ecs", `{"@timestamp":"2026-11-22T04:31:03.286Z","event":{"id":"69e2d31a","kind":"event","dataset":"system.auth","module":"system","category":["authentication"],"type":["info"],"action":"ssh_login","outcome":"failure"},"ecs":{"version":"8.11.0"},"host":{"name":"bastion-01","hostname":"bastion-01","ip":["172.18.1.5"]},"agent":{"type":"elastic-agent","version":"8.15.3"},"process":{"name":"sshd","pid":43831},"user":{"name":"root"},"source":{"ip":"45.155.205.12","port":57269},"related":{"ip":["45.155.205.12"],"user":["root"]}}`},
		{"flat", otrfEvent},
	} {
		ev := event(b, bc.event)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				reason(c, ev.Fields)
			}
		})
	}
}

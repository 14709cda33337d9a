package rules

import "testing"

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
				c.match(act)
			}
		})
	}
}

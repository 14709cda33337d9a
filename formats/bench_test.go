package formats

import (
	"fmt"
	"testing"
)

// Decode rate per core of each format on comparable records (the same SSH login failure), beside the JSON decoder's:
//
//	go test -run=NONE -bench=Decode -benchtime=2s -cpu=1 ./formats/
//
// lines/s is reported per benchmark; docs/benchmarks.md ("Record formats") keeps the table.
var benchRecords = []struct {
	name, format string
	parsers      []string
	line         string
}{
	{"JSON", "json", nil, `{"@timestamp":"2024-03-01T10:00:00Z","host":{"hostname":"bastion"},"process":{"name":"sshd","pid":811},"log":{"syslog":{"priority":38,"facility":{"code":4,"name":"auth"},"severity":{"code":6,"name":"Informational"}}},"message":"Failed password for root from 45.155.205.12 port 52211 ssh2"}`},
	{"RFC5424", "syslog", nil, `<38>1 2024-03-01T10:00:00.003Z bastion sshd 811 - - Failed password for root from 45.155.205.12 port 52211 ssh2`},
	{"RFC5424_SD", "syslog", nil, `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry`},
	{"RFC3164", "syslog", nil, `<38>Mar  1 10:00:00 bastion sshd[811]: Failed password for root from 45.155.205.12 port 52211 ssh2`},
	{"RFC3164_sshd_parser", "syslog", []string{"../configs/parsers/linux.yml"}, `<38>Mar  1 10:00:00 bastion sshd[811]: Failed password for root from 45.155.205.12 port 52211 ssh2`},
	{"RFC3164_pam_parser", "syslog", []string{"../configs/parsers/linux.yml"}, `Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4  user=root`},
	{"CEF", "cef", nil, `CEF:0|Vendor|Product|2.1|4000|Login failed|7|src=45.155.205.12 spt=52211 dst=10.0.0.5 dpt=22 suser=root outcome=failure act=deny proto=TCP rt=Mar 01 2024 10:00:00`},
	{"LEEF", "leef", nil, "LEEF:1.0|Vendor|Product|2.1|4000|src=45.155.205.12\tsrcPort=52211\tdst=10.0.0.5\tdstPort=22\tusrName=root\tsev=7"},
	{"KV", "kv", nil, `src=45.155.205.12 spt=52211 dst=10.0.0.5 dpt=22 user=root outcome=failure msg="Failed password"`},
}

func BenchmarkDecode(b *testing.B) {
	for _, r := range benchRecords {
		b.Run(r.name, func(b *testing.B) {
			d := mustDecoder(b, Config{Format: r.format, Parsers: r.parsers})
			raw := []byte(r.line)
			if tree, err := d.Decode(raw, recordTime); err != nil || tree.Get("vigil").Exists() {
				b.Fatalf("%s does not decode cleanly: %v", r.name, err)
			}
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				tree, err := d.Decode(raw, recordTime)
				if err != nil {
					b.Fatal(err)
				}
				tree.Release()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

func ExampleDecoder() {
	d, _ := New(Config{Format: "syslog"})
	tree, _ := d.Decode([]byte("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed"), recordTime)
	fmt.Println(tree.Lookup("log", "syslog", "facility", "name").Str(), tree.Get("message").Str())
	// Output: auth 'su root' failed
}

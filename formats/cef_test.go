package formats

import "testing"

// Examples of the ArcSight CEF specification (escaping in the header and the extension) and of vendors' CEF, LEEF
// (IBM's LEEF 1.0/2.0 examples) and key=value lines.
var formatCases = []struct {
	format, line string
	want         map[string]any
}{
	{"cef", "Sep 19 08:26:10 host CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232",
		map[string]any{"host.hostname": "host", "cef.version": "0", "observer.vendor": "Security",
			"observer.product": "threatmanager", "observer.version": "1.0", "event.code": "100",
			"message": "worm successfully stopped", "event.severity": 10.0, "source.ip": "10.0.0.1",
			"destination.ip": "2.1.2.2", "source.port": 1232.0, "cef.name": "worm successfully stopped"}},
	{"cef", `CEF:0|security|threatmanager|1.0|100|detected a \| in message|10|src=10.0.0.1 act=blocked a | dst=1.1.1.1`,
		map[string]any{"cef.name": "detected a | in message", "event.action": "blocked a |", "destination.ip": "1.1.1.1"}},
	{"cef", `CEF:0|security|threatmanager|1.0|100|detected a \\ in packet|10|src=10.0.0.1 act=blocked a \\ dst=1.1.1.1`,
		map[string]any{"cef.name": `detected a \ in packet`, "event.action": `blocked a \`}},
	{"cef", `CEF:0|security|threatmanager|1.0|100|detected a = in message|10|src=10.0.0.1 act=blocked a \= dst=1.1.1.1`,
		map[string]any{"cef.name": "detected a = in message", "event.action": "blocked a ="}},
	{"cef", `CEF:0|security|threatmanager|1.0|100|Detected a threat. No action needed.|10|src=10.0.0.1 msg=Detected a threat.\n No action needed.`,
		map[string]any{"message": "Detected a threat.\n No action needed."}},
	{"cef", `CEF:0|Vendor|Product|2.1|4000|Login|Medium|suser=alice duser=bob outcome=Failure proto=TCP request=https://x.example/a?b=c&d=e rt=Oct 11 2003 22:14:15 shost=ws1 dpt=443 cs1Label=policy cs1=default custom=1`,
		map[string]any{"source.user.name": "alice", "destination.user.name": "bob", "event.outcome": "failure",
			"network.transport": "tcp", "url.original": "https://x.example/a?b=c&d=e", "@timestamp": "2003-10-11T22:14:15Z",
			"source.domain": "ws1", "destination.port": 443.0, "cef.extensions.cs1Label": "policy",
			"cef.extensions.cs1": "default", "cef.extensions.custom": "1", "cef.severity": "Medium"}},
	{"cef", `CEF:0|V|P|1|1|n|3|src=not-an-ip rt=1065910455003`,
		map[string]any{"cef.extensions.src": "not-an-ip", "@timestamp": "2003-10-11T22:14:15.003Z"}},
	{"leef", "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\tcat=anomaly\tsrcPort=81\tdstPort=21\tusrName=joe.black",
		map[string]any{"leef.version": "1.0", "observer.vendor": "Microsoft", "observer.product": "MSExchange",
			"observer.version": "4.0 SP1", "event.code": "15345", "source.ip": "192.0.2.0", "destination.ip": "172.50.123.1",
			"event.severity": 5.0, "leef.attributes.cat": "anomaly", "source.port": 81.0, "destination.port": 21.0,
			"user.name": "joe.black"}},
	{"leef", "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^dstPort=21",
		map[string]any{"leef.version": "2.0", "source.ip": "10.0.1.8", "destination.ip": "10.0.0.5", "destination.port": 21.0}},
	{"leef", "<13>Jan 18 11:07:53 fw01 LEEF:2.0|Vendor|Prod|1.0|ev1|x09|src=10.1.1.1\tact=drop it\turl=http://a/?q=1",
		map[string]any{"host.hostname": "fw01", "source.ip": "10.1.1.1", "leef.attributes.act": "drop it",
			"url.original": "http://a/?q=1"}},
	{"leef", "LEEF:2.0|V|P|1|e|0x7C|src=10.1.1.2|dst=10.1.1.3", map[string]any{"destination.ip": "10.1.1.3"}},
	{"kv", `<189>date=2019-05-15 time=15:10:22 devname="FG 100" srcip=10.1.1.1 action=deny msg='a "quoted" \'x\''`,
		map[string]any{"log.syslog.priority": 189.0, "kv.date": "2019-05-15", "kv.devname": "FG 100",
			"kv.srcip": "10.1.1.1", "kv.action": "deny", "kv.msg": `a "quoted" 'x'`}},
	{"kv", `user=alice, result=ok; n=3`, map[string]any{"kv.user": "alice", "kv.result": "ok", "kv.n": "3"}},
	// Splunk HEC: the examples of Splunk's "Format events for HTTP Event Collector", and the envelope's fields.
	{"hec", `{"time": 1426279439, "host": "localhost", "source": "random-data-generator", "sourcetype": "my_sample_data", "index": "main", "event": "Hello world!"}`,
		map[string]any{"@timestamp": "2015-03-13T20:43:59Z", "host.name": "localhost", "splunk.source": "random-data-generator",
			"splunk.sourcetype": "my_sample_data", "splunk.index": "main", "message": "Hello world!"}},
	{"hec", `{"time":"1437522387.123","event":{"message":"Something happened","severity":"INFO"},"fields":{"cluster":"east","rack":[1,2]}}`,
		map[string]any{"@timestamp": "2015-07-21T23:46:27.123Z", "message": "Something happened", "severity": "INFO",
			"labels.cluster": "east", "labels.rack": []any{1.0, 2.0}}},
	// The event's own fields win over the envelope's.
	{"hec", `{"host":"forwarder","time":1,"event":{"host":{"name":"web01"},"@timestamp":"2026-01-02T03:04:05Z","process.name":"sshd"}}`,
		map[string]any{"host.name": "web01", "@timestamp": "2026-01-02T03:04:05Z", "process.name": "sshd"}},
	{"lines", "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok",
		map[string]any{"message": "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok"}},
}

func TestFormatExamples(t *testing.T) {
	for _, c := range formatCases {
		got := decodeLine(t, mustDecoder(t, Config{Format: c.format}), c.line)
		checkFields(t, c.line, got, c.want)
		if v, failed := got["vigil"]; failed {
			t.Errorf("%q: got vigil %v, want no parse failure", c.line, v)
		}
	}
}

func TestFormatMalformed(t *testing.T) {
	for _, c := range []struct{ format, line string }{
		{"cef", "CEF:0|too|few|fields"},
		{"cef", "CEF:x|V|P|1|1|n|3|src=1.1.1.1"},
		{"cef", "no cef here"},
		{"cef", "CEF:0|V|P|1|1|n|3|just text without pairs"},
		{"leef", "LEEF:3.0|V|P|1|e|a=b"},
		{"leef", "LEEF:1.0|V|P"},
		{"leef", "LEEF:2.0|V|P|1|e|zz|a=b"},
		{"kv", "no pairs at all"},
		{"hec", `{"host":"h","sourcetype":"s"}`},
		{"hec", `{"event":42}`},
		{"hec", `{"event":"x"`},
	} {
		got := decodeLine(t, mustDecoder(t, Config{Format: c.format}), c.line)
		checkFields(t, c.line, got, map[string]any{"vigil.parse.failed": c.format, "message": c.line,
			"event.original": c.line})
	}
}

// The json format keeps its contract: a record that is not an object is an error (dead-lettered).
func TestJSON(t *testing.T) {
	d := mustDecoder(t, Config{})
	if _, err := d.Decode([]byte("not json"), recordTime); err == nil {
		t.Error("got no error, want one")
	}
	got := decodeLine(t, d, `{"a.b": 1}`)
	checkFields(t, "json", got, map[string]any{"a.b": 1.0})
}

package rules

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

func TestNewAlertDocument(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	c, err := env.Compile(&Rule{ID: "vigil.test.encoded", Name: "Encoded PowerShell", Severity: "high",
		Description: "d", Author: "Vigil", References: []string{"https://attack.mitre.org/techniques/T1059/001/"},
		Tags: []string{"attack.execution"}, Condition: `true`, Text: []byte("id: vigil.test.encoded\n"),
		MitreAttack: []MitreAttack{{Tactic: "TA0002", Technique: "T1059", Subtechnique: "T1059.001"}}})
	if err != nil {
		t.Fatal(err)
	}
	ev := event(t, `{"@timestamp":"2026-11-24T09:14:03Z","event":{"category":["process"],"action":"start","severity":1},`+
		`"tags":["winlogbeat"],"host":{"name":"ws-1"},"user":{"name":"jdoe"},"process":{"name":"powershell.exe"},"source":{"ip":"10.0.0.5"}}`)
	ev.Tenant = "acme"
	ev.Origin = vigil.Origin{Source: "k", Topic: "partner.acme.events", Partition: 2, Offset: 41}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	a := NewAlert(c, ev, now)

	want := map[string]any{
		"@timestamp":                       "2026-11-27T10:00:00Z",
		"event.kind":                       "alert",
		"event.action":                     "start",
		"event.severity":                   int64(3),
		"event.risk_score":                 int64(73),
		"vigil.original_event.severity":    int64(1),
		"rule.id":                          "vigil.test.encoded",
		"rule.name":                        "Encoded PowerShell",
		"rule.author":                      "Vigil",
		"rule.version":                     version(c.Text),
		"threat.framework":                 "MITRE ATT&CK",
		"organization.id":                  "acme",
		"vigil.alert.tenant":               "acme",
		"vigil.alert.status":               "open",
		"vigil.alert.severity":             "high",
		"vigil.alert.original_time":        "2026-11-24T09:14:03Z",
		"vigil.alert.reason":               "process event with process powershell.exe with source 10.0.0.5, by jdoe on ws-1 created high alert Encoded PowerShell.",
		"vigil.alert.origin.topic":         "partner.acme.events",
		"vigil.alert.origin.offset":        int64(41),
		"threat.technique.subtechnique.id": []any{"T1059.001"},
		"tags":                             []any{"winlogbeat", "attack.execution"},
		"rule.reference":                   []any{"https://attack.mitre.org/techniques/T1059/001/"},
		"threat.tactic.id":                 []any{"TA0002"},
		"user.name":                        "jdoe",
		"vigil.alert.id":                   a.ID,
		"process.name":                     "powershell.exe",
		"vigil.original_event.category":    []any{"process"},
		"vigil.alert.origin.partition":     int64(2),
		"threat.technique.id":              []any{"T1059"},
	}
	for path, w := range want {
		got := vigil.Get(a.Doc, strings.Split(path, ".")...)
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: got %#v, want %#v", path, got, w)
		}
	}
	if ev.Fields["event"].(map[string]any)["kind"] != nil {
		t.Errorf("building the alert changed the event")
	}
	if !a.Time.Equal(time.Date(2026, 11, 24, 9, 14, 3, 0, time.UTC)) || a.Tenant != "acme" || a.RuleID != c.ID {
		t.Errorf("got time %v tenant %s rule %s", a.Time, a.Tenant, a.RuleID)
	}
}

func TestAlertIDIsDeterministic(t *testing.T) {
	raw := `{"event":{"outcome":"failure"}}`
	withID := `{"event":{"id":"e-1","outcome":"failure"}}`
	id := func(tenant, rule, js string) string {
		ev := event(t, js)
		return AlertID(tenant, rule, ev)
	}
	if id("acme", "r", raw) != id("acme", "r", raw) {
		t.Errorf("the same event, tenant and rule gave two ids")
	}
	for _, other := range []string{id("globex", "r", raw), id("acme", "r2", raw), id("acme", "r", `{"event":{"outcome":"success"}}`)} {
		if other == id("acme", "r", raw) {
			t.Errorf("a different tenant, rule or event gave the same id")
		}
	}
	// With event.id the id does not depend on the bytes (a re-serialized copy is the same event).
	if id("acme", "r", withID) != id("acme", "r", `{"event":{"outcome":"failure","id":"e-1"}}`) {
		t.Errorf("event.id must identify the event regardless of its bytes")
	}
}

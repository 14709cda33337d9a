package rules

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
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
		"tags":                             []any{"attack.execution"},
		"vigil.original_event.tags":        []any{"winlogbeat"},
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
	if ev.Fields.Lookup("event", "kind").Exists() {
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
	if first, again := id("acme", "r", raw), id("acme", "r", raw); first != again {
		t.Errorf("the same event, tenant and rule gave two ids: got %s, then %s", first, again)
	}
	for _, other := range []string{id("globex", "r", raw), id("acme", "r2", raw), id("acme", "r", `{"event":{"outcome":"success"}}`)} {
		if other == id("acme", "r", raw) {
			t.Errorf("a different tenant, rule or event gave the same id")
		}
	}
	// By default event.id does not identify the event: partners reuse ids across hosts and products, and a different
	// record with the same event.id must not be dropped as a duplicate.
	if id("acme", "r", withID) == id("acme", "r", `{"event":{"id":"e-1","outcome":"failure"},"host":{"name":"new"}}`) {
		t.Errorf("two different records with the same event.id got the same alert id")
	}
	// A source that trusts event.id (alert_id: event_id) gets ids that do not depend on the bytes.
	trusted := func(js string) string {
		ev := event(t, js)
		ev.TrustEventID = true
		return AlertID("acme", "r", ev)
	}
	if trusted(withID) != trusted(`{"event":{"outcome":"failure","id":"e-1"}}`) {
		t.Errorf("with a trusted event.id the id must not depend on the bytes")
	}
	if trusted(raw) != id("acme", "r", raw) {
		t.Errorf("an event without event.id from a trusting source must be identified by its bytes")
	}
}

// alertRules are a rule with every rule-constant part of an alert (references, tags, ATT&CK at all three levels) and
// a rule with none.
func alertRules(t *testing.T) (full, bare *Compiled) {
	t.Helper()
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	risk := 64
	full, err = env.Compile(&Rule{ID: "vigil.test.full", Name: "Full", Severity: "critical", Description: "d",
		Author: "Vigil", References: []string{"https://attack.mitre.org/techniques/T1110/001/"},
		Tags: []string{"attack.credential_access", "", "winlogbeat"}, RiskScore: &risk, Condition: `true`,
		FalsePositives: []string{"Vulnerability scanners"},
		Text:           []byte("id: vigil.test.full\n"), MitreAttack: []MitreAttack{
			{Tactic: "TA0006", Technique: "T1110", Subtechnique: "T1110.001"}, {Tactic: "TA0001", Technique: "T1078"}}})
	if err != nil {
		t.Fatal(err)
	}
	bare, err = env.Compile(&Rule{ID: "vigil.test.bare", Name: "Bare", Severity: "low", Condition: `true`})
	if err != nil {
		t.Fatal(err)
	}
	return full, bare
}

// A full ECS event whose threat object the alert merges into, and whose tags, vigil and organization (which belong to
// Vigil) it moves under vigil.original_event; and one whose values there are not objects.
const (
	mergingEvent = `{"@timestamp":"2026-11-24T09:14:03.5+01:00",` +
		`"event":{"id":"e-1","kind":"event","category":["authentication"],"outcome":"failure"},` +
		`"tags":["winlogbeat","attack.credential_access"],"source":{"ip":["203.0.113.9"]},"user":{"name":"root"},` +
		`"host":{"name":"web-01"},"organization":{"name":"Acme"},"vigil":{"note":"kept"},` +
		`"threat":{"framework":"other","tactic":{"name":["Initial Access"]},` +
		`"enrichments":[{"matched":{"atomic":"203.0.113.9"}}]}}`
	replacingEvent = `{"@timestamp":"yesterday","event":"x","tags":"single","threat":"s","vigil":1,"organization":"o"}`
)

// TestNewAlertWholeDocument pins the whole document (docs/alerts.md), not only the fields an analyst looks at: what
// is merged into the event's own objects, what replaces the event's values, and what is left alone.
func TestNewAlertWholeDocument(t *testing.T) {
	full, bare := alertRules(t)
	now := time.Date(2026, 11, 27, 11, 0, 0, 120000000, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name   string
		rule   *Compiled
		event  string
		origin vigil.Origin
		want   string
	}{
		{"merged into the event's objects", full, mergingEvent, vigil.Origin{Source: "kafka",
			Topic: "partner.acme.events", Partition: 2, Offset: 41, Time: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)},
			`{"@timestamp":"2026-11-27T10:00:00.12Z","event":{"category":["authentication"],"id":"e-1",` +
				`"kind":"alert","outcome":"failure","risk_score":64,"severity":4},"host":{"name":"web-01"},` +
				`"organization":{"id":"acme"},"rule":{"author":"Vigil","description":"d",` +
				`"false_positives":["Vulnerability scanners"],"id":"vigil.test.full","name":"Full",` +
				`"reference":["https://attack.mitre.org/techniques/T1110/001/"],` +
				`"version":"f654f5b4dfe9e711"},"source":{"ip":["203.0.113.9"]},"tags":["attack.credential_access",` +
				`"winlogbeat"],"threat":{"enrichments":[{"matched":{"atomic":"203.0.113.9"}}],` +
				`"framework":"MITRE ATT&CK","tactic":{"id":["TA0006","TA0001"],` +
				`"name":["Credential Access","Initial Access"]},"technique":{"id":["T1110","T1078"],` +
				`"name":["Brute Force","Valid Accounts"],"subtechnique":{"id":["T1110.001"],` +
				`"name":["Password Guessing"]}}},"user":{"name":"root"},` +
				`"vigil":{"alert":{"id":"4ca90f8447a39e38014c078e825b4844","origin":{"offset":41,"partition":2,` +
				`"source":"kafka","time":"2026-11-24T08:00:00Z","topic":"partner.acme.events"},` +
				`"original_time":"2026-11-24T08:14:03.5Z","reason":"authentication event with source 203.0.113.9,` +
				` by root on web-01 created critical alert Full.","severity":"critical","status":"open",` +
				`"tenant":"acme"},"original_event":{"category":["authentication"],"id":"e-1","kind":"event",` +
				`"organization":{"name":"Acme"},"outcome":"failure","tags":["winlogbeat","attack.credential_access"],` +
				`"vigil":{"note":"kept"}}}}`},
		{"replacing the event's values", bare, replacingEvent, vigil.Origin{Source: "file", File: "events.jsonl", Line: 7},
			`{"@timestamp":"2026-11-27T10:00:00.12Z","event":{"kind":"alert","risk_score":21,"severity":1},` +
				`"organization":{"id":"acme"},"rule":{"id":"vigil.test.bare","name":"Bare",` +
				`"version":"e3b0c44298fc1c14"},"threat":"s",` +
				`"vigil":{"alert":{"id":"f02add2390e88256cde8a98bf7d030a8","origin":{"file":"events.jsonl","line":7,` +
				`"source":"file"},"original_time":"2026-11-27T10:59:59Z","reason":"event created low alert Bare.",` +
				`"severity":"low","status":"open","tenant":"acme"},"original_event":{"organization":"o",` +
				`"tags":"single","vigil":1}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := event(t, tc.event)
			ev.Tenant, ev.Origin, ev.Received = "acme", tc.origin, time.Date(2026, 11, 27, 10, 59, 59, 0, time.UTC)
			var got strings.Builder
			enc := json.NewEncoder(&got)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(NewAlert(tc.rule, ev, now).Doc); err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(got.String()) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got.String(), tc.want)
			}
		})
	}
}

// TestAlertsDoNotShare: enrichers and sinks change an alert's document in place, so no two alerts, and no alert
// and its event or rule, may share an object or a list.
func TestAlertsDoNotShare(t *testing.T) {
	full, _ := alertRules(t)
	now := time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)
	for _, js := range []string{mergingEvent, `{"event":{"category":["process"]},"process":{"args":["a",["b"]]}}`} {
		ev := event(t, js)
		first, second := NewAlert(full, ev, now), NewAlert(full, ev, now)
		want := jsonString(t, second.Doc)
		scribble(first.Doc)
		if got := jsonString(t, second.Doc); got != want {
			t.Errorf("changing an alert changed another alert of the same rule and event: got %s, want %s", got, want)
		}
		if got := jsonString(t, NewAlert(full, ev, now).Doc); got != want {
			t.Errorf("changing an alert changed the next alert (through the event or the rule): got %s, want %s", got, want)
		}
	}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// scribble changes every object and every list in an alert document in place, writing into the event's read-only
// trees the way enrichers do: through vigil.Object, or by replacing a list.
func scribble(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if tree, ok := e.(fields.Value); ok {
				if tree.Kind() == fields.Object {
					e = vigil.Object(x, k)
				} else {
					e = tree.Interface()
					x[k] = e
				}
			}
			scribble(e)
		}
		x["scribbled"] = true
	case []any:
		for i, e := range x {
			scribble(e)
			x[i] = "scribbled"
		}
	}
}

// TestEventsCannotForgeVigilFields: an event's own vigil.*, organization.* and tags never reach the alert's places.
func TestEventsCannotForgeVigilFields(t *testing.T) {
	_, bare := alertRules(t)
	ev := event(t, `{"vigil":{"alert":{"status":"closed","tenant":"globex"}},"organization":{"id":"globex","name":"G"},`+
		`"tags":["false_positive"],"process":{"name":"nc"}}`)
	ev.Tenant = "acme"
	a := NewAlert(bare, ev, time.Now())
	for path, want := range map[string]any{"vigil.alert.status": "open", "vigil.alert.tenant": "acme",
		"organization.id": "acme", "organization.name": nil, "tags": nil,
		"vigil.original_event.vigil.alert.status": "closed", "vigil.original_event.organization.id": "globex"} {
		if got := vigil.Get(a.Doc, strings.Split(path, ".")...); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", path, got, want)
		}
	}
}

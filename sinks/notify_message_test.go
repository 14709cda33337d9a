package sinks

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// renderShape renders the test alert in a shape, with a link template, and decodes the body.
func renderShape(t *testing.T, shape string, dup bool) map[string]any {
	t.Helper()
	a := notifyAlert("4e45182796ffa8e7", "acme", "critical")
	a.Doc["vigil"].(map[string]any)["alert"].(map[string]any)["reason"] = "login by <!channel> & co " + strings.Repeat("x", 4000)
	note, err := newNotification(a)
	if err != nil {
		t.Fatal(err)
	}
	route := NotifyRoute{Shape: shape, Link: `https://kibana:5601/app/discover#/?q={{.ID}}`}
	route.setDefaults()
	r, err := newRenderer(route)
	if err != nil {
		t.Fatal(err)
	}
	body, err := r.render(note, dup)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("got a body that is not JSON: %v\n%s", err, body)
	}
	return m
}

// Slack incoming webhooks take {"text": fallback, "blocks": [...]}: a header block's text is plain_text of at most
// 150 characters, a section's text (mrkdwn) at most 3000, its fields at most 10 texts of at most 2000.
func TestNotifySlackShape(t *testing.T) {
	m := renderShape(t, ShapeSlack, true)
	if txt, _ := m["text"].(string); !strings.HasPrefix(txt, "[possible duplicate] [critical] SSH brute force") {
		t.Errorf("got text %q, want the fallback text marked as a possible duplicate", txt)
	}
	blocks := m["blocks"].([]any)
	types := []string{}
	for _, b := range blocks {
		types = append(types, b.(map[string]any)["type"].(string))
	}
	if got, want := strings.Join(types, ","), "header,section,section,section,context"; got != want {
		t.Errorf("got blocks %s, want %s", got, want)
	}
	header := blocks[0].(map[string]any)["text"].(map[string]any)
	if header["type"] != "plain_text" || utf8.RuneCountInString(header["text"].(string)) > slackHeaderMax {
		t.Errorf("got header text %v, want plain_text of at most 150 characters", header)
	}
	reason := blocks[1].(map[string]any)["text"].(map[string]any)
	if s := reason["text"].(string); reason["type"] != "mrkdwn" || utf8.RuneCountInString(s) > slackSectionMax ||
		!strings.HasPrefix(s, "login by &lt;!channel&gt; &amp; co") {
		t.Errorf("got reason %.80v, want mrkdwn, escaped, at most 3000 characters", reason)
	}
	fields := blocks[2].(map[string]any)["fields"].([]any)
	if len(fields) == 0 || len(fields) > 10 {
		t.Fatalf("got %d fields, want 1-10", len(fields))
	}
	if f := fields[0].(map[string]any); f["type"] != "mrkdwn" || f["text"] != "*Severity*\ncritical" {
		t.Errorf("got first field %v, want mrkdwn *Severity*\\ncritical", f)
	}
	link := blocks[3].(map[string]any)["text"].(map[string]any)["text"]
	if link != "<https://kibana:5601/app/discover#/?q=4e45182796ffa8e7|Open the alert>" {
		t.Errorf("got link %q, want <url|Open the alert>", link)
	}
}

// Teams incoming webhooks take {"type": "message", "attachments": [{"contentType":
// "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": <AdaptiveCard>}]}.
func TestNotifyTeamsShape(t *testing.T) {
	m := renderShape(t, ShapeTeams, false)
	if m["type"] != "message" {
		t.Errorf("got type %v, want message", m["type"])
	}
	att := m["attachments"].([]any)
	if len(att) != 1 {
		t.Fatalf("got %d attachments, want 1", len(att))
	}
	a := att[0].(map[string]any)
	if a["contentType"] != "application/vnd.microsoft.card.adaptive" || a["contentUrl"] != nil {
		t.Errorf("got attachment %v, want an adaptive card without contentUrl", a["contentType"])
	}
	card := a["content"].(map[string]any)
	if card["type"] != "AdaptiveCard" || card["version"] != "1.2" || card["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" {
		t.Errorf("got card type %v version %v schema %v, want AdaptiveCard 1.2 with its schema", card["type"], card["version"], card["$schema"])
	}
	body := card["body"].([]any)
	title := body[0].(map[string]any)
	if title["type"] != "TextBlock" || title["text"] != "[critical] SSH brute force (tenant acme)" {
		t.Errorf("got title %v, want the message text in a TextBlock", title)
	}
	facts := body[2].(map[string]any)
	first := facts["facts"].([]any)[0].(map[string]any)
	if facts["type"] != "FactSet" || first["title"] != "Severity" || first["value"] != "critical" {
		t.Errorf("got %v, want a FactSet starting with Severity: critical", facts)
	}
	if len(body) != 3 {
		t.Errorf("got %d body elements, want 3 (no duplicate note)", len(body))
	}
	action := card["actions"].([]any)[0].(map[string]any)
	if action["type"] != "Action.OpenUrl" || action["url"] != "https://kibana:5601/app/discover#/?q=4e45182796ffa8e7" {
		t.Errorf("got action %v, want Action.OpenUrl to the link", action)
	}
}

func TestNotifyJSONShape(t *testing.T) {
	m := renderShape(t, ShapeJSON, true)
	for k, want := range map[string]any{"alert_id": "4e45182796ffa8e7", "rule_id": "r.brute", "rule_name": "SSH brute force",
		"severity": "critical", "tenant": "acme", "host": "WKS-1", "user": "j.morales", "time": "2026-11-24T09:13:02Z",
		"link": "https://kibana:5601/app/discover#/?q=4e45182796ffa8e7", "possible_duplicate": true,
		"text": "[critical] SSH brute force (tenant acme)"} {
		if m[k] != want {
			t.Errorf("%s: got %v, want %v", k, m[k], want)
		}
	}
	if got := m["alert"].(map[string]any)["rule"].(map[string]any)["name"]; got != "SSH brute force" {
		t.Errorf("alert.rule.name: got %v, want the whole alert document under alert", got)
	}
}

func TestNotifyTemplateFields(t *testing.T) {
	note, err := newNotification(notifyAlert("id1", "acme", "high"))
	if err != nil {
		t.Fatal(err)
	}
	route := NotifyRoute{Template: `{{.RuleName}}|{{.Severity}}|{{.Tenant}}|{{.Host}}|{{.User}}|{{.Reason}}|{{.ID}}|{{.RuleID}}|{{.Link}}`,
		Link: `https://k/{{.ID | urlquery}}`}
	route.setDefaults()
	r, err := newRenderer(route)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := r.render(note, false)
	var m map[string]any
	json.Unmarshal(body, &m)
	if want := "SSH brute force|high|acme|WKS-1|j.morales|many failures|id1|r.brute|https://k/id1"; m["text"] != want {
		t.Errorf("got text %q, want %q", m["text"], want)
	}
}

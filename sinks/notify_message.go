package sinks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/vigilsoc/vigil"
)

// NotifyFields are the data of a route's message and link templates, and the key fields of every message.
type NotifyFields struct {
	ID       string // the alert id (vigil.alert.id)
	RuleID   string // rule.id
	RuleName string // rule.name
	Severity string // low, medium, high or critical (vigil.alert.severity)
	Tenant   string // the tenant (vigil.alert.tenant)
	Host     string // host.name; empty when the alert has none
	User     string // user.name; empty when the alert has none
	Reason   string // vigil.alert.reason: one sentence on what happened
	Time     string // the event's time, RFC 3339, UTC
	// Link is the route's link template rendered for this alert; empty without one (and inside the link template).
	Link string
	// PossibleDuplicate is true when this alert's notification may have been sent before a crash.
	PossibleDuplicate bool
}

// notification is one queued message: the alert's fields and its whole document. It is stored as is, and rendered
// into the route's shape when it is sent.
type notification struct {
	Fields NotifyFields    `json:"fields"`
	Doc    json.RawMessage `json:"alert"`
}

// newNotification takes what a message needs from an alert.
func newNotification(a *vigil.Alert) (*notification, error) {
	var doc bytes.Buffer
	enc := json.NewEncoder(&doc)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a.Doc); err != nil {
		return nil, err
	}
	f := NotifyFields{ID: a.ID, RuleID: a.RuleID, Tenant: a.Tenant,
		RuleName: text(vigil.Get(a.Doc, "rule", "name")), Severity: text(vigil.Get(a.Doc, "vigil", "alert", "severity")),
		Host: text(vigil.Get(a.Doc, "host", "name")), User: text(vigil.Get(a.Doc, "user", "name")),
		Reason: text(vigil.Get(a.Doc, "vigil", "alert", "reason"))}
	if !a.Time.IsZero() {
		f.Time = a.Time.UTC().Format(time.RFC3339Nano)
	}
	return &notification{Fields: f, Doc: bytes.TrimSpace(doc.Bytes())}, nil
}

// text renders a document value for a message: a list is joined with commas, a missing value is empty.
func text(v any) string { return FieldText(v, ", ") }

// FieldText renders a document value for people (a message, a table cell): a string as it is, a list as its elements
// joined by sep, a missing value as empty, anything else as fmt prints it.
func FieldText(v any, sep string) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = FieldText(e, sep)
		}
		return strings.Join(parts, sep)
	}
	return fmt.Sprint(v)
}

// renderer turns a notification into the body of a route's webhook request.
type renderer struct {
	shape      string
	text, link *template.Template // link nil: no link
	fallback   *template.Template // DefaultNotifyTemplate, when text fails on an alert
}

func newRenderer(r NotifyRoute) (*renderer, error) {
	out := &renderer{shape: r.Shape}
	var err error
	if out.text, err = parseNotifyTemplate("template", r.Template); err != nil {
		return nil, err
	}
	if out.fallback, err = parseNotifyTemplate("default", DefaultNotifyTemplate); err != nil {
		return nil, err
	}
	if r.Link != "" {
		if out.link, err = parseNotifyTemplate("link", r.Link); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// render returns the request body. An error means a template failed on this alert: the body is still complete,
// with the default text (or no link) in place of what failed.
func (r *renderer) render(n *notification, possibleDuplicate bool) ([]byte, error) {
	f := n.Fields
	f.PossibleDuplicate = possibleDuplicate
	var errs []error
	if r.link != nil {
		link, err := execute(r.link, f)
		f.Link, errs = link, append(errs, err)
	}
	msg, err := execute(r.text, f)
	if err != nil {
		msg, _ = execute(r.fallback, f)
		errs = append(errs, err)
	}
	var body any
	switch r.shape {
	case ShapeSlack:
		body = slackMessage(f, msg)
	case ShapeTeams:
		body = teamsMessage(f, msg)
	default:
		body = genericMessage{NotifyFields: f, Text: msg, Alert: n.Doc}
	}
	out, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return out, joinErrs(errs)
}

func execute(t *template.Template, f NotifyFields) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, f); err != nil {
		return "", err
	}
	return b.String(), nil
}

func joinErrs(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// genericMessage is the json shape: the key fields at the top, the text, and the alert document under "alert".
type genericMessage struct {
	NotifyFields
	Text  string          `json:"text"`
	Alert json.RawMessage `json:"alert"`
}

// MarshalJSON names the fields in snake case, as in the documentation.
func (m genericMessage) MarshalJSON() ([]byte, error) {
	f := m.NotifyFields
	return json.Marshal(struct {
		AlertID           string          `json:"alert_id"`
		RuleID            string          `json:"rule_id"`
		RuleName          string          `json:"rule_name"`
		Severity          string          `json:"severity"`
		Tenant            string          `json:"tenant"`
		Host              string          `json:"host,omitempty"`
		User              string          `json:"user,omitempty"`
		Reason            string          `json:"reason"`
		Time              string          `json:"time"`
		Link              string          `json:"link,omitempty"`
		Text              string          `json:"text"`
		PossibleDuplicate bool            `json:"possible_duplicate"`
		Alert             json.RawMessage `json:"alert"`
	}{f.ID, f.RuleID, f.RuleName, f.Severity, f.Tenant, f.Host, f.User, f.Reason, f.Time, f.Link, m.Text,
		f.PossibleDuplicate, m.Alert})
}

// facts are the label/value pairs shown in Slack's section fields and Teams' fact set; empty values are left out.
func facts(f NotifyFields) [][2]string {
	var out [][2]string
	for _, kv := range [][2]string{{"Severity", f.Severity}, {"Tenant", f.Tenant}, {"Rule", f.RuleName},
		{"Host", f.Host}, {"User", f.User}, {"Event time", f.Time}, {"Alert id", f.ID}} {
		if kv[1] != "" {
			out = append(out, kv)
		}
	}
	return out
}

const duplicateNote = "Possible duplicate: this alert's notification may have been sent before a restart."

// ellipsize cuts s to at most n characters (runes), marking the cut with an ellipsis.
func ellipsize(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

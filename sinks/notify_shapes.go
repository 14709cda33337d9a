package sinks

import "strings"

// The Slack and Microsoft Teams message shapes. Both are what the services' incoming webhooks accept as a JSON POST
// body; docs/notifications.md shows an example of each.

// Slack's limits on Block Kit text (characters): a header's plain text, a section's text, one section field.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
)

// slackMessage is a Slack incoming-webhook message: text is the fallback shown in notifications, blocks are what
// the channel shows: a header, the reason, the key fields (at most 10, two columns), the link, and the duplicate note.
func slackMessage(f NotifyFields, msg string) map[string]any {
	if f.PossibleDuplicate {
		msg = "[possible duplicate] " + msg
	}
	blocks := []any{map[string]any{"type": "header", "text": slackText("plain_text", ellipsize(msg, slackHeaderMax))}}
	if f.Reason != "" {
		blocks = append(blocks, slackSection(ellipsize(slackEscape(f.Reason), slackSectionMax)))
	}
	var fields []any
	for _, kv := range facts(f) {
		fields = append(fields, slackText("mrkdwn", ellipsize("*"+kv[0]+"*\n"+slackEscape(kv[1]), slackFieldMax)))
	}
	blocks = append(blocks, map[string]any{"type": "section", "fields": fields})
	if f.Link != "" {
		blocks = append(blocks, slackSection("<"+slackEscape(f.Link)+"|Open the alert>"))
	}
	if f.PossibleDuplicate {
		blocks = append(blocks, map[string]any{"type": "context",
			"elements": []any{slackText("mrkdwn", ":warning: "+duplicateNote+" Alert id "+f.ID+".")}})
	}
	return map[string]any{"text": slackEscape(msg), "blocks": blocks}
}

func slackText(kind, s string) map[string]any { return map[string]any{"type": kind, "text": s} }

func slackSection(mrkdwn string) map[string]any {
	return map[string]any{"type": "section", "text": slackText("mrkdwn", mrkdwn)}
}

// slackEscape escapes the three characters Slack reads as markup in mrkdwn (<!channel> would notify everyone).
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// teamsMessage is a Teams incoming-webhook message with one Adaptive Card (version 1.2, which Teams renders
// everywhere): the text as a bold title, the reason, the key fields as a fact set, the duplicate note, and the link
// as an Action.OpenUrl button.
func teamsMessage(f NotifyFields, msg string) map[string]any {
	body := []any{teamsText(msg, map[string]any{"weight": "Bolder", "size": "Medium"})}
	if f.Reason != "" {
		body = append(body, teamsText(f.Reason, nil))
	}
	var fs []any
	for _, kv := range facts(f) {
		fs = append(fs, map[string]any{"title": kv[0], "value": kv[1]})
	}
	body = append(body, map[string]any{"type": "FactSet", "facts": fs})
	if f.PossibleDuplicate {
		body = append(body, teamsText(duplicateNote, map[string]any{"color": "Warning"}))
	}
	card := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
		"version": "1.2", "body": body}
	if f.Link != "" {
		card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "Open the alert", "url": f.Link}}
	}
	return map[string]any{"type": "message", "attachments": []any{map[string]any{
		"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": nil, "content": card}}}
}

// teamsText is a wrapping TextBlock with extra properties.
func teamsText(s string, extra map[string]any) map[string]any {
	b := map[string]any{"type": "TextBlock", "text": s, "wrap": true}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

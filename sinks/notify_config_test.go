package sinks

import (
	"strings"
	"testing"
)

func TestNotifyConfigErrors(t *testing.T) {
	const secret = "T000/B000/SECRETxyz"
	ok := NotifyRoute{Name: "soc", URL: "https://hooks.slack.com/services/" + secret}
	for _, tc := range []struct {
		name  string
		route func(r *NotifyRoute)
		want  string
	}{
		{"missing url", func(r *NotifyRoute) { r.URL = "" }, "routes[0] (soc): url: required"},
		{"bad url", func(r *NotifyRoute) { r.URL = "hooks.slack.com/services/" + secret }, "url: not an http:// or https:// URL"},
		{"unparsable url", func(r *NotifyRoute) { r.URL = "https://h/%zz" + secret }, "url: not an http:// or https:// URL"},
		{"shape", func(r *NotifyRoute) { r.Shape = "discord" }, `shape: unknown shape "discord" (want json, slack or teams)`},
		{"severity", func(r *NotifyRoute) { r.MinSeverity = "urgent" }, `min_severity: "urgent"`},
		{"name", func(r *NotifyRoute) { r.Name = "Ops Room" }, `name: "Ops Room"`},
		{"template syntax", func(r *NotifyRoute) { r.Template = "{{.RuleName" }, "template: template: template:1: unclosed action"},
		{"template field", func(r *NotifyRoute) { r.Template = "{{.Hostname}}" }, "can't evaluate field Hostname"},
		{"link field", func(r *NotifyRoute) { r.Link = "https://k/{{.Nope}}" }, "link: template: link:1:12: executing"},
		{"backoff", func(r *NotifyRoute) { r.RetryInitialBackoff, r.RetryMaxBackoff = 10, 5 }, "retry_initial_backoff: larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.route(&r)
			cfg := NotifyConfig{Routes: []NotifyRoute{r}}
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("got %q, which shows the URL: it is a secret", err)
			}
		})
	}
	dup := NotifyConfig{Routes: []NotifyRoute{ok, ok}}
	if err := dup.Validate(); err == nil || !strings.Contains(err.Error(), `routes[1]: duplicate name "soc"`) {
		t.Errorf("got %v, want the duplicate route name", err)
	}
	if err := (&NotifyConfig{}).Validate(); err == nil || !strings.Contains(err.Error(), "at least one route") {
		t.Errorf("got %v, want at least one route required", err)
	}
	good := NotifyConfig{Routes: []NotifyRoute{ok}}
	if err := good.Validate(); err != nil {
		t.Errorf("got %v for a valid configuration, want nil", err)
	}
}

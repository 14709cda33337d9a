package sinks

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
)

// Notification message shapes accepted in NotifyRoute.Shape.
const (
	// ShapeJSON is Vigil's own JSON: the alert's key fields, the rendered text and the whole alert document.
	ShapeJSON = "json"
	// ShapeSlack is a Slack incoming-webhook message: text (the fallback shown in notifications) and Block Kit blocks.
	ShapeSlack = "slack"
	// ShapeTeams is a Microsoft Teams incoming-webhook (or Workflows webhook) message carrying one Adaptive Card.
	ShapeTeams = "teams"
)

// notifySeverities are the severity words in increasing order; a route's min_severity is one of them.
var notifySeverities = []string{"low", "medium", "high", "critical"}

// routeName is what a route may be called: it names the route's queue folder and its metrics.
var routeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// DefaultNotifyTemplate is the message text of a route without a template.
const DefaultNotifyTemplate = `[{{.Severity}}] {{.RuleName}} (tenant {{.Tenant}})`

// NotifyConfig configures the notify sink (sinks[].notify, docs/notifications.md): webhooks told about alerts, each
// route with its own durable queue. The routes' URLs are secrets (a Slack or Teams webhook URL is a credential):
// write `url: ${VIGIL_NOTIFY_SLACK_URL}`; no URL is ever logged or put in an error message.
type NotifyConfig struct {
	// Dir holds the queues (one folder per route) and the log of notified alert ids. It must be on a local disk
	// and belong to this sink alone. Default "notify".
	Dir string `yaml:"dir"`
	// MaxQueued bounds the notifications waiting per route. When a route's queue is full, a new notification for
	// it is dropped (logged and counted): the ones already accepted are never given up for it. Default 10000.
	MaxQueued int `yaml:"max_queued"`
	// NotifiedTTL is how long an alert id is remembered as notified, so that later versions of the alert (a
	// correlation or suppression alert rewritten while it grows) and replays do not notify again. Default 168h.
	NotifiedTTL time.Duration `yaml:"notified_ttl"`
	// Routes are the webhooks; an alert goes to every route that accepts its severity and tenant.
	Routes []NotifyRoute `yaml:"routes"`
}

// NotifyRoute is one webhook and the alerts it is told about.
type NotifyRoute struct {
	// Name identifies the route in metrics, logs and the queue folder ([a-z0-9][a-z0-9_-]*). Required; renaming a
	// route leaves its queue behind.
	Name string `yaml:"name"`
	// URL is the webhook's address, http or https. Required; a secret, never logged.
	URL string `yaml:"url"`
	// Shape is the message format: json, slack or teams. Default json.
	Shape string `yaml:"shape"`
	// MinSeverity is the lowest alert severity sent to this route: low, medium, high or critical. Default high.
	MinSeverity string `yaml:"min_severity"`
	// Tenants limits the route to these tenants' alerts; empty means every tenant.
	Tenants []string `yaml:"tenants"`
	// Template is a Go text/template for the message text over NotifyFields ({{.RuleName}}, {{.Severity}},
	// {{.Tenant}}, {{.Host}}, {{.User}}, {{.Reason}}, {{.ID}}, {{.RuleID}}, {{.Time}}, {{.Link}}). Default
	// DefaultNotifyTemplate.
	Template string `yaml:"template"`
	// Link is a Go text/template for a link to the alert, over the same fields but Link, for example
	// `https://kibana:5601/app/discover#/?_a=(query:(language:kuery,query:'vigil.alert.id:"{{.ID}}"'))`. Empty: no
	// link.
	Link string `yaml:"link"`
	// Timeout bounds one HTTP request; a request that times out is retried. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// RetryInitialBackoff is the wait before the first retry; it doubles per attempt, with jitter. Default 1s.
	RetryInitialBackoff time.Duration `yaml:"retry_initial_backoff"`
	// RetryMaxBackoff caps the wait between retries (and a 429's Retry-After). Retries never stop. Default 1m.
	RetryMaxBackoff time.Duration `yaml:"retry_max_backoff"`
}

// SetDefaults fills in every unset field with its default. It is the one place the defaults are defined.
func (c *NotifyConfig) SetDefaults() {
	if c.Dir == "" {
		c.Dir = "notify"
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = 10000
	}
	if c.NotifiedTTL <= 0 {
		c.NotifiedTTL = 7 * 24 * time.Hour
	}
	for i := range c.Routes {
		c.Routes[i].setDefaults()
	}
}

func (r *NotifyRoute) setDefaults() {
	if r.Shape == "" {
		r.Shape = ShapeJSON
	}
	if r.MinSeverity == "" {
		r.MinSeverity = "high"
	}
	if r.Template == "" {
		r.Template = DefaultNotifyTemplate
	}
	if r.Timeout <= 0 {
		r.Timeout = 10 * time.Second
	}
	if r.RetryInitialBackoff <= 0 {
		r.RetryInitialBackoff = time.Second
	}
	if r.RetryMaxBackoff <= 0 {
		r.RetryMaxBackoff = time.Minute
	}
}

// Validate checks the configuration without any I/O; the templates are parsed. Errors never show a URL.
func (c *NotifyConfig) Validate() error {
	var errs []error
	if len(c.Routes) == 0 {
		errs = append(errs, errors.New("routes: at least one route is required"))
	}
	if c.MaxQueued < 0 || c.NotifiedTTL < 0 {
		errs = append(errs, errors.New("max_queued and notified_ttl must not be negative"))
	}
	names := map[string]bool{}
	for i, r := range c.Routes {
		if names[r.Name] {
			errs = append(errs, fmt.Errorf("routes[%d]: duplicate name %q", i, r.Name))
		}
		names[r.Name] = true
		if err := r.validate(); err != nil {
			errs = append(errs, fmt.Errorf("routes[%d] (%s): %w", i, r.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

func (r *NotifyRoute) validate() error {
	var errs []error
	if !routeName.MatchString(r.Name) {
		errs = append(errs, fmt.Errorf("name: %q: want [a-z0-9][a-z0-9_-]*, at most 63 characters", r.Name))
	}
	if err := validateWebhookURL(r.URL); err != nil {
		errs = append(errs, err)
	}
	if r.Shape != "" && !slices.Contains([]string{ShapeJSON, ShapeSlack, ShapeTeams}, r.Shape) {
		errs = append(errs, fmt.Errorf("shape: unknown shape %q (want json, slack or teams)", r.Shape))
	}
	if r.MinSeverity != "" && !slices.Contains(notifySeverities, r.MinSeverity) {
		errs = append(errs, fmt.Errorf("min_severity: %q (want %s)", r.MinSeverity, strings.Join(notifySeverities, ", ")))
	}
	for _, t := range []struct{ key, text string }{{"template", r.Template}, {"link", r.Link}} {
		if _, err := parseNotifyTemplate(t.key, t.text); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.key, err))
		}
	}
	if r.Timeout < 0 || r.RetryInitialBackoff < 0 || r.RetryMaxBackoff < 0 {
		errs = append(errs, errors.New("timeout and retry backoffs must not be negative"))
	}
	if r.RetryMaxBackoff > 0 && r.RetryInitialBackoff > r.RetryMaxBackoff {
		errs = append(errs, errors.New("retry_initial_backoff: larger than retry_max_backoff"))
	}
	return errors.Join(errs...)
}

// validateWebhookURL accepts an absolute http or https URL. The URL is a secret: the error never shows it.
func validateWebhookURL(s string) error {
	if s == "" {
		return errors.New("url: required")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("url: not an http:// or https:// URL (the value is a secret and not shown)")
	}
	return nil
}

// parseNotifyTemplate parses a route's message or link template and executes it once on sample fields, so that a
// reference to a field that does not exist fails at start-up rather than on the first alert.
func parseNotifyTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	if err := t.Execute(io.Discard, NotifyFields{}); err != nil {
		return nil, err
	}
	return t, nil
}

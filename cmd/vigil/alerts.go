package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/vigilsoc/vigil/sinks"
)

const alertsUsage = `usage: vigil alerts search [flags] [QUERY]

Searches the alert index, newest first. QUERY is in query_string (Lucene) syntax, for example
  vigil alerts search --tenant acme --severity high,critical --since 24h 'powershell AND user.name:admin'
  vigil alerts search --since 2026-11-01 --until 2026-11-08 --event-time 'host.name:WKS-FIN-014'
Connection: -c FILE uses the config's elasticsearch sink (and nothing else of the file); otherwise --url and
--flavor (default from $VIGIL_SEARCH_URLS and $VIGIL_SEARCH_FLAVOR) with credentials from $VIGIL_SEARCH_USERNAME and
$VIGIL_SEARCH_PASSWORD or $VIGIL_SEARCH_API_KEY. Flags given with -c override the config.
`

func cmdAlerts(args []string, io stdio) int {
	if len(args) == 0 || args[0] != "search" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(io.out, alertsUsage)
			return 0
		}
		fmt.Fprint(io.err, alertsUsage)
		return 2
	}
	return cmdAlertsSearch(args[1:], io)
}

func cmdAlertsSearch(args []string, io stdio) int {
	fs := newFlags("vigil alerts search", "vigil alerts search [-c FILE] [--tenant T] [--rule ID] [--severity S] [--since T] [--until T] [--event-time] [--json] [QUERY]", io)
	var q sinks.AlertQuery
	fs.StringVar(&q.Tenant, "tenant", "", "only this tenant's alerts")
	fs.StringVar(&q.RuleID, "rule", "", "only alerts of this rule id")
	fs.StringSliceVar(&q.Severities, "severity", nil, "only these severities: low, medium, high, critical (comma-separated)")
	since := fs.String("since", "", "only alerts from this time on: a duration back from now (30d, 2w, 24h, 90m) or a time (2026-11-01, 2026-11-01T10:00:00Z; UTC unless it says otherwise)")
	until := fs.String("until", "", "only alerts before this time (exclusive), in the same forms as --since")
	fs.BoolVar(&q.ByEventTime, "event-time", false, "--since, --until and the order apply to the event's time (vigil.alert.original_time) instead of the alert's creation")
	fs.IntVar(&q.Size, "size", 50, "the most alerts shown")
	asJSON := fs.Bool("json", false, "print the alert documents as JSON, one per line")
	cfgPath := fs.StringP("config", "c", "", "take the connection from this config's elasticsearch sink")
	urls := fs.StringSlice("url", splitList(os.Getenv("VIGIL_SEARCH_URLS")), "search engine URL (repeatable)")
	flavor := fs.String("flavor", envOr("VIGIL_SEARCH_FLAVOR", sinks.FlavorElasticsearch), "elasticsearch or opensearch")
	prefix := fs.String("index-prefix", sinks.DefaultIndexPrefix, "alert index prefix (and alias)")
	caCert := fs.String("ca-cert", "", "PEM file of the certificate authorities to trust")
	insecure := fs.Bool("insecure-skip-verify", false, "do not verify TLS certificates (UNSAFE)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	q.Query = strings.Join(fs.Args(), " ")
	q.Now = time.Now()
	var err error
	if q.From, err = timeFlag("since", *since, q.Now); err == nil {
		q.Until, err = timeFlag("until", *until, q.Now)
	}
	if err == nil {
		err = q.Validate()
	}
	if err != nil {
		fmt.Fprintln(io.err, "vigil alerts search:", err)
		return 2
	}
	cfg := sinks.ElasticsearchConfig{Flavor: *flavor, URLs: *urls, IndexPrefix: *prefix, CACert: *caCert,
		InsecureSkipVerify: *insecure, Username: os.Getenv("VIGIL_SEARCH_USERNAME"),
		Password: os.Getenv("VIGIL_SEARCH_PASSWORD"), APIKey: os.Getenv("VIGIL_SEARCH_API_KEY")}
	if *cfgPath != "" {
		c, err := searchConfigFrom(*cfgPath)
		if err != nil {
			fmt.Fprintln(io.err, "vigil alerts search:", err)
			return 2
		}
		for name, set := range map[string]func(){"url": func() { c.URLs = *urls }, "flavor": func() { c.Flavor = *flavor },
			"index-prefix": func() { c.IndexPrefix = *prefix }, "ca-cert": func() { c.CACert = *caCert },
			"insecure-skip-verify": func() { c.InsecureSkipVerify = *insecure }} {
			if fs.Changed(name) {
				set()
			}
		}
		cfg = c
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(io.err, "vigil alerts search:", err, "(set --url or $VIGIL_SEARCH_URLS, or -c FILE)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tp, err := sinks.NewSearchTransport(cfg)
	if err != nil {
		fmt.Fprintln(io.err, "vigil alerts search:", err)
		return 1
	}
	hits, err := sinks.SearchAlerts(ctx, tp, cfg.IndexPrefix, q)
	if err != nil {
		fmt.Fprintln(io.err, "vigil alerts search:", err)
		if hint := flavorHint(ctx, cfg, *cfgPath, err); hint != "" {
			fmt.Fprintln(io.err, hint)
		}
		return 1
	}
	if *asJSON {
		err = printAlertsJSON(io, hits)
	} else {
		err = printAlertsTable(io, hits)
	}
	if err != nil {
		fmt.Fprintln(io.err, "vigil alerts search:", err)
		return 1
	}
	order := "newest alerts first"
	if q.ByEventTime {
		order = "newest events first"
	}
	fmt.Fprintf(io.err, "%d of %d matching alerts, %s\n", len(hits.Alerts), hits.Total, order)
	return 0
}

// timeFlag parses the value of a time flag; empty is no bound.
func timeFlag(name, value string, now time.Time) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	t, err := parseTimeArg(value, now)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s: %w", name, err)
	}
	return t, nil
}

// flavorHint explains a refusal by the Elasticsearch client of a server that is not Elasticsearch (it checks the
// X-Elastic-Product header, which OpenSearch and Elasticsearch before 7.14 do not send): it asks the server's root
// endpoint what it is and says which flavor to use. Empty for any other error.
func flavorHint(ctx context.Context, cfg sinks.ElasticsearchConfig, cfgPath string, err error) string {
	if cfg.Flavor != sinks.FlavorElasticsearch || !strings.Contains(err.Error(), "not Elasticsearch") {
		return ""
	}
	where := "add --flavor opensearch (or set VIGIL_SEARCH_FLAVOR=opensearch)"
	if cfgPath != "" {
		where = "add --flavor opensearch, or set flavor: opensearch in the elasticsearch sink of " + cfgPath
	}
	product, perr := sinks.Product(ctx, cfg)
	switch {
	case perr != nil:
		return "hint: the server does not say it is Elasticsearch; if it is OpenSearch, " + where
	case strings.HasPrefix(product, "OpenSearch"):
		return "hint: the server at " + redactedURL(cfg.URLs[0]) + " is " + product + ": " + where
	}
	return "hint: the server at " + redactedURL(cfg.URLs[0]) + " is " + product + ", which does not send the " +
		"X-Elastic-Product header the Elasticsearch client requires (7.14 and later do): " + where
}

// redactedURL is u without its user information.
func redactedURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	p.User = nil
	return p.String()
}

// searchConfigFrom returns the connection of the first elasticsearch sink of a vigil run configuration, reading
// only the file's sinks (loadSinks): the Kafka settings and their environment variables are not needed to search.
func searchConfigFrom(path string) (sinks.ElasticsearchConfig, error) {
	scs, err := loadSinks(path)
	if err != nil {
		return sinks.ElasticsearchConfig{}, err
	}
	for _, s := range scs {
		if s.Type == "elasticsearch" && s.Elasticsearch != nil {
			return *s.Elasticsearch, nil
		}
	}
	return sinks.ElasticsearchConfig{}, errors.New(path + ": no sink of type elasticsearch")
}

func printAlertsJSON(io stdio, hits *sinks.AlertHits) error {
	enc := json.NewEncoder(io.out)
	enc.SetEscapeHTML(false)
	for _, a := range hits.Alerts {
		if err := enc.Encode(a); err != nil {
			return err
		}
	}
	return nil
}

// alertColumns are the table's columns: a heading and the document field shown. The time is the event's: the
// alerts of one batch are all created within a second.
var alertColumns = []struct{ head, field string }{
	{"EVENT TIME", "vigil.alert.original_time"}, {"ALERT ID", "vigil.alert.id"}, {"STATUS", "vigil.alert.status"},
	{"TENANT", "vigil.alert.tenant"}, {"SEVERITY", "vigil.alert.severity"}, {"RULE", "rule.id"}, {"HOST", "host.name"},
	{"USER", "user.name"}, {"SOURCE IP", "source.ip"}, {"REASON", "vigil.alert.reason"},
}

func printAlertsTable(io stdio, hits *sinks.AlertHits) error {
	tw := tabwriter.NewWriter(io.out, 0, 0, 2, ' ', 0)
	heads := make([]string, len(alertColumns))
	for i, c := range alertColumns {
		heads[i] = c.head
	}
	fmt.Fprintln(tw, strings.Join(heads, "\t"))
	for _, a := range hits.Alerts {
		cells := make([]string, len(alertColumns))
		for i, c := range alertColumns {
			cells[i] = alertCell(a, c.field)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// alertCell formats one field of an alert for the table: times in UTC to the second, lists comma-separated,
// tabs and newlines flattened, long values cut.
func alertCell(doc map[string]any, field string) string {
	var v any = doc
	for _, p := range strings.Split(field, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "-"
		}
		v = m[p]
	}
	s := cellString(v)
	if field == "@timestamp" || field == "vigil.alert.original_time" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			s = t.UTC().Format("2006-01-02 15:04:05Z")
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	max := 40
	switch field {
	case "rule.id":
		max = 64 // analysts copy it into --rule
	case "vigil.alert.reason":
		max = 120
	}
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}

func cellString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = cellString(e)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

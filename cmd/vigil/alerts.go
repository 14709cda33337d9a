package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/vigilsoc/vigil/sinks"
)

const alertsUsage = `usage: vigil alerts COMMAND [flags] ARGS

Commands:
  search [QUERY]                      search the alert index, newest first
  top [--by FIELD]... [QUERY]         count alerts by rule, host, user and ATT&CK tactic (or the fields given)
  show ID                             one alert, whole
  ack|close|reopen ID... [--reason R] [--note T]
                                      change the alerts' status (close needs --reason: false_positive,
                                      true_positive, benign or duplicate; close --except EXPR adds an exception)
  assign ID... USER                   assign the alerts to USER

Searching: QUERY is in query_string (Lucene) syntax, for example
  vigil alerts search --tenant acme --severity high,critical --since 24h 'powershell AND user.name:admin'
  vigil alerts search --since 2026-11-01 --until 2026-11-08 --event-time 'host.name:WKS-FIN-014'
  vigil alerts search --status open,acknowledged --assignee alice --output json
Connection: -c FILE uses the config's elasticsearch sink (and nothing else of the file); otherwise --url and
--flavor (default from $VIGIL_SEARCH_URLS and $VIGIL_SEARCH_FLAVOR) with credentials from $VIGIL_SEARCH_USERNAME and
$VIGIL_SEARCH_PASSWORD or $VIGIL_SEARCH_API_KEY. Flags given with -c override the config.
Triage is recorded as --user (default $VIGIL_USER, else the login name). docs/alerts.md, "Triage", explains it all.
`

func cmdAlerts(args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprint(io.err, alertsUsage)
		return 2
	}
	switch args[0] {
	case "search":
		return cmdAlertsSearch(args[1:], io)
	case "top":
		return cmdAlertsTop(args[1:], io)
	case "show":
		return cmdAlertsShow(args[1:], io)
	case sinks.ActionAck, sinks.ActionClose, sinks.ActionReopen, sinks.ActionAssign:
		return cmdAlertsTriage(args[0], args[1:], io)
	case "-h", "--help", "help":
		fmt.Fprint(io.out, alertsUsage)
		return 0
	}
	fmt.Fprintf(io.err, "vigil alerts: unknown command %q\n%s", args[0], alertsUsage)
	return 2
}

// queryFlags are the filters `vigil alerts search` and `vigil alerts top` share.
type queryFlags struct {
	q            sinks.AlertQuery
	since, until *string
}

func addQueryFlags(fs *pflag.FlagSet) *queryFlags {
	f := &queryFlags{}
	fs.StringVar(&f.q.Tenant, "tenant", "", "only this tenant's alerts")
	fs.StringVar(&f.q.RuleID, "rule", "", "only alerts of this rule id")
	fs.StringSliceVar(&f.q.Severities, "severity", nil, "only these severities: low, medium, high, critical (comma-separated)")
	fs.StringSliceVar(&f.q.Statuses, "status", nil, "only these statuses: open, acknowledged, closed (comma-separated)")
	fs.StringVar(&f.q.Assignee, "assignee", "", "only alerts assigned to this user")
	f.since = fs.String("since", "", "only alerts from this time on: a duration back from now (30d, 2w, 24h, 90m) or a time (2026-11-01, 2026-11-01T10:00:00Z; UTC unless it says otherwise)")
	f.until = fs.String("until", "", "only alerts before this time (exclusive), in the same forms as --since")
	fs.BoolVar(&f.q.ByEventTime, "event-time", false, "--since, --until and the order apply to the event's time (vigil.alert.original_time) instead of the alert's creation")
	return f
}

// query is the query of the flags and the QUERY arguments, validated.
func (f *queryFlags) query(args []string) (sinks.AlertQuery, error) {
	q := f.q
	q.Query = strings.Join(args, " ")
	q.Now = time.Now()
	var err error
	if q.From, err = timeFlag("since", *f.since, q.Now); err == nil {
		q.Until, err = timeFlag("until", *f.until, q.Now)
	}
	if err == nil {
		err = q.Validate()
	}
	return q, err
}

func cmdAlertsSearch(args []string, io stdio) int {
	fs := newFlags("vigil alerts search", "vigil alerts search [-c FILE] [--tenant T] [--rule ID] [--severity S] [--status S] [--assignee U] [--since T] [--until T] [--event-time] [--output table|json|ndjson] [QUERY]", io)
	qf := addQueryFlags(fs)
	size := fs.Int("size", 50, "the most alerts shown")
	output := fs.StringP("output", "o", "table", "table, json (one JSON array) or ndjson (one alert document per line)")
	asJSON := fs.Bool("json", false, "the same as --output ndjson")
	cf := addConnFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	q, err := qf.query(fs.Args())
	if err == nil && *asJSON {
		*output = "ndjson"
	}
	if err == nil && !slices.Contains([]string{"table", "json", "ndjson"}, *output) {
		err = fmt.Errorf("--output %q: want table, json or ndjson", *output)
	}
	if err != nil {
		fmt.Fprintln(io.err, "vigil alerts search:", err)
		return 2
	}
	q.Size = *size
	conn, code := cf.open("vigil alerts search", io)
	if conn == nil {
		return code
	}
	defer conn.stop()
	hits, err := sinks.SearchAlerts(conn.ctx, conn.tp, conn.cfg.IndexPrefix, q)
	if err != nil {
		return conn.fail("vigil alerts search", io, err)
	}
	switch *output {
	case "ndjson":
		err = printAlertsJSON(io, hits)
	case "json":
		err = printAlertsArray(io, hits)
	default:
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

// printAlertsArray prints the alert documents as one indented JSON array.
func printAlertsArray(io stdio, hits *sinks.AlertHits) error {
	docs := hits.Alerts
	if docs == nil {
		docs = []map[string]any{}
	}
	return printJSON(io, docs)
}

// printJSON prints v as indented JSON.
func printJSON(io stdio, v any) error {
	enc := json.NewEncoder(io.out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printAlertsJSON prints the alert documents as JSON, one per line.
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
	s := cellString(lookup(doc, field))
	if field == "@timestamp" || field == "vigil.alert.original_time" {
		s = shortTime(s)
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

// lookup is the value of a dotted field in a document; nil when absent.
func lookup(doc map[string]any, field string) any {
	var v any = doc
	for _, p := range strings.Split(field, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// shortTime shows an RFC 3339 time in UTC to the second; anything else as it is.
func shortTime(s string) string {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC().Format("2006-01-02 15:04:05Z")
	}
	return s
}

func cellString(v any) string { return sinks.FieldText(v, ",") }

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

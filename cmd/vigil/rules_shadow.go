package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/sinks"
)

// shadowSide is what one side (the shadow or the live version of a rule) raised over the report's time range.
type shadowSide struct {
	Alerts  int            `json:"alerts"`
	PerDay  map[string]int `json:"per_day"` // by the event's day (UTC)
	Tenants map[string]int `json:"tenants"`
	Hosts   map[string]int `json:"hosts"`
	ids     map[string]shadowExample
}

// shadowExample is one alert shown as an example of a match only one side has.
type shadowExample struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Host   string `json:"host,omitempty"`
	Time   string `json:"time"`
	Reason string `json:"reason,omitempty"`
}

// shadowReport compares the shadow version of a rule with its live version: the same alert id on both sides is the
// same event matched by both (alert ids hash tenant, rule id and event).
type shadowReport struct {
	Rule string `json:"rule"`
	// New says no live alert of the rule exists in the range (a new rule, or a live version that matched nothing).
	New              bool            `json:"new"`
	Shadow           shadowSide      `json:"shadow"`
	Live             shadowSide      `json:"live"`
	Both             int             `json:"both"`
	OnlyShadow       int             `json:"only_shadow"`
	OnlyLive         int             `json:"only_live"`
	OnlyShadowSample []shadowExample `json:"only_shadow_examples"`
	OnlyLiveSample   []shadowExample `json:"only_live_examples"`
}

var shadowFields = []string{"vigil.alert.id", "vigil.alert.tenant", "vigil.alert.original_time", "vigil.alert.reason", "host.name"}

func cmdRulesShadowReport(args []string, io stdio) int {
	fs := newFlags("vigil rules shadow-report", "vigil rules shadow-report -c FILE [--since 24h] [--rule ID]... [--examples N] [--output table|json]", io)
	since := fs.String("since", "24h", "alerts created since then: 30d, 2w, 24h or a date")
	ids := fs.StringArray("rule", nil, "report this rule (repeatable; default: every rule with shadow alerts in the range)")
	examples := fs.Int("examples", 3, "examples shown of the matches only one side has")
	output := fs.StringP("output", "o", "table", "table or json")
	cf := addConnFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	q, err := shadowQuery(*since)
	if err == nil && *output != "table" && *output != "json" {
		err = fmt.Errorf("--output %q: want table or json", *output)
	}
	if err != nil || fs.NArg() > 0 {
		if err != nil {
			fmt.Fprintln(io.err, "vigil rules shadow-report:", err)
		}
		fs.Usage()
		return 2
	}
	conn, code := cf.open("vigil rules shadow-report", io)
	if conn == nil {
		return code
	}
	defer conn.stop()
	rulesIDs := *ids
	if len(rulesIDs) == 0 {
		counts, err := sinks.TopAlerts(conn.ctx, conn.tp, conn.cfg.ShadowIndexPrefix, q, []string{"rule.id"}, 10000)
		if err != nil {
			return conn.fail("vigil rules shadow-report", io, err)
		}
		for _, v := range counts.Fields[0].Values {
			rulesIDs = append(rulesIDs, v.Value)
		}
	}
	var reports []*shadowReport
	for _, id := range rulesIDs {
		rq := q
		rq.RuleID = id
		r := &shadowReport{Rule: id}
		for _, side := range []struct {
			prefix string
			s      *shadowSide
		}{{conn.cfg.ShadowIndexPrefix, &r.Shadow}, {conn.cfg.IndexPrefix, &r.Live}} {
			*side.s = shadowSide{PerDay: map[string]int{}, Tenants: map[string]int{}, Hosts: map[string]int{}, ids: map[string]shadowExample{}}
			if err := sinks.ScanAlerts(conn.ctx, conn.tp, side.prefix, rq, shadowFields, side.s.add); err != nil {
				return conn.fail("vigil rules shadow-report", io, err)
			}
		}
		r.compare(*examples)
		reports = append(reports, r)
	}
	if *output == "json" {
		err = printJSON(io, reports)
	} else {
		printShadowReports(io, reports, *since)
	}
	if err != nil {
		fmt.Fprintln(io.err, "vigil rules shadow-report:", err)
		return 1
	}
	return 0
}

// shadowQuery selects the alerts created since the --since value.
func shadowQuery(since string) (sinks.AlertQuery, error) {
	q := sinks.AlertQuery{Now: time.Now()}
	if since == "" {
		return q, nil
	}
	from, err := parseTimeArg(since, q.Now)
	q.From = from
	return q, err
}

// add counts one alert document.
func (s *shadowSide) add(doc map[string]any) {
	text := func(path ...string) string { v, _ := vigil.Get(doc, path...).(string); return v }
	ex := shadowExample{ID: text("vigil", "alert", "id"), Tenant: text("vigil", "alert", "tenant"), Host: text("host", "name"),
		Time: text("vigil", "alert", "original_time"), Reason: text("vigil", "alert", "reason")}
	if _, dup := s.ids[ex.ID]; dup || ex.ID == "" {
		return // a correlation-style rewrite, or a broken document: counted once
	}
	s.ids[ex.ID] = ex
	s.Alerts++
	day := "unknown"
	if t, err := time.Parse(time.RFC3339Nano, ex.Time); err == nil {
		day = t.UTC().Format("2006-01-02")
	}
	s.PerDay[day]++
	s.Tenants[ex.Tenant]++
	if ex.Host != "" {
		s.Hosts[ex.Host]++
	}
}

// compare counts the matches both sides and only one side have, with up to n examples of each.
func (r *shadowReport) compare(n int) {
	r.New = r.Live.Alerts == 0
	for id, ex := range r.Shadow.ids {
		if _, ok := r.Live.ids[id]; ok {
			r.Both++
			continue
		}
		r.OnlyShadow++
		r.OnlyShadowSample = append(r.OnlyShadowSample, ex)
	}
	for id, ex := range r.Live.ids {
		if _, ok := r.Shadow.ids[id]; !ok {
			r.OnlyLive++
			r.OnlyLiveSample = append(r.OnlyLiveSample, ex)
		}
	}
	r.OnlyShadowSample, r.OnlyLiveSample = sample(r.OnlyShadowSample, n), sample(r.OnlyLiveSample, n)
}

// sample is the n first examples in time order (then id), so that a report is the same every time it is run.
func sample(exs []shadowExample, n int) []shadowExample {
	slices.SortFunc(exs, func(a, b shadowExample) int {
		if c := strings.Compare(a.Time, b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return exs[:min(n, len(exs))]
}

func printShadowReports(io stdio, reports []*shadowReport, since string) {
	if len(reports) == 0 {
		fmt.Fprintf(io.out, "no shadow alerts since %s\n", since)
	}
	for _, r := range reports {
		fmt.Fprintf(io.out, "rule %s", r.Rule)
		if r.New {
			fmt.Fprint(io.out, " (no live alerts: a new rule, or its live version matched nothing)")
		}
		fmt.Fprintf(io.out, "\n  %-8s %8s %8s %8s\n", "", "shadow", "live", "")
		fmt.Fprintf(io.out, "  %-8s %8d %8d\n", "alerts", r.Shadow.Alerts, r.Live.Alerts)
		fmt.Fprintf(io.out, "  %-8s %8d %8d\n", "tenants", len(r.Shadow.Tenants), len(r.Live.Tenants))
		fmt.Fprintf(io.out, "  %-8s %8d %8d\n", "hosts", len(r.Shadow.Hosts), len(r.Live.Hosts))
		for _, day := range days(r.Shadow.PerDay, r.Live.PerDay) {
			fmt.Fprintf(io.out, "  %-8s %8d %8d\n", day[5:], r.Shadow.PerDay[day], r.Live.PerDay[day])
		}
		fmt.Fprintf(io.out, "  matched by both: %d, only by shadow: %d, only by live: %d\n", r.Both, r.OnlyShadow, r.OnlyLive)
		for _, part := range []struct {
			name string
			exs  []shadowExample
		}{{"only shadow", r.OnlyShadowSample}, {"only live", r.OnlyLiveSample}} {
			for _, ex := range part.exs {
				fmt.Fprintf(io.out, "    %s: %s %s tenant=%s host=%s %s\n", part.name, ex.Time, ex.ID, ex.Tenant, ex.Host, ex.Reason)
			}
		}
	}
}

// days are the days of both maps, sorted.
func days(a, b map[string]int) []string {
	var out []string
	for _, m := range []map[string]int{a, b} {
		for d := range m {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	sort.Strings(out)
	return out
}

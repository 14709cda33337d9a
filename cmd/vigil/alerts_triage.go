package main

import (
	"fmt"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"

	"github.com/vigilsoc/vigil/sinks"
)

// cmdAlertsTriage runs `vigil alerts ack|close|reopen ID...` and `vigil alerts assign ID... USER`: each alert is
// found by its id across the alias (or the --tenant's indices), and every copy found is updated in its own index.
func cmdAlertsTriage(action string, args []string, io stdio) int {
	cmd := "vigil alerts " + action
	usage := cmd + " [-c FILE] [--tenant T] [--note TEXT] [--user U] ID..."
	switch action {
	case sinks.ActionClose:
		usage = cmd + " [-c FILE] [--tenant T] --reason R [--note TEXT] [--user U] [--except EXPR [--list NAME] [--rules PATH]] ID..."
	case sinks.ActionAssign:
		usage = cmd + " [-c FILE] [--tenant T] [--note TEXT] [--user U] ID... USER"
	}
	fs := newFlags(cmd, usage, io)
	t := sinks.Triage{Action: action}
	tenant := fs.String("tenant", "", "look for the alerts in this tenant's indices only")
	fs.StringVar(&t.Note, "note", "", "a note kept in the alert's history")
	fs.StringVar(&t.By, "user", defaultUser(), "who makes the change (default $VIGIL_USER, else the login name)")
	var ex *exceptFlags
	if action == sinks.ActionClose {
		fs.StringVar(&t.Reason, "reason", "", "why: "+strings.Join(sinks.ClosedReasons, ", ")+" (required)")
		ex = addExceptFlags(fs)
	}
	cf := addConnFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	ids := fs.Args()
	if action == sinks.ActionAssign && len(ids) > 0 {
		ids, t.Assignee = ids[:len(ids)-1], ids[len(ids)-1]
	}
	err := t.Validate()
	if err == nil && len(ids) == 0 {
		err = fmt.Errorf("no alert id")
	}
	if err == nil && ex != nil {
		err = ex.check(len(ids), cf.cfgPath)
	}
	if err != nil {
		fmt.Fprintln(io.err, cmd+":", err)
		fs.Usage()
		return 2
	}
	conn, code := cf.open(cmd, io)
	if conn == nil {
		return code
	}
	defer conn.stop()
	failed := 0
	for _, id := range ids {
		if err := triageOne(conn, *tenant, id, t, ex, io); err != nil {
			fmt.Fprintln(io.err, cmd+":", err)
			failed++
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// triageOne applies t to every copy of the alert id, after adding the exception of ex (when given) for its rule.
func triageOne(conn *alertsConn, tenant, id string, t sinks.Triage, ex *exceptFlags, io stdio) error {
	hits, err := sinks.FindAlert(conn.ctx, conn.tp, conn.cfg.IndexPrefix, tenant, id)
	if err != nil {
		return err
	}
	if ex != nil && ex.expr != "" {
		if err := ex.add(hits.Alerts[0], t, io); err != nil {
			return fmt.Errorf("alert %s: %w (the alert is not closed)", id, err)
		}
	}
	for i, index := range hits.Indices {
		changed, err := sinks.TriageAlert(conn.ctx, conn.tp, index, id, t)
		if err != nil {
			return err
		}
		state := triageState(t)
		if !changed {
			state = "already " + state
		}
		where := ""
		if len(hits.Indices) > 1 {
			where = " (" + hits.Indices[i] + ")"
		}
		fmt.Fprintf(io.out, "%s%s: %s\n", id, where, state)
	}
	return nil
}

// triageState says what t makes of an alert: "acknowledged", "closed (benign)", "assigned to alice".
func triageState(t sinks.Triage) string {
	switch t.Action {
	case sinks.ActionAck:
		return "acknowledged"
	case sinks.ActionClose:
		return "closed (" + t.Reason + ")"
	case sinks.ActionReopen:
		return "open"
	}
	return "assigned to " + t.Assignee
}

// defaultUser is who triages when --user is not given: $VIGIL_USER, else the login name.
func defaultUser() string {
	if u := os.Getenv("VIGIL_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// cmdAlertsShow prints one alert whole: a header an analyst reads, its history, then the document.
func cmdAlertsShow(args []string, io stdio) int {
	fs := newFlags("vigil alerts show", "vigil alerts show [-c FILE] [--tenant T] [--output text|json] ID", io)
	tenant := fs.String("tenant", "", "look for the alert in this tenant's indices only")
	output := fs.StringP("output", "o", "text", "text (a header, the history, then the document as indented JSON) or json (the document only)")
	cf := addConnFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 || (*output != "text" && *output != "json") {
		fs.Usage()
		return 2
	}
	conn, code := cf.open("vigil alerts show", io)
	if conn == nil {
		return code
	}
	defer conn.stop()
	hits, err := sinks.FindAlert(conn.ctx, conn.tp, conn.cfg.IndexPrefix, *tenant, fs.Arg(0))
	if err != nil {
		return conn.fail("vigil alerts show", io, err)
	}
	for i, doc := range hits.Alerts {
		if *output == "text" {
			printAlertHeader(io, doc, hits.Indices[i])
		}
		if err := printJSON(io, doc); err != nil {
			fmt.Fprintln(io.err, "vigil alerts show:", err)
			return 1
		}
	}
	return 0
}

// alertHeader are the lines of the header of `vigil alerts show`: a label and the fields shown, joined by sep.
var alertHeader = []struct {
	label, sep string
	fields     []string
}{
	{"Alert", "", []string{"vigil.alert.id"}},
	{"Rule", ": ", []string{"rule.id", "rule.name"}},
	{"Severity", ", risk ", []string{"vigil.alert.severity", "event.risk_score"}},
	{"Tenant", "", []string{"vigil.alert.tenant"}},
	{"Status", ", reason ", []string{"vigil.alert.status", "vigil.alert.closed_reason"}},
	{"Assignee", "", []string{"vigil.alert.assignee"}},
	{"Created", "", []string{"@timestamp"}},
	{"Event time", "", []string{"vigil.alert.original_time"}},
	{"Reason", "", []string{"vigil.alert.reason"}},
}

func printAlertHeader(io stdio, doc map[string]any, index string) {
	tw := tabwriter.NewWriter(io.out, 0, 0, 2, ' ', 0)
	for _, h := range alertHeader {
		var parts []string
		for _, f := range h.fields {
			if v := headerValue(doc, f); v != "" {
				parts = append(parts, v)
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(tw, "%s\t%s\n", h.label, strings.Join(parts, h.sep))
		}
	}
	fmt.Fprintf(tw, "Index\t%s\n", index)
	tw.Flush()
	history, _ := lookup(doc, "vigil.alert.history").([]any)
	if len(history) > 0 {
		fmt.Fprintln(io.out, "\nHistory")
		tw = tabwriter.NewWriter(io.out, 0, 0, 2, ' ', 0)
		for _, h := range history {
			e, _ := h.(map[string]any)
			change := strings.TrimPrefix(cellString(e["from"])+" -> "+cellString(e["to"]), " -> ")
			line := []string{headerValue(e, "at"), cellString(e["by"]), cellString(e["action"]), change,
				cellString(e["reason"]), cellString(e["note"])}
			fmt.Fprintln(tw, "  "+strings.TrimRight(strings.Join(line, "\t"), "\t"))
		}
		tw.Flush()
	}
	fmt.Fprintln(io.out, "\nDocument")
}

// headerValue is a field of doc as one line of text (times in UTC to the second), "" when absent.
func headerValue(doc map[string]any, field string) string {
	s := cellString(lookup(doc, field))
	if field == "at" || field == "@timestamp" || field == "vigil.alert.original_time" {
		s = shortTime(s)
	}
	return strings.Join(strings.Fields(s), " ")
}

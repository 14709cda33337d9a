package main

import (
	"fmt"
	"strings"

	"github.com/vigilsoc/vigil/sinks"
)

// cmdAlertsTop runs `vigil alerts top`: the most frequent values of a few fields among the alerts the filters
// select, for a morning overview ("which rules, hosts and users made the open alerts of the night").
func cmdAlertsTop(args []string, io stdio) int {
	fs := newFlags("vigil alerts top", "vigil alerts top [-c FILE] [--by FIELD]... [--size N] [--tenant T] [--status S] [--since T] [--output table|json] [QUERY]", io)
	qf := addQueryFlags(fs)
	by := fs.StringArray("by", nil, "count by this field (repeatable; default "+strings.Join(sinks.TopFields, ", ")+")")
	size := fs.Int("size", 10, "the most values shown per field")
	output := fs.StringP("output", "o", "table", "table or json")
	cf := addConnFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	q, err := qf.query(fs.Args())
	switch {
	case err != nil:
	case *size < 1:
		err = fmt.Errorf("--size %d: want at least 1", *size)
	case *output != "table" && *output != "json":
		err = fmt.Errorf("--output %q: want table or json", *output)
	}
	if err != nil {
		fmt.Fprintln(io.err, "vigil alerts top:", err)
		return 2
	}
	fields := *by
	if len(fields) == 0 {
		fields = sinks.TopFields
	}
	conn, code := cf.open("vigil alerts top", io)
	if conn == nil {
		return code
	}
	defer conn.stop()
	counts, err := sinks.TopAlerts(conn.ctx, conn.tp, conn.cfg.IndexPrefix, q, fields, *size)
	if err != nil {
		return conn.fail("vigil alerts top", io, err)
	}
	if *output == "json" {
		err = printJSON(io, counts)
	} else {
		err = printCounts(io, counts)
	}
	if err != nil {
		fmt.Fprintln(io.err, "vigil alerts top:", err)
		return 1
	}
	return 0
}

// printCounts prints one table per field: its values, most frequent first, then the other and missing counts.
func printCounts(io stdio, c *sinks.AlertCounts) error {
	fmt.Fprintf(io.out, "%d matching alerts\n", c.Total)
	for _, f := range c.Fields {
		rows := make([][2]string, 0, len(f.Values)+2)
		for _, v := range f.Values {
			rows = append(rows, [2]string{fmt.Sprint(v.Count), v.Value})
		}
		if f.Other > 0 {
			rows = append(rows, [2]string{fmt.Sprint(f.Other), "(other values)"})
		}
		if f.Missing > 0 {
			rows = append(rows, [2]string{fmt.Sprint(f.Missing), "(none)"})
		}
		w := len("ALERTS")
		for _, r := range rows {
			w = max(w, len(r[0]))
		}
		fmt.Fprintf(io.out, "\n%*s  %s\n", w, "ALERTS", strings.ToUpper(f.Field))
		for _, r := range rows {
			if _, err := fmt.Fprintf(io.out, "%*s  %s\n", w, r[0], r[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

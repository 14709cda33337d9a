package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/vigilsoc/vigil/sinks"
)

const deadlettersUsage = `usage: vigil deadletters list|show|replay -c CONFIG [flags]

Reads the dead-letter queue of a vigil run configuration (dead_letter: a Kafka topic or a JSON Lines file): the
records and alerts that could not be processed, with their reason. It never changes the queue, joins no consumer
group and commits nothing.

  vigil deadletters list   -c FILE [--reason R] [--tenant T] [--kind event|alert] [--since D] [--until D] [--limit N] [--json]
  vigil deadletters show   -c FILE [--json|--raw] ID
  vigil deadletters replay -c FILE [filters as for list] [--all] [--again] [--dry-run] [ID...]

replay sends an event back to its source topic and re-indexes an alert through the configured search sinks, and
records each letter it replayed, so that a letter is replayed once unless --again is given (docs/operations.md,
"Dead letters").
`

func cmdDeadLetters(args []string, io stdio) int {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return cmdDeadLettersList(args[1:], io)
		case "show":
			return cmdDeadLettersShow(args[1:], io)
		case "replay":
			return cmdDeadLettersReplay(args[1:], io)
		case "-h", "--help", "help":
			fmt.Fprint(io.out, deadlettersUsage)
			return 0
		}
	}
	fmt.Fprint(io.err, deadlettersUsage)
	return 2
}

// deadLetterSession is what every deadletters command starts with: the configuration and the open queue.
type deadLetterSession struct {
	cfg    *Config
	queue  letterQueue
	ctx    context.Context
	cancel context.CancelFunc
}

// openDeadLetters loads the configuration and opens its queue; on failure it prints the error and returns the exit
// code.
func openDeadLetters(cmd, cfgPath string, io stdio) (*deadLetterSession, int) {
	if cfgPath == "" {
		fmt.Fprintf(io.err, "vigil deadletters %s: -c CONFIG is required: the dead-letter queue is the one of that configuration\n", cmd)
		return nil, 2
	}
	cfg, implicit, err := loadDeadLetterConfig(cfgPath)
	if err != nil {
		fmt.Fprintf(io.err, "vigil deadletters %s: %v\n", cmd, err)
		return nil, 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	q, err := openLetterQueue(ctx, cfg, cfgPath, implicit)
	if err != nil {
		stop()
		fmt.Fprintf(io.err, "vigil deadletters %s: %v\n", cmd, err)
		return nil, 1
	}
	return &deadLetterSession{cfg: cfg, queue: q, ctx: ctx, cancel: stop}, 0
}

func (s *deadLetterSession) close() {
	s.queue.close()
	s.cancel()
}

func cmdDeadLettersList(args []string, io stdio) int {
	fs := newFlags("vigil deadletters list", "vigil deadletters list -c CONFIG [--reason R] [--tenant T] [--kind event|alert] [--since D] [--until D] [--limit N] [--json]", io)
	cfgPath := fs.StringP("config", "c", "", "the vigil run configuration whose dead-letter queue is read")
	ff := addFilterFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per letter")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "vigil deadletters list: unexpected argument %q (use show ID for one letter)\n", fs.Arg(0))
		return 2
	}
	filter, err := ff.filter(time.Now())
	if err != nil {
		fmt.Fprintln(io.err, "vigil deadletters list:", err)
		return 2
	}
	s, code := openDeadLetters("list", *cfgPath, io)
	if s == nil {
		return code
	}
	defer s.close()
	replayed, err := s.queue.replayed(s.ctx)
	if err != nil {
		fmt.Fprintln(io.err, "vigil deadletters list:", err)
		return 1
	}
	out := newLetterTable(io.out, *asJSON)
	n := 0
	err = s.queue.scan(s.ctx, func(l *sinks.ParkedLetter) error {
		if !filter.match(l) {
			return nil
		}
		var rec *sinks.ReplayRecord
		if r, ok := replayed[l.ID]; ok {
			rec = &r
		}
		if err := out.add(l, rec); err != nil {
			return err
		}
		if n++; filter.limit > 0 && n >= filter.limit {
			return stopScan
		}
		return nil
	})
	if ferr := out.flush(); err == nil {
		err = ferr
	}
	if err != nil && !errors.Is(err, stopScan) {
		fmt.Fprintln(io.err, "vigil deadletters list:", err)
		return 1
	}
	if fq, ok := s.queue.(*fileQueue); ok && fq.skipped > 0 {
		fmt.Fprintf(io.err, "%s of %s held no letter (the rest of a torn write?) and were skipped\n", plural(fq.skipped, "line"), fq.path)
	}
	fmt.Fprintf(io.err, "%s in the %s\n", plural(n, "letter"), s.queue)
	return 0
}

// stopScan stops a scan of the queue early, without an error (the commands' io parameter hides package io).
var stopScan = io.EOF

// letterTable prints letters as a table, flushed every few hundred lines so that a long list streams, or as JSON
// lines.
type letterTable struct {
	w      io.Writer
	tw     *tabwriter.Writer
	json   *json.Encoder
	rows   int
	header bool
}

func newLetterTable(w io.Writer, asJSON bool) *letterTable {
	t := &letterTable{w: w}
	if asJSON {
		t.json = json.NewEncoder(w)
		t.json.SetEscapeHTML(false)
	}
	return t
}

func (t *letterTable) add(l *sinks.ParkedLetter, rec *sinks.ReplayRecord) error {
	if t.json != nil {
		return t.json.Encode(letterDoc(l, rec, false))
	}
	if t.tw == nil {
		t.tw = tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
		if !t.header {
			fmt.Fprintln(t.tw, "ID\tKIND\tREASON\tTENANT\tSOURCE\tTIME\tREPLAYED\tDETAIL")
			t.header = true
		}
	}
	replayed := "-"
	if rec != nil {
		replayed = formatLetterTime(rec.Replayed)
	}
	fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, orDash(l.Kind), orDash(l.Reason), orDash(l.Tenant),
		orDash(l.Origin.String()), formatLetterTime(l.Parked), replayed, shorten(l.Detail, 80))
	if t.rows++; t.rows%500 == 0 {
		return t.flush()
	}
	return nil
}

func (t *letterTable) flush() error {
	if t.tw == nil {
		return nil
	}
	err := t.tw.Flush()
	t.tw = nil
	return err
}

// letterDoc is the JSON form of a letter: everything but the payload, which is included only when asked for (as text
// when it is valid UTF-8, else base64 in payload_base64).
func letterDoc(l *sinks.ParkedLetter, rec *sinks.ReplayRecord, payload bool) map[string]any {
	d := map[string]any{"id": l.ID, "kind": l.Kind, "reason": l.Reason, "detail": l.Detail, "tenant": l.Tenant,
		"source": l.Origin.Doc(), "time": l.Parked.UTC().Format(time.RFC3339Nano), "payload_bytes": len(l.Payload)}
	if l.Truncated > 0 {
		d["payload_truncated_from"] = l.Truncated
	}
	if rec != nil {
		d["replayed"] = map[string]any{"at": rec.Replayed.UTC().Format(time.RFC3339Nano), "to": rec.To}
	}
	if payload {
		fields := make(map[string]string, len(l.Fields))
		for _, f := range l.Fields {
			fields[f.Key] = f.Value
		}
		d["fields"] = fields
		if utf8.Valid(l.Payload) {
			d["payload"] = string(l.Payload)
		} else {
			d["payload_base64"] = l.Payload
		}
	}
	return d
}

func cmdDeadLettersShow(args []string, io stdio) int {
	fs := newFlags("vigil deadletters show", "vigil deadletters show -c CONFIG [--json|--raw] ID", io)
	cfgPath := fs.StringP("config", "c", "", "the vigil run configuration whose dead-letter queue is read")
	asJSON := fs.Bool("json", false, "print the letter as one JSON object, payload included")
	raw := fs.Bool("raw", false, "print only the payload, byte for byte")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 || *asJSON && *raw {
		fs.Usage()
		return 2
	}
	s, code := openDeadLetters("show", *cfgPath, io)
	if s == nil {
		return code
	}
	defer s.close()
	l, err := s.queue.get(s.ctx, fs.Arg(0))
	if err != nil {
		fmt.Fprintln(io.err, "vigil deadletters show:", err)
		return 1
	}
	if *raw {
		_, err = io.out.Write(l.Payload)
		return exitOn(err, io)
	}
	replayed, err := s.queue.replayed(s.ctx)
	if err != nil {
		fmt.Fprintln(io.err, "vigil deadletters show:", err)
		return 1
	}
	var rec *sinks.ReplayRecord
	if r, ok := replayed[l.ID]; ok {
		rec = &r
	}
	if *asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return exitOn(enc.Encode(letterDoc(l, rec, true)), io)
	}
	return exitOn(printLetter(io.out, l, rec), io)
}

func exitOn(err error, io stdio) int {
	if err != nil {
		fmt.Fprintln(io.err, "vigil deadletters:", err)
		return 1
	}
	return 0
}

// printLetter writes the whole letter for a human: its summary, every stored field, and the payload, indented when
// it is JSON and quoted otherwise.
func printLetter(w io.Writer, l *sinks.ParkedLetter, rec *sinks.ReplayRecord) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("id", l.ID)
	row("kind", orDash(l.Kind))
	row("reason", orDash(l.Reason))
	row("tenant", orDash(l.Tenant))
	src := orDash(l.Origin.String())
	if l.Origin.Source != "" && src != l.Origin.Source {
		src += " (source " + l.Origin.Source + ")"
	}
	row("source", src)
	if !l.Origin.Time.IsZero() {
		row("record time", formatLetterTime(l.Origin.Time))
	}
	row("parked", formatLetterTime(l.Parked))
	if rec != nil {
		row("replayed", formatLetterTime(rec.Replayed)+" to "+rec.To)
	} else {
		row("replayed", "no")
	}
	row("detail", l.Detail)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nfields:")
	for _, f := range l.Fields {
		fmt.Fprintf(w, "  %s: %s\n", f.Key, f.Value)
	}
	desc := strconv.Itoa(len(l.Payload)) + " bytes"
	if l.Truncated > 0 {
		desc += fmt.Sprintf(", cut from %d", l.Truncated)
	}
	var pretty bytes.Buffer
	if json.Valid(l.Payload) && json.Indent(&pretty, l.Payload, "", "  ") == nil {
		fmt.Fprintf(w, "\npayload (%s, JSON):\n%s\n", desc, pretty.Bytes())
		return nil
	}
	_, err := fmt.Fprintf(w, "\npayload (%s, not JSON):\n%s\n", desc, strconv.Quote(string(l.Payload)))
	return err
}

func formatLetterTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shorten flattens whitespace and cuts s to n runes.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n-1]) + "…"
	}
	return orDash(s)
}

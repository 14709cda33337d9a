package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/ingest"
	"github.com/vigilsoc/vigil/kafkaconn"
	"github.com/vigilsoc/vigil/sinks"
)

// replayBatch is how many letters are delivered, then recorded in the replay log, at a time.
const replayBatch = 200

func cmdDeadLettersReplay(args []string, io stdio) int {
	fs := newFlags("vigil deadletters replay", "vigil deadletters replay -c CONFIG [--reason R] [--tenant T] [--kind event|alert] [--since D] [--until D] [--limit N] [--all] [--again] [--dry-run] [ID...]", io)
	cfgPath := fs.StringP("config", "c", "", "the vigil run configuration whose dead-letter queue is read")
	ff := addFilterFlags(fs)
	all := fs.Bool("all", false, "replay every letter not replayed yet (needed when neither an ID nor a filter is given)")
	again := fs.Bool("again", false, "replay also the letters the replay log says were replayed already")
	dryRun := fs.Bool("dry-run", false, "print what would be replayed and change nothing")
	timeout := fs.Duration("timeout", time.Minute, "give up when the brokers or the search engine do not take a batch within this long")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	filter, err := ff.filter(time.Now())
	if err != nil {
		fmt.Fprintln(io.err, "vigil deadletters replay:", err)
		return 2
	}
	var ids []string
	for _, id := range fs.Args() {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 && filter.empty() && !*all {
		fmt.Fprintln(io.err, "vigil deadletters replay: say which letters: IDs, a filter (--reason, --tenant, --kind, --since, --until) or --all")
		return 2
	}
	s, code := openDeadLetters("replay", *cfgPath, io)
	if s == nil {
		return code
	}
	defer s.close()
	done, err := s.queue.replayed(s.ctx)
	if err != nil {
		fmt.Fprintln(io.err, "vigil deadletters replay:", err)
		return 1
	}
	r := &replayer{cfg: s.cfg, queue: s.queue, out: io.out, done: done, again: *again, dryRun: *dryRun,
		timeout: *timeout, limit: filter.limit, refused: map[string]int{}}
	defer r.close()
	err = r.selectLetters(s.ctx, ids, filter)
	err = errors.Join(err, r.flush(s.ctx)) // what was selected before an error is still delivered
	r.summary()
	if err != nil {
		fmt.Fprintln(io.err, "vigil deadletters replay:", err)
		return 1
	}
	if len(r.refused) > 0 {
		return 1
	}
	return 0
}

// replayer brings letters back: events to their source topic, alerts into the search sinks. It works in batches:
// deliver, then record in the replay log, then report.
type replayer struct {
	cfg     *Config
	queue   letterQueue
	out     io.Writer
	done    map[string]sinks.ReplayRecord // the replay log
	again   bool
	dryRun  bool
	timeout time.Duration
	limit   int

	batch  []*entry       // the letters since the last flush, in queue order
	events []pendingEvent // waiting for delivery at the next flush
	alerts []pendingAlert

	writers  map[string]*kafka.Writer // by source name
	topics   map[string]error         // "source\x00topic" → the topic's check
	search   []*sinks.Elasticsearch   // built for the first alert
	rejected *rejections

	planned                        int            // letters queued for delivery (or, in a dry run, that would be)
	replayedEvents, replayedAlerts int            // letters delivered and recorded
	created, duplicates            int            // alert documents the search sinks created, and found there already
	skipped                        int            // letters replayed already
	unselected                     int            // letters named by id that do not match the filters
	refused                        map[string]int // by short reason
}

// entry is a letter and what became of it, printed at the next flush: skipped, refused, replayed; an empty verb
// means waiting for delivery.
type entry struct {
	l          *sinks.ParkedLetter
	verb, text string
}

type pendingEvent struct {
	e      *entry
	source *SourceConfig
	msg    kafka.Message
}

type pendingAlert struct {
	e     *entry
	alert *vigil.Alert
}

// refusal says why a letter cannot be replayed: a short reason for the summary and the whole story.
type refusal struct{ short, detail string }

func refuse(short, format string, args ...any) *refusal {
	return &refusal{short: short, detail: fmt.Sprintf(format, args...)}
}

// selectLetters hands the letters named by ids, or else the queue's letters, that match the filter to add.
func (r *replayer) selectLetters(ctx context.Context, ids []string, filter letterFilter) error {
	if len(ids) > 0 {
		letters := make([]*sinks.ParkedLetter, len(ids))
		for i, id := range ids { // every id must exist before anything is replayed
			l, err := r.queue.get(ctx, id)
			if err != nil {
				return err
			}
			letters[i] = l
		}
		for _, l := range letters {
			if !filter.match(l) {
				r.unselected++
				continue
			}
			if err := r.add(ctx, l); errors.Is(err, stopScan) {
				return nil
			} else if err != nil {
				return err
			}
		}
		return nil
	}
	return r.queue.scan(ctx, func(l *sinks.ParkedLetter) error {
		if !filter.match(l) {
			return nil
		}
		return r.add(ctx, l)
	})
}

// add plans the replay of one letter: skipped when it was replayed already, refused when it cannot be, else queued
// for the next flush (or only printed in a dry run). It returns stopScan once the limit is reached.
func (r *replayer) add(ctx context.Context, l *sinks.ParkedLetter) error {
	e := &entry{l: l}
	r.batch = append(r.batch, e)
	if err := r.plan(ctx, e); err != nil {
		return err
	}
	if len(r.batch) >= replayBatch {
		if err := r.flush(ctx); err != nil {
			return err
		}
	}
	if r.limit > 0 && r.planned >= r.limit {
		return stopScan
	}
	return nil
}

// plan decides about one letter: skipped, refused, or queued for delivery (in a dry run: would be replayed).
func (r *replayer) plan(ctx context.Context, e *entry) error {
	l := e.l
	if rec, ok := r.done[l.ID]; ok && !r.again {
		r.skipped++
		e.verb, e.text = "skipped", fmt.Sprintf("already replayed %s to %s (--again replays it again)", formatLetterTime(rec.Replayed), rec.To)
		return nil
	}
	var ref *refusal
	var ev pendingEvent
	var a pendingAlert
	switch l.Kind {
	case "event":
		if ev, ref = r.planEvent(l); ref == nil && !r.dryRun {
			ref = r.checkTopic(ctx, ev)
		}
	case "alert":
		a, ref = r.planAlert(l)
	default:
		ref = refuse("unknown kind", "the letter's kind %q is neither event nor alert", l.Kind)
	}
	switch {
	case ref != nil:
		r.refuse(e, ref)
	case r.dryRun:
		e.verb, e.text = "would replay", "to "+r.target(l)
		r.planned++
	case l.Kind == "event":
		ev.e = e
		r.events = append(r.events, ev)
		r.planned++
	default:
		a.e = e
		r.alerts = append(r.alerts, a)
		r.planned++
	}
	return nil
}

func (r *replayer) refuse(e *entry, ref *refusal) {
	r.refused[ref.short]++
	e.verb, e.text = "refused", ref.detail
}

// planEvent makes the record that goes back to the event's source topic, or says why there is none.
func (r *replayer) planEvent(l *sinks.ParkedLetter) (pendingEvent, *refusal) {
	o := l.Origin
	if o.Topic == "" {
		if o.File != "" {
			return pendingEvent{}, refuse("came from a file", "the event came from the file %s (line %d), not from a Kafka topic; `vigil deadletters show --raw %s` prints its bytes",
				o.File, o.Line, l.ID)
		}
		return pendingEvent{}, refuse("source topic unknown", "the letter does not say which topic the event came from (no %s)", sinks.HeaderSourceTopic)
	}
	src, topic := kafkaSourceOf(r.cfg, o.Topic, o.Source)
	if src == nil {
		return pendingEvent{}, refuse("not a source topic", "the event came from topic %s, which is not a topic of any Kafka source in the configuration", o.Topic)
	}
	if l.Truncated > 0 {
		return pendingEvent{}, refuse("payload cut", "the payload was cut to %d of its %d bytes when it was parked: the original record is lost", len(l.Payload), l.Truncated)
	}
	if max := src.Kafka.WithDefaults().MaxRecordBytes; len(l.Payload) > max {
		return pendingEvent{}, refuse("still oversize", "the record (%d bytes) is over max_record_bytes (%d) of source %s: raise it first, or it is parked again",
			len(l.Payload), max, src.Name)
	}
	msg := kafka.Message{Topic: o.Topic, Partition: o.Partition, Value: l.Payload,
		Headers: []kafka.Header{{Key: sinks.HeaderReplayedFrom, Value: []byte(l.ID)}}}
	if topic.MultiTenant {
		if l.Tenant == "" {
			return pendingEvent{}, refuse("tenant unknown", "topic %s is multi-tenant and the letter names no tenant (a dead letter does not keep the record's own headers), so the record would be parked again", o.Topic)
		}
		msg.Headers = append(msg.Headers, kafka.Header{Key: src.Kafka.WithDefaults().TenantHeader, Value: []byte(l.Tenant)})
	}
	return pendingEvent{source: src, msg: msg}, nil
}

// kafkaSourceOf finds the Kafka source that reads topic, preferring the one named name.
func kafkaSourceOf(c *Config, topic, name string) (*SourceConfig, ingest.KafkaTopic) {
	var found *SourceConfig
	var ft ingest.KafkaTopic
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Kafka == nil {
			continue
		}
		for _, t := range s.Kafka.Topics {
			if t.Name == topic && (found == nil || s.Name == name) {
				found, ft = s, t
			}
		}
	}
	return found, ft
}

// checkTopic checks once per source and topic that the topic exists.
func (r *replayer) checkTopic(ctx context.Context, ev pendingEvent) *refusal {
	key := ev.source.Name + "\x00" + ev.msg.Topic
	err, ok := r.topics[key]
	if !ok {
		err = ev.source.Kafka.Check(ctx, ev.msg.Topic)
		if r.topics == nil {
			r.topics = map[string]error{}
		}
		r.topics[key] = err
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kafkaconn.ErrTopicMissing):
		return refuse("source topic missing", "topic %s does not exist any more", ev.msg.Topic)
	}
	return refuse("source unreachable", "source %s: %v", ev.source.Name, err)
}

// planAlert rebuilds the alert of a letter, or says why it cannot be re-indexed.
func (r *replayer) planAlert(l *sinks.ParkedLetter) (pendingAlert, *refusal) {
	if len(searchSinks(r.cfg)) == 0 {
		return pendingAlert{}, refuse("no search sink", "the configuration has no elasticsearch sink to re-index the alert into")
	}
	if l.Truncated > 0 {
		return pendingAlert{}, refuse("payload cut", "the alert document was cut to %d of its %d bytes when it was parked", len(l.Payload), l.Truncated)
	}
	a, err := alertFromLetter(l)
	if err != nil {
		return pendingAlert{}, refuse("not an alert", "%v", err)
	}
	return pendingAlert{alert: a}, nil
}

func searchSinks(c *Config) []sinks.ElasticsearchConfig {
	var out []sinks.ElasticsearchConfig
	for _, s := range c.Sinks {
		if s.Type == "elasticsearch" && s.Elasticsearch != nil {
			out = append(out, *s.Elasticsearch)
		}
	}
	return out
}

// target says where a letter goes.
func (r *replayer) target(l *sinks.ParkedLetter) string {
	if l.Kind == "event" {
		return fmt.Sprintf("topic %s partition %d", l.Origin.Topic, l.Origin.Partition)
	}
	a, _ := alertFromLetter(l)
	if a == nil {
		return "the search sinks"
	}
	return "the search sinks as alert " + a.ID
}

// flush delivers the queued letters, records them in the replay log, and prints every letter since the last flush.
func (r *replayer) flush(ctx context.Context) error {
	err := r.deliver(ctx)
	for _, e := range r.batch {
		if e.verb == "" {
			e.verb, e.text = "failed", "not delivered: see the error below"
		}
		fmt.Fprintf(r.out, "%-12s %s  %s  %s\n", e.verb, e.l.ID, orDash(e.l.Kind), e.text)
	}
	r.batch, r.events, r.alerts = r.batch[:0], r.events[:0], r.alerts[:0]
	return err
}

// deliver delivers the queued letters and records them in the replay log.
func (r *replayer) deliver(ctx context.Context) error {
	if len(r.events)+len(r.alerts) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	now := time.Now()
	delivered, deliverErr := r.deliverEvents(ctx)
	if deliverErr == nil {
		var als []*entry
		als, deliverErr = r.deliverAlerts(ctx)
		delivered = append(delivered, als...)
	}
	recs := make([]sinks.ReplayRecord, len(delivered))
	for i, e := range delivered {
		recs[i] = sinks.ReplayRecord{ID: e.l.ID, Replayed: now, To: r.target(e.l)}
	}
	if len(recs) > 0 {
		if err := r.queue.record(ctx, recs); err != nil {
			for _, e := range delivered {
				e.verb, e.text = "delivered", "but not recorded in the replay log"
			}
			return fmt.Errorf("%d letters were delivered but are not in the %s, so a later replay would send them again: %w",
				len(recs), r.queue.logName(), err)
		}
	}
	for i, e := range delivered {
		r.done[e.l.ID] = recs[i]
		e.verb, e.text = "replayed", "to "+recs[i].To
		if e.l.Kind == "event" {
			r.replayedEvents++
		} else {
			r.replayedAlerts++
		}
	}
	return deliverErr
}

func (r *replayer) close() {
	for _, w := range r.writers {
		w.Close()
	}
	for _, s := range r.search {
		s.Close()
	}
}

// summary prints the counts: replayed, skipped as replayed already, refused by reason.
func (r *replayer) summary() {
	refused := 0
	var why []string
	for _, short := range slices.Sorted(maps.Keys(r.refused)) {
		refused += r.refused[short]
		why = append(why, fmt.Sprintf("%d %s", r.refused[short], short))
	}
	var b strings.Builder
	if r.dryRun {
		fmt.Fprintf(&b, "dry run: %d would be replayed", r.planned)
	} else {
		fmt.Fprintf(&b, "%d replayed (%s sent back to the source topics, %s re-indexed", r.replayedEvents+r.replayedAlerts,
			plural(r.replayedEvents, "event"), plural(r.replayedAlerts, "alert"))
		if r.replayedAlerts > 0 {
			fmt.Fprintf(&b, ": %d new in the index, %d there already", r.created, r.duplicates)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ", %d skipped as replayed already, %d refused", r.skipped, refused)
	if len(why) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(why, ", "))
	}
	if r.unselected > 0 {
		fmt.Fprintf(&b, ", %d not matching the filters", r.unselected)
	}
	fmt.Fprintf(r.out, "%s, from the %s\n", b.String(), r.queue)
}

// plural is "1 event", "2 events".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

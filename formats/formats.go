// Package formats turns raw records into event trees: the first step of ingest, before detection. A source names
// the format of its records (a Kafka topic's or a file source's `format`), and the Decoder maps each record to ECS
// fields, then runs the source's message parsers over it. Rules see the same field types whatever the format: every
// decoder builds its tree with fields.Builder, which makes the tree fields.Parse makes of the same fields as JSON.
//
// One file per format:
//
//	json.go     json: one JSON object per record (the default, and what Vigil read before formats existed)
//	syslog.go   syslog: RFC 5424 and RFC 3164, told apart per record
//	cef.go      cef: ArcSight Common Event Format, bare or after a syslog header
//	leef.go     leef: IBM QRadar LEEF 1.0 and 2.0, bare or after a syslog header
//	kv.go       kv: key=value pairs with quoting
//	hec.go      hec: Splunk HEC event objects, the envelope unwrapped
//	formats.go  lines: the record as `message`
//
// and ecs.go (the CEF and LEEF keys with a standard ECS field), parser*.go and dissect.go (message parsers, see
// docs/formats.md).
//
// A decoder never drops a record that has content: a line that does not parse as its format becomes
// {message, event.original, vigil.parse.failed: <format>}, and a parser whose condition holds but whose patterns all
// fail leaves the event as decoded with vigil.parse.failed: <parser>. Only json keeps its old contract: a record that
// is not a JSON object is invalid and dead-lettered. The event's identity for alert ids stays its raw bytes.
package formats

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/vigilsoc/vigil/fields"
)

// Names are the formats a source may name.
var Names = []string{"json", "syslog", "cef", "leef", "kv", "hec", "lines"}

// Config is a source's record format; sources embed it inline, so its keys sit beside the source's own.
type Config struct {
	// Format is json (the default), syslog, cef, leef, kv, hec or lines.
	Format string `yaml:"format"`
	// Timezone is the IANA zone of timestamps that carry none (RFC 3164 syslog, CEF rt without a zone); default UTC.
	Timezone string `yaml:"timezone"`
	// Parsers are message parser files (YAML), applied in order after decoding: the first parser whose condition
	// holds applies (docs/formats.md, "Message parsers").
	Parsers []string `yaml:"parsers"`
}

// Validate checks the format name and the time zone; it reads no parser file (New does).
func (c Config) Validate() error {
	var errs []error
	if c.Format != "" && !slices.Contains(Names, c.Format) {
		errs = append(errs, fmt.Errorf("format %q: want one of %s", c.Format, strings.Join(Names, ", ")))
	}
	if _, err := c.location(); err != nil {
		errs = append(errs, err)
	}
	for i, p := range c.Parsers {
		if p == "" {
			errs = append(errs, fmt.Errorf("parsers[%d]: empty path", i))
		}
	}
	return errors.Join(errs...)
}

func (c Config) location() (*time.Location, error) {
	if c.Timezone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: %w", c.Timezone, err)
	}
	return loc, nil
}

// Decoder decodes the records of one source. It is safe for concurrent use.
type Decoder struct {
	format  string
	decode  func(d *doc, line string, st *state) bool
	loc     *time.Location
	parsers *Parsers
	docs    sync.Pool
}

// state is what a decoder knows about a record besides its text.
type state struct {
	recordTime time.Time // the record's time at the source, for RFC 3164's missing year
	loc        *time.Location
}

// now is the record's time in the source's zone, or the current time when the source gave none.
func (st *state) now() time.Time {
	if st.recordTime.IsZero() {
		return time.Now().In(st.loc)
	}
	return st.recordTime.In(st.loc)
}

// withYear gives a time parsed without a year (year 0) the record's year.
func (st *state) withYear(t time.Time) time.Time {
	if t.Year() != 0 {
		return t
	}
	return t.AddDate(st.now().Year(), 0, 0)
}

// New builds the decoder of cfg and loads its parser files.
func New(cfg Config) (*Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var ps *Parsers
	if len(cfg.Parsers) > 0 {
		var err error
		if ps, err = LoadParsers(cfg.Parsers...); err != nil {
			return nil, err
		}
	}
	return NewWithParsers(cfg, ps)
}

// NewWithParsers builds the decoder of cfg with parsers already loaded (nil for none); cfg.Parsers is ignored.
func NewWithParsers(cfg Config, ps *Parsers) (*Decoder, error) {
	loc, err := cfg.location()
	if err != nil {
		return nil, err
	}
	d := &Decoder{format: cfg.Format, loc: loc, parsers: ps}
	switch cfg.Format {
	case "", "json":
		d.format = "json"
	case "syslog":
		d.decode = decodeSyslog
	case "cef":
		d.decode = embedded("CEF:", cefBody)
	case "leef":
		d.decode = embedded("LEEF:", leefBody)
	case "kv":
		d.decode = decodeKV
	case "hec":
		d.decode = decodeHEC
	case "lines":
		d.decode = decodeLines
	default:
		return nil, fmt.Errorf("format %q: want one of %s", cfg.Format, strings.Join(Names, ", "))
	}
	d.docs.New = func() any { return &doc{} }
	return d, nil
}

// Format is the decoder's format name.
func (d *Decoder) Format() string { return d.format }

// Lines says records are lines of text: a file of them is split at newlines, not into JSON objects.
func (d *Decoder) Lines() bool { return d.format != "json" }

// Decode turns one record into an event tree. recordTime is the record's time at the source (the Kafka timestamp,
// or when a line was read); it completes timestamps without a year. An error means the record cannot become an
// event (empty, or not a JSON object for json) and must be dead-lettered. The tree may point into raw, which must
// not change afterwards.
func (d *Decoder) Decode(raw []byte, recordTime time.Time) (fields.Value, error) {
	if d.decode == nil {
		return d.decodeJSON(raw, recordTime)
	}
	line := strings.TrimRight(unsafe.String(unsafe.SliceData(raw), len(raw)), "\r\n")
	if strings.TrimSpace(line) == "" {
		return fields.Value{}, errors.New("empty record")
	}
	dc := d.docs.Get().(*doc)
	defer d.docs.Put(dc)
	dc.reset()
	st := state{recordTime: recordTime, loc: d.loc}
	if !d.decode(dc, line, &st) {
		dc.reset()
		failed(dc, line, d.format)
	}
	if d.parsers == nil {
		return dc.tree()
	}
	// The parsers read the decoded fields, and a tree of the fields they read only if a condition needs CEL; the
	// event's tree is built once, with what the parser added.
	var view fields.Value
	d.parsers.apply(fieldSource{lookup: dc.lookup, tree: func() fields.Value {
		if !view.Exists() {
			view, _ = dc.subtree(d.parsers.reads, d.parsers.whole)
		}
		return view
	}}, dc, &st)
	view.Release()
	return dc.tree()
}

// failed writes the event of a line that does not parse as its format.
func failed(d *doc, line, format string) {
	d.str("message", line)
	d.str("event.original", line)
	d.str("vigil.parse.failed", format)
}

// decodeLines is the lines format: the whole line is the message.
func decodeLines(d *doc, line string, _ *state) bool {
	d.str("message", line)
	d.str("event.original", line)
	return true
}

// Package ingest holds Vigil's sources and the decoding of records into events: JSON Lines files and standard input
// (File), and Kafka consumer groups (Kafka). Sources assign each event its tenant and mark records that cannot be
// processed as invalid, with the reason, so the pipeline dead-letters them instead of dropping them.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/formats"
)

// FileConfig configures a File source.
type FileConfig struct {
	// Paths are the files to read, in order; "-" is standard input.
	Paths []string `yaml:"paths"`
	// Tenant is the tenant of every event read.
	Tenant string `yaml:"tenant"`
	// Follow keeps reading as the files grow, like `tail -f`, instead of ending at the end of the last file.
	Follow bool `yaml:"follow"`
	// BatchSize is the most events returned by one Read. Default 500.
	BatchSize int `yaml:"batch_size"`
	// MaxRecordBytes bounds one record; a larger one is dead-lettered. Default 1 MiB.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// PollInterval is how often a followed file is checked for new data. Default 250ms.
	PollInterval time.Duration `yaml:"poll_interval"`
	// AlertID is "content" (default) or "event_id", as for a Kafka topic (KafkaTopic.AlertID).
	AlertID string `yaml:"alert_id"`
	// Config is the records' format, time zone and message parsers, inline, as for a Kafka topic (docs/formats.md).
	// With a format other than json, every non-empty line is one record.
	formats.Config `yaml:",inline"`
}

// The values of alert_id.
const (
	AlertIDContent = "content"
	AlertIDEventID = "event_id"
)

func checkAlertID(s string) error {
	if s != "" && s != AlertIDContent && s != AlertIDEventID {
		return fmt.Errorf("alert_id %q: want content (the default) or event_id", s)
	}
	return nil
}

// DefaultMaxRecordBytes is the default size limit of one record.
const DefaultMaxRecordBytes = 1 << 20

func (c *FileConfig) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.MaxRecordBytes <= 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 250 * time.Millisecond
	}
}

// Validate checks the configuration without touching the files.
func (c *FileConfig) Validate() error {
	if len(c.Paths) == 0 {
		return errors.New("file source: paths: at least one path is required")
	}
	if c.Tenant == "" {
		return errors.New("file source: tenant is required")
	}
	if err := vigil.CheckTenant(c.Tenant); err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	if err := checkAlertID(c.AlertID); err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	if err := c.Config.Validate(); err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	return nil
}

// File reads JSON objects from files or standard input. Its acks are no-ops: a file has no offsets to commit.
type File struct {
	name   string
	cfg    FileConfig
	stdin  io.Reader
	dec    *formats.Decoder
	events chan *vigil.Event
	errc   chan error
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewFile starts reading; stdin is used for the path "-".
func NewFile(name string, cfg FileConfig, stdin io.Reader) (*File, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, p := range cfg.Paths {
		if p == "-" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("file source %s: %w", name, err)
		}
	}
	dec, err := formats.New(cfg.Config)
	if err != nil {
		return nil, fmt.Errorf("file source %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &File{name: name, cfg: cfg, dec: dec, stdin: stdin, events: make(chan *vigil.Event, cfg.BatchSize),
		errc: make(chan error, 1), cancel: cancel}
	f.wg.Add(1)
	go f.readAll(ctx)
	return f, nil
}

// readAll reads the files one after the other; in follow mode, where a file never ends, all at once.
func (f *File) readAll(ctx context.Context) {
	defer f.wg.Done()
	defer close(f.events)
	if !f.cfg.Follow {
		for _, p := range f.cfg.Paths {
			if err := f.readOne(ctx, p); err != nil {
				f.fail(ctx, err)
				return
			}
		}
		return
	}
	var wg sync.WaitGroup
	for _, p := range f.cfg.Paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.readOne(ctx, p); err != nil {
				f.fail(ctx, err)
			}
		}()
	}
	wg.Wait()
}

// fail records the first read error, to be returned by Read at the end of the events.
func (f *File) fail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	select {
	case f.errc <- err:
	default:
	}
}

func (f *File) readOne(ctx context.Context, path string) error {
	var r io.Reader = f.stdin
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("file source %s: %w", f.name, err)
		}
		defer fh.Close()
		// Closing the file on cancellation ends a read that waits on a pipe or FIFO that never ends.
		defer context.AfterFunc(ctx, func() { fh.Close() })()
		r = fh
		if f.cfg.Follow {
			r = &tailReader{ctx: ctx, f: fh, poll: f.cfg.PollInterval}
		}
	}
	rr := NewRecordReader(r, f.cfg.MaxRecordBytes)
	if f.dec.Lines() {
		rr = NewLineReader(r, f.cfg.MaxRecordBytes)
	}
	for {
		rec, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("file source %s: read %s: %w", f.name, path, err)
		}
		ev := &vigil.Event{
			Raw:          rec.Data,
			Origin:       vigil.Origin{Source: f.name, File: path, Line: rec.Line},
			Tenant:       f.cfg.Tenant,
			Received:     time.Now(),
			TrustEventID: f.cfg.AlertID == AlertIDEventID,
		}
		DecodeWith(f.dec, ev, rec.Err)
		select {
		case f.events <- ev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// DecodeInto decodes ev.Raw, a JSON object, into ev.Fields, or marks the event invalid with the reason. framingErr is
// a problem the reader found before decoding (an oversized or cut-off record).
func DecodeInto(ev *vigil.Event, framingErr error) { DecodeWith(nil, ev, framingErr) }

// DecodeWith decodes ev.Raw with dec (nil: JSON) into ev.Fields, or marks the event invalid with the reason. The
// record's time is its Origin.Time, else when it was received.
func DecodeWith(dec *formats.Decoder, ev *vigil.Event, framingErr error) {
	switch {
	case errors.Is(framingErr, ErrOversize):
		ev.Invalid = "oversize: " + framingErr.Error()
	case framingErr != nil:
		ev.Invalid = "decode: " + framingErr.Error()
	case dec != nil:
		tree, err := dec.Decode(ev.Raw, cmp.Or(ev.Origin.Time, ev.Received))
		if err != nil {
			ev.Invalid = "decode: " + err.Error()
			return
		}
		ev.Fields = tree
	default:
		tree, err := fields.Parse(ev.Raw)
		if err != nil {
			ev.Invalid = "decode: " + err.Error()
			return
		}
		ev.Fields = tree
	}
}

// Read implements vigil.Source: it waits for one event, then takes what else is ready, up to the batch size.
func (f *File) Read(ctx context.Context) ([]*vigil.Event, vigil.AckFunc, error) {
	var batch []*vigil.Event
	select {
	case ev, ok := <-f.events:
		if !ok {
			return nil, nil, f.endErr()
		}
		batch = append(batch, ev)
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	for len(batch) < f.cfg.BatchSize {
		select {
		case ev, ok := <-f.events:
			if !ok {
				return batch, nil, nil
			}
			batch = append(batch, ev)
		default:
			return batch, nil, nil
		}
	}
	return batch, nil, nil
}

func (f *File) endErr() error {
	select {
	case err := <-f.errc:
		return err
	default:
		return io.EOF
	}
}

// Close stops reading. A reader blocked on standard input, which cannot be interrupted, is left behind after
// closeWait: the process is about to exit.
func (f *File) Close() error {
	f.cancel()
	go func() {
		for range f.events { // unblock the reader
		}
	}()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeWait):
	}
	return nil
}

const closeWait = 2 * time.Second

// tailReader reads a growing file: at the end it waits for more data instead of returning io.EOF, and starts over
// when the file is truncated (log rotation by copy-truncate).
type tailReader struct {
	ctx  context.Context
	f    *os.File
	poll time.Duration
	off  int64
}

func (t *tailReader) Read(p []byte) (int, error) {
	for {
		n, err := t.f.Read(p)
		t.off += int64(n)
		if n > 0 || !errors.Is(err, io.EOF) {
			return n, err
		}
		if info, serr := t.f.Stat(); serr == nil && info.Size() < t.off {
			if _, err := t.f.Seek(0, io.SeekStart); err != nil {
				return 0, err
			}
			t.off = 0
			continue
		}
		select {
		case <-t.ctx.Done():
			return 0, t.ctx.Err()
		case <-time.After(t.poll):
		}
	}
}

// Package sinks holds where alerts go: the Elasticsearch/OpenSearch bulk indexer, Kafka, JSON Lines files and a
// human-readable summary on standard output; and the dead-letter queues for what cannot be processed. Every sink's
// Write returns only when each alert is stored or dead-lettered.
package sinks

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vigilsoc/vigil"
)

// File writes one alert document per line to a file (appending) or, for the path "-", to an io.Writer such as
// standard output. Each Write is flushed and, for a file, synced to disk before it returns.
//
// An Update alert (vigil.Alert.Update) is appended like any other, once per version: the file then holds several
// lines with the same vigil.alert.id, and the last one is the alert's current version. A file has no analyst
// fields to keep, so nothing is merged.
type File struct {
	// DeadLetters, when set, parks an alert that cannot be encoded as JSON (with the matching record's bytes as the
	// payload, reason "encode") and the write goes on; without it such an alert fails the Write.
	DeadLetters vigil.DeadLetterQueue

	mu      sync.Mutex
	path    string
	f       *os.File
	w       *bufio.Writer
	regular bool // only regular files are synced: /dev/null or a pipe cannot be
}

// FileOptions say how NewFileWith opens the file.
type FileOptions struct {
	// Truncate empties the file when it is opened, so that a run over sources read from their start (the
	// quickstart's sample files) replaces the alerts of the run before instead of appending a second copy of them.
	// Never with a source that resumes where it stopped (Kafka): the alerts of the records committed before the
	// restart would be lost.
	Truncate bool
}

// NewFile opens path for appending, creating it (mode 0640) if needed; "-" writes to stdout.
func NewFile(path string, stdout io.Writer) (*File, error) {
	return NewFileWith(path, stdout, FileOptions{})
}

// NewFileWith opens path as NewFile does, with opts; "-" writes to stdout, and opts do not apply to it.
func NewFileWith(path string, stdout io.Writer, opts FileOptions) (*File, error) {
	s := &File{path: path}
	if path == "-" {
		s.w = bufio.NewWriter(stdout)
		return s, nil
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if opts.Truncate {
		flags |= os.O_TRUNC // a FIFO or a device ignores it
	}
	f, err := os.OpenFile(path, flags, 0o640)
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	s.f, s.w = f, bufio.NewWriter(f)
	if info, err := f.Stat(); err == nil {
		s.regular = info.Mode().IsRegular()
	}
	if s.regular {
		if err := endTornLine(path); err != nil {
			f.Close()
			return nil, fmt.Errorf("file sink: %w", err)
		}
	}
	return s, nil
}

// endTornLine ends the file's last line when a crash cut it short, so the next alert starts on a line of its own:
// otherwise it would be glued to the torn one and both lost to readers. The torn line stays, as evidence; its alert
// is written again after the restart, since its batch was never acknowledged.
func endTornLine(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, info.Size()-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	_, err = f.Write([]byte("\n"))
	return err
}

// Write implements vigil.Sink.
func (s *File) Write(ctx context.Context, alerts []*vigil.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var letters []vigil.DeadLetter
	for _, a := range alerts {
		if err := writeJSONLine(s.w, a.Doc); err != nil {
			if s.DeadLetters == nil {
				return fmt.Errorf("file sink %s: alert %s: %w", s.path, a.ID, err)
			}
			letters = append(letters, unencodable(a, err))
		}
	}
	if err := s.flush(); err != nil {
		return err
	}
	if len(letters) > 0 {
		if err := s.DeadLetters.Park(ctx, letters); err != nil {
			return fmt.Errorf("file sink %s: park %d unencodable alerts: %w", s.path, len(letters), err)
		}
	}
	return nil
}

// unencodable is the dead letter of an alert whose document cannot be encoded: the record it came from is the
// payload, so it can be processed again once the cause is fixed.
func unencodable(a *vigil.Alert, err error) vigil.DeadLetter {
	l := vigil.DeadLetter{Kind: "alert", Reason: "encode", Tenant: a.Tenant,
		Detail: fmt.Sprintf("alert %s of rule %s cannot be encoded as JSON: %v", a.ID, a.RuleID, err)}
	if a.Event != nil {
		l.Payload, l.Origin = a.Event.Raw, a.Event.Origin
	}
	return l
}

func (s *File) flush() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("file sink %s: %w", s.path, err)
	}
	if s.f != nil && s.regular {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("file sink %s: sync: %w", s.path, err)
		}
	}
	return nil
}

// Close flushes and closes the file.
func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.flush()
	if s.f != nil {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// writeJSONLine writes v as one line of JSON, without escaping <, > and & (alerts are not embedded in HTML).
func writeJSONLine(w *bufio.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

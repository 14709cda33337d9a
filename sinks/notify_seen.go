package sinks

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// notifiedIDs remembers which alerts were notified, for TTL, so that a later version of an alert (Alert.Update) or a
// replay of it does not notify again. It is kept in memory and in an append-only log (one "<unix nanoseconds> <id>"
// line per alert, synced before the Write that added them returns). The log is rewritten with only the live ids when
// it holds more than twice as many lines as there are live ids; expired ids leave memory within a minute.
//
// Memory is about 100 bytes per id notified within the TTL. Not safe for concurrent use: the sink serializes Writes.
type notifiedIDs struct {
	path      string
	f         *os.File
	ttl       time.Duration
	ids       map[string]int64 // id → when notified, Unix nanoseconds
	lines     int              // lines in the log
	lastPrune time.Time
}

// openNotifiedIDs reads the log at path (creating it), dropping ids older than ttl and a line a crash cut short.
func openNotifiedIDs(path string, ttl time.Duration, now time.Time) (*notifiedIDs, error) {
	s := &notifiedIDs{path: path, ttl: ttl, ids: map[string]int64{}, lastPrune: now}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for line := range bytes.Lines(data) {
		if !bytes.HasSuffix(line, []byte("\n")) {
			break // torn by a crash: its Write never returned
		}
		at, id, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte(" "))
		t, err := strconv.ParseInt(string(at), 10, 64)
		if !ok || err != nil {
			continue
		}
		if now.UnixNano()-t < int64(ttl) {
			s.ids[string(id)] = t
		}
	}
	if err := s.compact(); err != nil {
		return nil, err
	}
	return s, nil
}

// has says whether id was notified within the TTL.
func (s *notifiedIDs) has(id string) bool {
	_, ok := s.ids[id]
	return ok
}

// add records ids as notified at now, durably.
func (s *notifiedIDs) add(ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	var b bytes.Buffer
	for _, id := range ids {
		s.ids[id] = now.UnixNano()
		fmt.Fprintf(&b, "%d %s\n", now.UnixNano(), id)
	}
	s.lines += len(ids)
	if _, err := s.f.Write(b.Bytes()); err != nil {
		return fmt.Errorf("notified ids %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("notified ids %s: %w", s.path, err)
	}
	return s.prune(now)
}

// prune forgets expired ids, at most once a minute, and compacts the log once it is mostly dead lines.
func (s *notifiedIDs) prune(now time.Time) error {
	if now.Sub(s.lastPrune) < time.Minute {
		return nil
	}
	s.lastPrune = now
	for id, t := range s.ids {
		if now.UnixNano()-t >= int64(s.ttl) {
			delete(s.ids, id)
		}
	}
	if s.lines <= 2*len(s.ids)+1024 {
		return nil
	}
	return s.compact()
}

// compact rewrites the log with the live ids only, and reopens it for appending.
func (s *notifiedIDs) compact() error {
	var b bytes.Buffer
	for id, t := range s.ids {
		fmt.Fprintf(&b, "%d %s\n", t, id)
	}
	if err := writeFileSynced(s.path, b.Bytes()); err != nil {
		return fmt.Errorf("notified ids %s: %w", s.path, err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("notified ids %s: %w", s.path, err)
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.lines = f, len(s.ids)
	return nil
}

// close closes the log.
func (s *notifiedIDs) close() error { return s.f.Close() }

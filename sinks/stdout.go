package sinks

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vigilsoc/vigil"
)

// Summary prints one human-readable line per alert, for a terminal:
//
//	2026-11-24T09:14:03Z high     acme  vigil.auth.ssh_bruteforce  host=web-01 user=root source.ip=203.0.113.9
type Summary struct {
	mu sync.Mutex
	w  io.Writer
}

// NewSummary writes to w.
func NewSummary(w io.Writer) *Summary { return &Summary{w: w} }

// Write implements vigil.Sink.
func (s *Summary) Write(ctx context.Context, alerts []*vigil.Alert) error {
	var b strings.Builder
	for _, a := range alerts {
		b.WriteString(SummaryLine(a))
		b.WriteByte('\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		return fmt.Errorf("summary sink: %w", err)
	}
	return nil
}

// Close implements vigil.Sink.
func (s *Summary) Close() error { return nil }

// SummaryLine formats an alert as one line: event time, severity, tenant, rule id and the entities involved.
func SummaryLine(a *vigil.Alert) string {
	sev, _ := docPath(a.Doc, "vigil", "alert", "severity").(string)
	line := fmt.Sprintf("%s %-8s %-10s %s", a.Time.UTC().Format(time.RFC3339), sev, a.Tenant, a.RuleID)
	for _, f := range [][]string{{"host", "name"}, {"user", "name"}, {"source", "ip"}, {"destination", "ip"}, {"process", "name"}} {
		if v := docPath(a.Doc, f...); v != nil {
			line += fmt.Sprintf(" %s=%v", strings.Join(f, "."), v)
		}
	}
	return line
}

// Fanout writes every batch to several sinks in turn; it fails if any of them fails.
type Fanout []vigil.Sink

// Write implements vigil.Sink.
func (f Fanout) Write(ctx context.Context, alerts []*vigil.Alert) error {
	for _, s := range f {
		if err := s.Write(ctx, alerts); err != nil {
			return err
		}
	}
	return nil
}

// Close closes every sink and returns the first error.
func (f Fanout) Close() error {
	var first error
	for _, s := range f {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// docPath reads a field of an alert document.
func docPath(doc map[string]any, path ...string) any { return vigil.Get(doc, path...) }

package sinks

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vigilsoc/vigil"
)

// DeadLetterFile parks dead letters as JSON lines in a file, for sources that have no Kafka to write them to. Each
// line holds the reason, the detail, where the payload came from, and the payload itself (as text when it is valid
// UTF-8, else base64 in payload_base64).
type DeadLetterFile struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

// NewDeadLetterFile opens path for appending.
func NewDeadLetterFile(path string) (*DeadLetterFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("dead-letter file: %w", err)
	}
	if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
		if err := endTornLine(path); err != nil {
			f.Close()
			return nil, fmt.Errorf("dead-letter file: %w", err)
		}
	}
	return &DeadLetterFile{f: f, w: bufio.NewWriter(f)}, nil
}

// DeadLetterDoc is the JSON form of a dead letter, shared by the file and Kafka queues.
func DeadLetterDoc(l vigil.DeadLetter, now time.Time) map[string]any {
	d := map[string]any{
		"@timestamp": now.UTC().Format(time.RFC3339Nano),
		"kind":       l.Kind,
		"reason":     l.Reason,
		"detail":     l.Detail,
		"tenant":     l.Tenant,
		"origin":     l.Origin.Doc(),
	}
	if utf8.Valid(l.Payload) {
		d["payload"] = string(l.Payload)
	} else {
		d["payload_base64"] = l.Payload // encoding/json writes []byte as base64
	}
	return d
}

// Park implements vigil.DeadLetterQueue.
func (q *DeadLetterFile) Park(ctx context.Context, letters []vigil.DeadLetter) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	for _, l := range letters {
		if err := writeJSONLine(q.w, DeadLetterDoc(l, now)); err != nil {
			return fmt.Errorf("dead-letter file: %w", err)
		}
	}
	if err := q.w.Flush(); err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	return q.f.Sync()
}

// Close flushes and closes the file.
func (q *DeadLetterFile) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.w.Flush(); err != nil {
		return err
	}
	return q.f.Close()
}

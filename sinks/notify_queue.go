package sinks

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// routeQueue is one route's durable queue: a folder with one file per notification, named by a sequence number
// that gives the order. A file is written in full and synced under a temporary name, then renamed to
// <seq>.pending, so a file with that name is always complete. Before the first attempt to send it, it is renamed to
// <seq>.sending (and the folder synced): after a crash, such a file may have reached the receiver, and is sent again
// marked as a possible duplicate. Once delivered it is removed.
//
// Only the names are kept in memory; the sender reads a notification's file when it comes to it.
type routeQueue struct {
	dir  string
	max  int
	wake chan struct{} // signalled when items are added

	mu    sync.Mutex
	items []*queued // in sequence order; items[0] is the one being sent
	next  uint64    // the sequence number of the next file
}

// queued is one notification in a route's queue.
type queued struct {
	seq uint64
	// sending: an attempt to send it started, in this process or before a restart.
	sending bool
	// earlier: an attempt started before the queue was opened, so the receiver may already have it.
	earlier bool
}

const (
	pendingExt = ".pending"
	sendingExt = ".sending"
	tmpExt     = ".tmp"
)

var errQueueFull = errors.New("queue full")

// openRouteQueue opens (creating it if needed) the queue in dir and returns it with the alert ids of the
// notifications still in it.
func openRouteQueue(dir string, limit int) (*routeQueue, []string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	q := &routeQueue{dir: dir, max: limit, wake: make(chan struct{}, 1), next: 1}
	var ids []string
	for _, e := range entries {
		it, ok := parseQueueName(e.Name())
		if !ok {
			if strings.HasSuffix(e.Name(), tmpExt) { // a write the crash cut short: never accepted
				os.Remove(filepath.Join(dir, e.Name()))
			}
			continue
		}
		n, err := q.load(it)
		if err != nil {
			return nil, nil, err
		}
		q.items = append(q.items, it)
		q.next = max(q.next, it.seq+1)
		ids = append(ids, n.Fields.ID)
	}
	slices.SortFunc(q.items, func(a, b *queued) int { return cmp.Compare(a.seq, b.seq) })
	return q, ids, nil
}

// parseQueueName reads a queue file's name.
func parseQueueName(name string) (*queued, bool) {
	ext := filepath.Ext(name)
	if ext != pendingExt && ext != sendingExt {
		return nil, false
	}
	seq, err := strconv.ParseUint(strings.TrimSuffix(name, ext), 10, 64)
	if err != nil {
		return nil, false
	}
	return &queued{seq: seq, sending: ext == sendingExt, earlier: ext == sendingExt}, true
}

func (q *routeQueue) path(it *queued) string {
	ext := pendingExt
	if it.sending {
		ext = sendingExt
	}
	return filepath.Join(q.dir, fmt.Sprintf("%020d%s", it.seq, ext))
}

// stage writes a notification's file, synced, and returns its item; the sender sees it only after commit. staged
// is the number of items staged but not yet committed: they count against the bound.
func (q *routeQueue) stage(n *notification, staged int) (*queued, error) {
	q.mu.Lock()
	if len(q.items)+staged >= q.max {
		q.mu.Unlock()
		return nil, errQueueFull
	}
	it := &queued{seq: q.next}
	q.next++
	q.mu.Unlock()
	data, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	return it, writeFileSynced(q.path(it), data)
}

// writeFileSynced writes data to path through a synced temporary file and a rename, so path is complete or absent.
func writeFileSynced(path string, data []byte) error {
	tmp := path + tmpExt
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// commit hands staged items to the sender, after their folder is synced.
func (q *routeQueue) commit(items []*queued) error {
	if len(items) == 0 {
		return nil
	}
	err := syncDir(q.dir)
	q.mu.Lock()
	q.items = append(q.items, items...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return err
}

// syncDir makes the folder's entries (new, renamed files) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// head waits for the oldest notification; false when ctx is done first.
func (q *routeQueue) head(ctx context.Context) (*queued, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.mu.Unlock()
			return it, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// load reads a notification's file.
func (q *routeQueue) load(it *queued) (*notification, error) {
	data, err := os.ReadFile(q.path(it))
	if err != nil {
		return nil, err
	}
	var n notification
	if err := json.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("%s: %w", q.path(it), err)
	}
	return &n, nil
}

// markSending records, durably, that an attempt to send the head item is starting.
func (q *routeQueue) markSending(it *queued) error {
	from := q.path(it)
	it.sending = true
	if err := os.Rename(from, q.path(it)); err != nil {
		return err
	}
	return syncDir(q.dir)
}

// done removes the head item, delivered or given up. The removal is not synced: if a crash undoes it, the file is
// back as <seq>.sending and sent again marked as a possible duplicate.
func (q *routeQueue) done(it *queued) error {
	q.mu.Lock()
	q.items = q.items[1:]
	q.mu.Unlock()
	return os.Remove(q.path(it))
}

// len is the number of notifications waiting, the one being sent included.
func (q *routeQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

package enrich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Table is an in-memory lookup table built from files. Readers get the current version with Get, lock-free; Reload
// builds a new version from the files and swaps it in whole, so a lookup always sees one complete version. When the
// files do not load, the previous version stays in place and the failure is counted.
type Table[T any] struct {
	name  string
	files []string
	load  func(files []string) (*T, error)
	cur   atomic.Pointer[T]

	mu   sync.Mutex // serializes loads and guards seen
	seen []fingerprint

	// Stats counts the table's loads; safe to read at any time.
	Stats TableStats
}

// TableStats are a table's counters.
type TableStats struct {
	// Loads counts successful loads, the first one included.
	Loads atomic.Int64
	// Errors counts loads that failed; the previous version was kept each time.
	Errors atomic.Int64
	// Entries is the size of the current version.
	Entries atomic.Int64
	// LoadedAt is when the current version was loaded, in Unix nanoseconds.
	LoadedAt atomic.Int64
}

// NewTable returns an empty table that load fills from files. Get returns nil until the first successful Reload.
func NewTable[T any](name string, files []string, load func(files []string) (*T, error)) *Table[T] {
	return &Table[T]{name: name, files: files, load: load}
}

// Name identifies the table in logs and metrics.
func (t *Table[T]) Name() string { return t.name }

// Files are the files the table is built from.
func (t *Table[T]) Files() []string { return t.files }

// TableStats returns the table's counters.
func (t *Table[T]) TableStats() *TableStats { return &t.Stats }

// Get returns the current version, or nil when none has loaded. Safe for concurrent use; never blocks.
func (t *Table[T]) Get() *T {
	if t == nil {
		return nil
	}
	return t.cur.Load()
}

// Set replaces the current version directly (for tests and tables built in code).
func (t *Table[T]) Set(v *T) {
	t.cur.Store(v)
	t.Stats.Entries.Store(int64(sizeOf(v)))
	t.Stats.LoadedAt.Store(time.Now().UnixNano())
}

// Reload loads the files and swaps the new version in. On error the current version is kept; the error names the
// file (and line, where the format has lines).
func (t *Table[T]) Reload() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen = fingerprints(t.files)
	return t.reloadLocked()
}

// ReloadIfChanged reloads when any file's identity, size or modification time changed since the last attempt.
// A file that keeps failing is reported once per change, not once per check.
func (t *Table[T]) ReloadIfChanged() (changed bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := fingerprints(t.files)
	if sameFingerprints(t.seen, now) {
		return false, nil
	}
	t.seen = now
	return true, t.reloadLocked()
}

func (t *Table[T]) reloadLocked() error {
	v, err := t.load(t.files)
	if err != nil {
		t.Stats.Errors.Add(1)
		return fmt.Errorf("%s: %w", t.name, err)
	}
	t.Set(v)
	t.Stats.Loads.Add(1)
	return nil
}

func sizeOf(v any) int {
	if l, ok := v.(interface{ Len() int }); ok {
		return l.Len()
	}
	return 0
}

// fingerprint identifies a version of a file without reading it.
type fingerprint struct {
	info os.FileInfo // nil when the file could not be stat'ed
}

func fingerprints(files []string) []fingerprint {
	out := make([]fingerprint, len(files))
	for i, f := range files {
		out[i].info, _ = os.Stat(f) // follows symlinks, so a ConfigMap's ..data swap is a change
	}
	return out
}

func sameFingerprints(a, b []fingerprint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i].info, b[i].info
		switch {
		case x == nil && y == nil:
		case x == nil || y == nil:
			return false
		case !os.SameFile(x, y) || x.Size() != y.Size() || !x.ModTime().Equal(y.ModTime()):
			return false
		}
	}
	return true
}

// Reloadable is a table the Watcher keeps current.
type Reloadable interface {
	Name() string
	Files() []string
	ReloadIfChanged() (bool, error)
	TableStats() *TableStats
}

// Watcher reloads tables whose files change. It watches the files' folders rather than the files, so editors that
// save by writing a new file and renaming it over the old one, and Kubernetes ConfigMap updates, are seen; and it
// polls the files' size and modification time as a fallback.
type Watcher struct {
	cfg    ReloadConfig
	log    *slog.Logger
	tables []Reloadable
}

// NewWatcher returns a watcher for tables; cfg must have its defaults set.
func NewWatcher(cfg ReloadConfig, log *slog.Logger, tables ...Reloadable) *Watcher {
	return &Watcher{cfg: cfg, log: log, tables: tables}
}

// Run watches until ctx is done. It returns an error only when notifications were asked for and cannot be set up.
func (w *Watcher) Run(ctx context.Context) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.cfg.Watch == nil || *w.cfg.Watch {
		fw, err := w.watchDirs()
		if err != nil {
			return err
		}
		defer fw.Close()
		events, errs = fw.Events, fw.Errors
	}
	var poll <-chan time.Time
	if w.cfg.PollInterval > 0 {
		tick := time.NewTicker(w.cfg.PollInterval)
		defer tick.Stop()
		poll = tick.C
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-events:
			debounce.Reset(w.cfg.Debounce)
		case err := <-errs:
			w.log.Warn("watching enrichment files", "err", err)
		case <-debounce.C:
			w.CheckAll()
		case <-poll:
			w.CheckAll()
		}
	}
}

func (w *Watcher) watchDirs() (*fsnotify.Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("enrich: watch files: %w", err)
	}
	added := map[string]bool{}
	for _, t := range w.tables {
		for _, f := range t.Files() {
			dir := filepath.Dir(f)
			if added[dir] {
				continue
			}
			added[dir] = true
			if err := fw.Add(dir); err != nil {
				fw.Close()
				return nil, fmt.Errorf("enrich: watch %s: %w", dir, err)
			}
		}
	}
	return fw, nil
}

// CheckAll reloads every table whose files changed, and logs the outcome.
func (w *Watcher) CheckAll() {
	for _, t := range w.tables {
		start := time.Now()
		changed, err := t.ReloadIfChanged()
		switch {
		case err != nil:
			w.log.Error("enrichment table not reloaded; keeping the previous version", "table", t.Name(), "err", err)
		case changed:
			w.log.Info("enrichment table reloaded", "table", t.Name(), "entries", t.TableStats().Entries.Load(),
				"took", time.Since(start).Round(time.Millisecond))
		}
	}
}

// errNoFiles is returned by loaders given no files.
var errNoFiles = errors.New("no files")

// FileError is an error in a table file, at a line when the format has lines (0 otherwise).
type FileError struct {
	File string
	Line int
	Err  error
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// lineErr builds a FileError from a formatted message.
func lineErr(file string, line int, format string, args ...any) error {
	return &FileError{File: file, Line: line, Err: fmt.Errorf(format, args...)}
}

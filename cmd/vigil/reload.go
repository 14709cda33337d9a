package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vigilsoc/vigil/rules"
)

// ruleReloader keeps the engine's rule set in step with the rule files: when a file under the rule paths changes
// (noticed with fsnotify, debounced) or the process gets SIGHUP, it compiles the whole rule set again, in the same
// CEL environment as at start-up, and only if every file compiles swaps it in with rules.Engine.Swap, one atomic step
// (an event is evaluated entirely against the old set or entirely against the new one). A reload that fails keeps the
// running set, logs every error with its file:line, and shows in vigil_rules_last_reload_successful.
//
// Folders are watched rather than files, so editors that save by writing a new file and renaming it over the old one
// (vim, IntelliJ), and Kubernetes ConfigMap volumes (which swap a ..data symlink), are noticed. A reload triggered by
// the watcher is skipped when the files' content is what the running set was compiled from, so unrelated writes in
// a rule folder cost a hash of the rule files and nothing else.
type ruleReloader struct {
	env    *rules.Env
	files  ruleFiles
	engine *rules.Engine
	// onSwap, when set, is given each new set right after the engine: the correlation engine follows reloads.
	onSwap   func(*rules.RuleSet)
	log      *slog.Logger
	debounce time.Duration

	mu          sync.Mutex // serialises reloads
	fingerprint string     // of the files the last load attempt read

	stats reloadStats
}

// reloadStats are the reloader's counters, exported by ruleCollector.
type reloadStats struct {
	successes   atomic.Int64
	failures    atomic.Int64
	lastOK      atomic.Bool
	lastSuccess atomic.Int64 // Unix nanoseconds of the last successful load, the one at start-up included
}

// ruleReloadDebounce is how long the watcher waits after the last change before reloading, so that a file being
// written, or several files being copied, are read once complete.
const ruleReloadDebounce = 250 * time.Millisecond

// ruleFiles are where a rule set comes from: the rule paths, and the exception list paths (nil: the folders
// beside the rules, rules.DefaultExceptionPaths).
type ruleFiles struct {
	rules, exceptions []string
}

// all are the rule and exception list paths: what is fingerprinted and watched.
func (f ruleFiles) all() []string {
	exc := f.exceptions
	if exc == nil {
		exc = rules.DefaultExceptionPaths(f.rules...)
	}
	return append(slices.Clip(f.rules), exc...)
}

// loadRules compiles the rules under paths with the exception lists under exceptions, and returns with the set the
// fingerprint of the files it read, taken before compiling: a file changed during the load then differs from the
// fingerprint and is loaded again.
func loadRules(env *rules.Env, paths, exceptions []string) (*rules.RuleSet, string, error) {
	fp := ruleFingerprint(ruleFiles{paths, exceptions}.all())
	set, err := env.LoadSetWith(paths, exceptions)
	return set, fp, err
}

// newRuleReloader returns a reloader for engine, whose running set was loaded from files with fingerprint fp.
func newRuleReloader(env *rules.Env, files ruleFiles, engine *rules.Engine, fp string, log *slog.Logger) *ruleReloader {
	r := &ruleReloader{env: env, files: files, engine: engine, log: log, debounce: ruleReloadDebounce, fingerprint: fp}
	r.stats.lastOK.Store(true)
	r.stats.lastSuccess.Store(time.Now().UnixNano())
	return r
}

// ruleFingerprint hashes the names and contents of the rule files under paths; "" when they cannot be listed.
func ruleFingerprint(paths []string) string {
	files, err := rules.Files(paths...)
	if err != nil {
		return ""
	}
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(f))
		h.Write([]byte{0})
		data, err := os.ReadFile(f)
		if err != nil {
			h.Write([]byte("unreadable: " + err.Error()))
		}
		h.Write(data)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Reload compiles the rule files and swaps the new set in. With force false, it does nothing when the files are
// unchanged since the last attempt. trigger names the cause in the log. It reports whether a new set was swapped in.
func (r *ruleReloader) Reload(force bool, trigger string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	fp := ruleFingerprint(r.files.all())
	if !force && fp != "" && fp == r.fingerprint {
		return false
	}
	r.fingerprint = fp
	set, err := r.env.LoadSetWith(r.files.rules, r.files.exceptions)
	if err != nil {
		r.failed(err, trigger)
		return false
	}
	r.swapIn(set, trigger, start)
	return true
}

// failed records and logs a rule set that did not compile; the running set stays.
func (r *ruleReloader) failed(err error, trigger string) {
	r.stats.failures.Add(1)
	r.stats.lastOK.Store(false)
	errs := flattenErrors(err)
	r.log.Error("rules not reloaded: the previous rule set keeps running", "trigger", trigger, "errors", len(errs))
	for _, e := range errs {
		r.log.Error("rule error", "err", e.Error())
	}
}

// swapIn puts a compiled set in service: the engine in one atomic step, then onSwap (correlation); start is when
// the load began, for the log.
func (r *ruleReloader) swapIn(set *rules.RuleSet, trigger string, start time.Time) {
	old := r.engine.Swap(set)
	if r.onSwap != nil {
		r.onSwap(set)
	}
	r.stats.successes.Add(1)
	r.stats.lastOK.Store(true)
	r.stats.lastSuccess.Store(time.Now().UnixNano())
	added, removed, changed := diffRuleSets(old, set)
	r.log.Info("rules reloaded", "trigger", trigger, "rules", len(set.Rules()), "correlations", len(set.Correlations()),
		"disabled", set.Disabled(),
		"added", added, "removed", removed, "changed", changed, "took", time.Since(start).Round(time.Millisecond).String())
}

// diffRuleSets counts the rules added, removed and changed (a new version) from old to cur.
func diffRuleSets(old, cur *rules.RuleSet) (added, removed, changed int) {
	before := map[string]string{}
	if old != nil {
		for _, c := range old.Rules() {
			before[c.ID] = c.Version
		}
	}
	for _, c := range cur.Rules() {
		v, ok := before[c.ID]
		switch {
		case !ok:
			added++
		case v != c.Version:
			changed++
		}
		delete(before, c.ID)
	}
	return added, len(before), changed
}

// flattenErrors lists the errors joined in err, one per rule problem.
func flattenErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// notifyHUP delivers SIGHUP on the returned channel until stop is called (without it, SIGHUP ends the process).
func notifyHUP() (hup <-chan os.Signal, stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	return c, func() { signal.Stop(c) }
}

// Run reloads on every signal from hup and, when watch is set, on changes to the rule files, until ctx is done. A
// watcher that cannot be set up is logged, and SIGHUP still works.
func (r *ruleReloader) Run(ctx context.Context, watch bool, hup <-chan os.Signal) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	var fw *fsnotify.Watcher
	if watch {
		var err error
		if fw, err = fsnotify.NewWatcher(); err == nil {
			err = r.watchPaths(fw)
		}
		if err != nil {
			r.log.Warn("rule files are not watched for changes; reload with SIGHUP", "err", err)
			if fw != nil {
				fw.Close()
				fw = nil
			}
		} else {
			defer fw.Close()
			events, errs = fw.Events, fw.Errors
			r.log.Info("watching rule files for changes", "paths", r.files.all())
			r.Reload(false, "start") // a change made while Vigil was starting
		}
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if r.relevant(fw, ev) {
				debounce.Reset(r.debounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.log.Warn("watching rule files", "err", err)
		case <-debounce.C:
			r.Reload(false, "file change")
		case <-hup:
			if fw != nil { // a folder deleted and created again is watched anew
				if err := r.watchPaths(fw); err != nil {
					r.log.Warn("watching rule files", "err", err)
				}
			}
			r.Reload(true, "SIGHUP")
		}
	}
}

// watchPaths watches every folder that holds rules: a folder path and its subfolders (hidden ones are skipped, as
// rules.Files skips them), and the folder of a file path.
func (r *ruleReloader) watchPaths(fw *fsnotify.Watcher) error {
	for _, p := range r.files.all() {
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !info.IsDir() {
			if err := fw.Add(filepath.Dir(p)); err != nil {
				return err
			}
			continue
		}
		if err := watchTree(fw, p); err != nil {
			return err
		}
	}
	return nil
}

// watchTree watches dir and its non-hidden subfolders.
func watchTree(fw *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		return fw.Add(path)
	})
}

// relevant reports whether ev may change the rule set: a YAML file, a folder (a new one is watched from now on), or
// a Kubernetes ConfigMap's ..data swap. Editors' swap and backup files, and attribute-only changes, are not.
func (r *ruleReloader) relevant(fw *fsnotify.Watcher, ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	base := filepath.Base(ev.Name)
	ext := filepath.Ext(base)
	switch {
	case ext == ".yml" || ext == ".yaml" || strings.HasPrefix(base, "..") || r.named(ev.Name):
		return true
	case strings.HasPrefix(base, "."):
		return false
	case ev.Has(fsnotify.Create):
		info, err := os.Stat(ev.Name)
		if err != nil || !info.IsDir() {
			return false
		}
		if err := watchTree(fw, ev.Name); err != nil {
			r.log.Warn("watching a new rule folder", "folder", ev.Name, "err", err)
		}
		return true
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		return ext == "" // perhaps a folder of rules
	}
	return false
}

// named reports whether path is one of the rule paths given explicitly (a file of any name).
func (r *ruleReloader) named(path string) bool {
	for _, p := range r.files.all() {
		if filepath.Clean(p) == filepath.Clean(path) {
			return true
		}
	}
	return false
}

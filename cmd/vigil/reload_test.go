package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// reloadRuleCount is the number of rules in every generation of TestReloadWhileRunning's rule file.
const reloadRuleCount = 4

// generationRules is generation gen of the rule file: the same rule ids, each matching every event, named after the
// generation (so every generation has new rule versions).
func generationRules(gen int) string {
	var docs []string
	for i := 1; i <= reloadRuleCount; i++ {
		docs = append(docs, fmt.Sprintf("id: test.r%d\nname: gen %d\nseverity: low\ncondition: seq >= 0\n", i, gen))
	}
	return strings.Join(docs, "---\n")
}

// writeAtomically replaces path the way editors that save by rename do.
func writeAtomically(t *testing.T, path, text string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	writeTestFile(t, tmp, text)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// seqSource produces events with an increasing seq, in batches, until stopped.
type seqSource struct {
	next atomic.Int64
	stop atomic.Bool
}

func (s *seqSource) Read(ctx context.Context) ([]*vigil.Event, vigil.AckFunc, error) {
	if s.stop.Load() {
		return nil, nil, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	time.Sleep(time.Millisecond) // leave the machine to the reloads too
	batch := make([]*vigil.Event, 50)
	first := s.next.Add(int64(len(batch))) - int64(len(batch))
	for i := range batch {
		seq := first + int64(i)
		raw := fmt.Sprintf(`{"seq":%d,"event":{"id":"e%d"}}`, seq, seq)
		batch[i] = &vigil.Event{Raw: []byte(raw), Tenant: "acme", Received: time.Now(),
			Fields: fields.MustFromMap(map[string]any{"seq": seq, "event": map[string]any{"id": fmt.Sprintf("e%d", seq)}})}
	}
	return batch, nil, nil
}

func (s *seqSource) Close() error { return nil }

// ruleHit is what an alert says about the rule that fired.
type ruleHit struct{ id, name, version string }

// hitSink records, per event seq, the rules that fired.
type hitSink struct {
	mu   sync.Mutex
	hits map[int64][]ruleHit
}

func (s *hitSink) Write(ctx context.Context, alerts []*vigil.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range alerts {
		r := vigil.Get(a.Doc, "rule").(map[string]any)
		seq := a.Event.Fields.Get("seq").Int()
		s.hits[seq] = append(s.hits[seq], ruleHit{r["id"].(string), r["name"].(string), r["version"].(string)})
	}
	return nil
}

func (s *hitSink) Close() error { return nil }

func (s *hitSink) events() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.hits)
}

// TestReloadWhileRunning edits the rule file again and again while events flow through the pipeline: every event is
// evaluated, and against one whole generation of the rules (never a mix of two); a broken file leaves the running
// generation in place, even when another file changed too, and is reported with its file:line; SIGHUP reloads.
func TestReloadWhileRunning(t *testing.T) {
	dir := t.TempDir()
	setFile, broken := filepath.Join(dir, "set.yml"), filepath.Join(dir, "broken.yml")
	writeTestFile(t, setFile, generationRules(1))
	env, err := newRuleEnv()
	if err != nil {
		t.Fatal(err)
	}
	set, fp, err := loadRules(env, []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	engine := rules.NewEngine(set)
	var logs syncBuffer
	reloader := newRuleReloader(env, ruleFiles{rules: []string{dir}}, engine, fp, slog.New(slog.NewJSONHandler(&logs, nil)))
	reloader.debounce = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	reloaderDone := make(chan struct{})
	go func() { defer close(reloaderDone); reloader.Run(ctx, true, hup) }()
	defer func() { cancel(); <-reloaderDone }()

	src, sink := &seqSource{}, &hitSink{hits: map[int64][]ruleHit{}}
	p := &vigil.Pipeline{Source: src, Detector: engine, Sink: sink, Workers: 2, MaxInFlight: 4}
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(context.Background()) }()
	defer src.stop.Store(true)

	running := func() string { return engine.RuleSet().Rule("test.r1").Name }
	progressed := func() { // lets at least 500 more events through the running generation
		t.Helper()
		n := sink.events()
		waitFor(t, 20*time.Second, "events to flow", func() bool { return sink.events() >= n+500 })
	}
	progressed()
	for gen := 2; gen <= 4; gen++ {
		writeAtomically(t, setFile, generationRules(gen))
		waitFor(t, 10*time.Second, fmt.Sprintf("generation %d to run", gen), func() bool { return running() == fmt.Sprintf("gen %d", gen) })
		progressed()
	}
	writeTestFile(t, broken, "id: test.broken\nname: Broken\nseverity: high\ncondition: event.category ==\n")
	waitFor(t, 10*time.Second, "the failed reload", func() bool { return reloader.stats.failures.Load() == 1 })
	progressed()
	writeAtomically(t, setFile, generationRules(5)) // a good change beside the broken file: still refused
	waitFor(t, 10*time.Second, "the second failed reload", func() bool { return reloader.stats.failures.Load() == 2 })
	progressed()
	if running() != "gen 4" || reloader.stats.lastOK.Load() {
		t.Errorf("with a broken file: running %q, last reload ok %v; want gen 4, false", running(), reloader.stats.lastOK.Load())
	}
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "generation 5 to run", func() bool { return running() == "gen 5" })
	progressed()
	before := reloader.stats.successes.Load()
	hup <- os.Interrupt // any value: the channel stands for SIGHUP
	waitFor(t, 10*time.Second, "the reload on SIGHUP", func() bool { return reloader.stats.successes.Load() == before+1 })
	progressed()
	src.stop.Store(true)
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}

	// Every event: exactly one alert per rule, all from one generation; each generation has its own versions.
	total := src.next.Load()
	versions := map[string]string{} // rule id and generation → version
	gens := map[string]int{}
	for seq := range total {
		hits := sink.hits[seq]
		if len(hits) != reloadRuleCount {
			t.Fatalf("event %d: %d alerts, want %d: %v", seq, len(hits), reloadRuleCount, hits)
		}
		ids := map[string]bool{}
		for _, h := range hits {
			ids[h.id] = true
			if h.name != hits[0].name {
				t.Fatalf("event %d was evaluated against a mix of rule generations: %v", seq, hits)
			}
			key := h.id + "@" + h.name
			if v, ok := versions[key]; ok && v != h.version {
				t.Fatalf("rule %s has versions %s and %s", key, v, h.version)
			}
			versions[key] = h.version
		}
		if len(ids) != reloadRuleCount {
			t.Fatalf("event %d: rules %v, want %d distinct", seq, hits, reloadRuleCount)
		}
		gens[hits[0].name]++
	}
	if len(sink.hits) != int(total) {
		t.Errorf("%d events produced alerts, %d were read", len(sink.hits), total)
	}
	for gen := 1; gen <= 5; gen++ {
		if gens[fmt.Sprintf("gen %d", gen)] == 0 {
			t.Errorf("no event was evaluated against generation %d: %v", gen, gens)
		}
	}
	seen := map[string]bool{}
	for _, v := range versions {
		if seen[v] {
			t.Errorf("two generations share the version %s", v)
		}
		seen[v] = true
	}
	if !reloader.stats.lastOK.Load() || reloader.stats.failures.Load() != 2 {
		t.Errorf("last reload ok %v, failures %d; want true, 2", reloader.stats.lastOK.Load(), reloader.stats.failures.Load())
	}
	var errLines int
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "rule error" {
			errLines++
			if !strings.Contains(rec["err"].(string), "broken.yml:4:") {
				t.Errorf("rule error without the file:line of the problem: %s", line)
			}
		}
	}
	if errLines != 2 {
		t.Errorf("%d rule error lines logged, want 2 (one per failed reload); log:\n%s", errLines, logs.String())
	}
	t.Logf("%d events, by generation %v", total, gens)
}

// TestReloadWatchesFolders: a rule folder created after the start is watched, files that are not rules do not cause
// reloads, and a file given by name is watched whatever its extension.
func TestReloadWatchesFolders(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	named := filepath.Join(other, "extra.rule")
	writeTestFile(t, filepath.Join(dir, "a.yml"), "id: test.a\nname: A\nseverity: low\ncondition: seq >= 0\n")
	writeTestFile(t, named, "id: test.n\nname: N\nseverity: low\ncondition: seq >= 0\n")
	paths := []string{dir, named}
	env, err := newRuleEnv()
	if err != nil {
		t.Fatal(err)
	}
	set, fp, err := loadRules(env, paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	engine := rules.NewEngine(set)
	reloader := newRuleReloader(env, ruleFiles{rules: paths}, engine, fp, slog.New(slog.DiscardHandler))
	reloader.debounce = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); reloader.Run(ctx, true, nil) }()
	defer func() { cancel(); <-done }()
	time.Sleep(100 * time.Millisecond) // the watches are set up

	writeTestFile(t, filepath.Join(dir, "notes.txt"), "not a rule")
	writeTestFile(t, filepath.Join(dir, "a.yml~"), "an editor's backup")
	time.Sleep(300 * time.Millisecond)
	if n := reloader.stats.successes.Load() + reloader.stats.failures.Load(); n != 0 {
		t.Errorf("%d reloads after writing files that are not rules, want 0", n)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(sub, "b.yml"), "id: test.b\nname: B\nseverity: low\ncondition: seq >= 0\n")
	waitFor(t, 10*time.Second, "the rule in the new folder", func() bool { return engine.RuleSet().Rule("test.b") != nil })
	writeTestFile(t, filepath.Join(sub, "b.yml"), "id: test.b\nname: B2\nseverity: low\ncondition: seq >= 0\n")
	waitFor(t, 10*time.Second, "the edit in the new folder", func() bool { return engine.RuleSet().Rule("test.b").Name == "B2" })
	writeTestFile(t, named, "id: test.n\nname: N2\nseverity: low\ncondition: seq >= 0\n")
	waitFor(t, 10*time.Second, "the edit of the named file", func() bool { return engine.RuleSet().Rule("test.n").Name == "N2" })
	if engine.RuleSet().Rule("test.a") == nil {
		t.Error("rule test.a is gone")
	}
}

package bench

import (
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// Workload is a rule set and the events to run it on.
type Workload struct {
	Name   string
	Rules  []*rules.Rule
	Events [][]byte
}

// Result is one workload's measurement. The optimized path is Vigil's: the hand-written decoder, the prefilter index
// and a reused activation. The baseline is the naive path measured in the same run on the same events: encoding/json
// into map[string]any, then every rule's (same, compiled) program evaluated with a fresh map activation. Both include
// building the alerts. Both run on one goroutine, so the ratio compares per-core work.
type Result struct {
	Workload             string  `json:"workload"`
	Rules                int     `json:"rules"`
	Events               int     `json:"events"`
	Alerts               int     `json:"alerts"`
	EventsPerSec         float64 `json:"events_per_sec"`
	MicrosPerEvent       float64 `json:"us_per_event"`
	AllocsPerEvent       float64 `json:"allocs_per_event"`
	BaselineEventsPerSec float64 `json:"baseline_events_per_sec"`
	BaselineEvents       int     `json:"baseline_events"`
	Ratio                float64 `json:"ratio"`
	// IndexedRules and AlwaysRules split the rules into those the prefilter index selects by field values and those
	// evaluated on every event; MeanCandidates is how many rules were evaluated per event on average.
	IndexedRules   int     `json:"indexed_rules"`
	AlwaysRules    int     `json:"always_rules"`
	MeanCandidates float64 `json:"mean_candidates"`
}

// Options bound a run.
type Options struct {
	// MinDuration is how long each measured loop runs at least (repeating the events); default 1s.
	MinDuration time.Duration
	// BaselineBudget bounds the baseline's run time; it measures a prefix of the events. Default 2s.
	BaselineBudget time.Duration
}

func (o *Options) defaults() {
	if o.MinDuration <= 0 {
		o.MinDuration = time.Second
	}
	if o.BaselineBudget <= 0 {
		o.BaselineBudget = 2 * time.Second
	}
}

// Run measures a workload.
func Run(env *rules.Env, w Workload, opts Options) (Result, error) {
	opts.defaults()
	set, err := env.CompileSet(w.Rules)
	if err != nil {
		return Result{}, fmt.Errorf("bench %s: %w", w.Name, err)
	}
	res := Result{Workload: w.Name, Rules: len(set.Rules()), Events: len(w.Events)}
	res.IndexedRules, res.AlwaysRules, _ = set.IndexStats()
	engine := rules.NewEngine(set)

	// Optimized: repeat the events until MinDuration has passed.
	var alerts []*vigil.Alert
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	n := 0
	for time.Since(start) < opts.MinDuration || n < len(w.Events) {
		raw := w.Events[n%len(w.Events)]
		tree, err := fields.Parse(raw)
		if err != nil {
			return res, fmt.Errorf("bench %s: event %d: %w", w.Name, n%len(w.Events), err)
		}
		ev := &vigil.Event{Raw: raw, Fields: tree, Tenant: rules.DefaultTenant}
		alerts = engine.Detect(ev, alerts[:0])
		tree.Release() // as the pipeline does once the batch is written
		if n < len(w.Events) {
			res.Alerts += len(alerts)
		}
		n++
	}
	took := time.Since(start)
	runtime.ReadMemStats(&ms1)
	res.EventsPerSec = float64(n) / took.Seconds()
	res.MicrosPerEvent = float64(took.Microseconds()) / float64(n)
	res.AllocsPerEvent = float64(ms1.Mallocs-ms0.Mallocs) / float64(n)
	var evals int64
	for _, s := range engine.Stats() {
		evals += s.Evaluations.Load()
	}
	res.MeanCandidates = float64(evals) / float64(n)

	// Baseline on a prefix of the same events, within its budget. The rules' CEL programs, which the baseline
	// evaluates, are compiled on their first use (Vigil itself evaluates most conditions natively): one untimed event
	// first, so the baseline does not pay for compiling.
	if len(w.Events) > 0 {
		if _, err := naiveDetect(set, w.Events[0]); err != nil {
			return res, err
		}
	}
	start = time.Now()
	for i := 0; i < len(w.Events) && (i < 100 || time.Since(start) < opts.BaselineBudget); i++ {
		if _, err := naiveDetect(set, w.Events[i]); err != nil {
			return res, err
		}
		res.BaselineEvents++
	}
	res.BaselineEventsPerSec = float64(res.BaselineEvents) / time.Since(start).Seconds()
	res.Ratio = res.EventsPerSec / res.BaselineEventsPerSec
	return res, nil
}

// naiveDetect is the baseline: decode with encoding/json and evaluate every rule with a fresh map activation. Alerts
// are built as Vigil builds them, from the decoded tree, which is made for the events that match.
func naiveDetect(set *rules.RuleSet, raw []byte) ([]*vigil.Alert, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	var ev *vigil.Event
	var out []*vigil.Alert
	now := time.Now()
	for _, c := range set.Rules() {
		if !c.NaiveMatch(m) {
			continue
		}
		if ev == nil {
			tree, err := fields.Parse(raw)
			if err != nil {
				return nil, err
			}
			ev = &vigil.Event{Raw: raw, Fields: tree, Tenant: rules.DefaultTenant}
		}
		out = append(out, rules.NewAlert(c, ev, now))
	}
	return out, nil
}

// CompileResult measures loading a rule set: compile time and retained heap per rule.
type CompileResult struct {
	Rules        int     `json:"rules"`
	Seconds      float64 `json:"compile_seconds"`
	BytesPerRule float64 `json:"bytes_per_rule"`
}

// MeasureCompile compiles rs and reports the time and the heap the compiled set keeps (after a GC), per rule.
func MeasureCompile(env *rules.Env, rs []*rules.Rule) (CompileResult, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	set, err := env.CompileSet(rs)
	took := time.Since(start)
	if err != nil {
		return CompileResult{}, err
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(set)
	retained := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	return CompileResult{Rules: len(rs), Seconds: took.Seconds(), BytesPerRule: retained / float64(len(rs))}, nil
}

// MemoryResult is the live heap after each of several passes over the same events: flat means no growth.
type MemoryResult struct {
	Passes    int       `json:"passes"`
	Events    int       `json:"events_per_pass"`
	HeapBytes []float64 `json:"heap_bytes_after_pass"`
}

// MeasureMemory replays the events passes times through the engine and records the live heap after each pass.
func MeasureMemory(env *rules.Env, w Workload, passes int) (MemoryResult, error) {
	set, err := env.CompileSet(w.Rules)
	if err != nil {
		return MemoryResult{}, err
	}
	engine := rules.NewEngine(set)
	res := MemoryResult{Passes: passes, Events: len(w.Events)}
	var alerts []*vigil.Alert
	for range passes {
		for _, raw := range w.Events {
			tree, err := fields.Parse(raw)
			if err != nil {
				return res, err
			}
			alerts = engine.Detect(&vigil.Event{Raw: raw, Fields: tree, Tenant: rules.DefaultTenant}, alerts[:0])
			tree.Release()
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		res.HeapBytes = append(res.HeapBytes, float64(ms.HeapAlloc))
	}
	runtime.KeepAlive(engine)
	return res, nil
}

package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/vigilsoc/vigil/bench"
	"github.com/vigilsoc/vigil/rules"
)

// benchDetection, benchExtra and benchCorrelation name the workloads --workload selects: the detection table's,
// compile and memory (run together), and the correlation workloads.
var (
	benchDetection   = []string{"decode", "rules-100", "rules-1000", "rules-10000", "otrf-1000"}
	benchExtra       = []string{"compile", "memory"}
	benchCorrelation = []string{"correlate", "correlate-cost"}
)

func cmdBench(args []string, io stdio) int {
	if len(args) > 0 && args[0] == "e2e" {
		return cmdBenchE2E(args[1:], io)
	}
	fs := newFlags("vigil bench", "vigil bench [--json] [--workload NAME]... [--duration D] [--events N] [--groups N] [--records N]\n       vigil bench e2e --help", io)
	asJSON := fs.Bool("json", false, "print one JSON object per workload")
	only := fs.StringSlice("workload", nil, "run only these workloads (default: all): "+strings.Join(benchWorkloads(), ", "))
	duration := fs.Duration("duration", 2*time.Second, "minimum measuring time per workload")
	events := fs.Int("events", 20000, "generated events per workload")
	otrf := fs.String("otrf", "../shared/testdata/otrf", "folder of OTRF recordings (zip files); skipped when absent")
	sigmaDir := fs.String("sigma", "../shared/testdata/sigma/rules/windows", "compile-sigma: folder of Sigma rules; skipped when absent")
	groups := fs.Int("groups", 1_000_000, "correlate: distinct groups of the match records")
	records := fs.Int("records", 3_000_000, "correlate: match records")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if name, ok := unknownWorkload(*only); ok {
		fmt.Fprintf(io.err, "vigil bench: unknown workload %q (known: %s)\n", name, strings.Join(benchWorkloads(), ", "))
		return 2
	}
	selected := func(names ...string) bool {
		return len(*only) == 0 || slices.ContainsFunc(names, func(n string) bool { return contains(*only, n) })
	}
	env, err := newRuleEnv()
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	if !*asJSON {
		fmt.Fprintf(io.out, "vigil bench: %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	}
	var workloads []bench.Workload
	if selected(benchDetection...) || selected(benchExtra...) {
		if workloads, err = detectionWorkloads(*events, *otrf, *only, io); err != nil {
			fmt.Fprintln(io.err, "vigil bench:", err)
			return 1
		}
	}
	steps := []struct {
		run  bool
		step func() int
	}{
		{selected(benchDetection...), func() int { return benchDetect(env, workloads, selected, *duration, *asJSON, io) }},
		{selected(benchExtra...), func() int { return benchLoadAndMemory(env, workloads, *asJSON, io) }},
		{selected(benchSigma...), func() int { return benchSigmaCompile(*sigmaDir, *asJSON, io) }},
		{selected("correlate"), func() int { return benchCorrelate(env, *groups, *records, *asJSON, io) }},
		{selected("correlate-cost"), func() int { return benchCorrelationCost(env, *events, *duration, *asJSON, io) }},
	}
	for _, s := range steps {
		if !s.run {
			continue
		}
		if code := s.step(); code != 0 {
			return code
		}
	}
	return 0
}

// unknownWorkload returns the first of names that is no workload's.
func unknownWorkload(names []string) (string, bool) {
	for _, name := range names {
		if !contains(benchWorkloads(), name) {
			return name, true
		}
	}
	return "", false
}

// detectionWorkloads generates the detection workloads, and says so when the OTRF workload was asked for but its
// recordings are missing.
func detectionWorkloads(events int, otrf string, only []string, io stdio) ([]bench.Workload, error) {
	workloads, err := bench.Workloads(events, otrf)
	if err == nil && contains(only, "otrf-1000") &&
		!slices.ContainsFunc(workloads, func(w bench.Workload) bool { return w.Name == "otrf-1000" }) {
		fmt.Fprintf(io.err, "vigil bench: otrf-1000: no OTRF recordings in %s, skipped\n", otrf)
	}
	return workloads, err
}

// benchWorkloads lists every workload name --workload takes.
func benchWorkloads() []string {
	return slices.Concat(benchDetection, benchExtra, benchSigma, benchCorrelation)
}

// benchDetect runs the selected detection workloads and prints their table.
func benchDetect(env *rules.Env, workloads []bench.Workload, selected func(...string) bool, duration time.Duration,
	asJSON bool, io stdio) int {
	if !asJSON {
		fmt.Fprintf(io.out, "%-14s %6s %7s %7s %12s %9s %9s %10s %12s %7s\n", "workload", "rules", "events", "alerts",
			"events/s", "µs/event", "allocs/ev", "candidates", "baseline/s", "ratio")
	}
	for _, w := range workloads {
		if !selected(w.Name) {
			continue
		}
		res, err := bench.Run(env, w, bench.Options{MinDuration: duration})
		if err != nil {
			fmt.Fprintln(io.err, "vigil bench:", err)
			return 1
		}
		if asJSON {
			b, _ := json.Marshal(res)
			fmt.Fprintln(io.out, string(b))
			continue
		}
		fmt.Fprintf(io.out, "%-14s %6d %7d %7d %12.0f %9.2f %9.1f %10.1f %12.0f %6.1fx\n", res.Workload, res.Rules,
			res.Events, res.Alerts, res.EventsPerSec, res.MicrosPerEvent, res.AllocsPerEvent, res.MeanCandidates,
			res.BaselineEventsPerSec, res.Ratio)
	}
	return 0
}

// benchLoadAndMemory measures compiling 10,000 rules, and the live heap over repeated passes of the 1,000-rule
// workload (it must stay flat after the first pass).
func benchLoadAndMemory(env *rules.Env, workloads []bench.Workload, asJSON bool, io stdio) int {
	comp, err := bench.MeasureCompile(env, bench.Rules(10000, 2))
	if err != nil {
		fmt.Fprintln(io.err, "vigil bench:", err)
		return 1
	}
	var w bench.Workload
	for _, x := range workloads {
		if x.Name == "rules-1000" {
			w = x
		}
	}
	mem, err := bench.MeasureMemory(env, w, 5)
	if err != nil {
		fmt.Fprintln(io.err, "vigil bench:", err)
		return 1
	}
	if asJSON {
		b, _ := json.Marshal(map[string]any{"workload": "compile-10000", "compile": comp})
		fmt.Fprintln(io.out, string(b))
		b, _ = json.Marshal(map[string]any{"workload": "memory-rules-1000", "memory": mem})
		fmt.Fprintln(io.out, string(b))
		return 0
	}
	fmt.Fprintf(io.out, "compile: %d rules in %.2f s, %.1f KB retained per rule\n", comp.Rules, comp.Seconds, comp.BytesPerRule/1024)
	fmt.Fprintf(io.out, "memory: live heap after each of %d passes over %d events (rules-1000):", mem.Passes, mem.Events)
	for _, h := range mem.HeapBytes {
		fmt.Fprintf(io.out, " %.1f MB", h/(1<<20))
	}
	fmt.Fprintln(io.out)
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// benchCorrelate runs the correlation stage's workload and prints the engine against its baseline, and the bytes per
// open group.
func benchCorrelate(env *rules.Env, groups, records int, asJSON bool, io stdio) int {
	res, err := bench.MeasureCorrelate(env, bench.CorrelateOptions{Groups: groups, Records: records})
	if err != nil {
		fmt.Fprintln(io.err, "vigil bench:", err)
		return 1
	}
	if asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(io.out, string(b))
		return 0
	}
	fmt.Fprintf(io.out, "correlate: %d correlations, %d match records over %d groups, %.0f ms apart; Advance and Checkpoint every %d\n",
		res.Correlations, res.Records, res.Groups, res.SpacingMS, res.Batch)
	fmt.Fprintf(io.out, "%-22s %10s %9s %14s %12s %7s %9s %9s\n", "stage", "matches/s", "µs/match", "matches/CPU-s",
		"allocs/match", "alerts", "rewrites", "groups")
	fmt.Fprintf(io.out, "%-22s %10.0f %9.2f %14.0f %12.1f %7d %9d %9d open\n", "engine", res.RecordsPerSec,
		res.MicrosPerRecord, res.RecordsPerCPUSec, res.AllocsPerRecord, res.Alerts, res.Rewrites, res.OpenGroups)
	fmt.Fprintf(io.out, "%-22s %10.0f %9.2f %14.0f %12s %7s %9s %9d seen\n", "baseline (map count)",
		res.BaselineRecordsPerSec, 1e6/res.BaselineRecordsPerSec, res.BaselineRecordsPerCPUSec, "-", "-", "-", res.GroupsSeen)
	fmt.Fprintf(io.out, "correlate: the engine takes %.1fx the baseline's time per match: %.0f%% in Advance, %.0f%% in Checkpoint (%.0f B of changelog per match), the rest decoding and Add\n",
		res.Overhead, 100*res.AdvanceShare, 100*res.CheckpointShare, res.CheckpointBytesPerRecord)
	fmt.Fprintf(io.out, "correlate: %.1f B per open event_count group (%d groups of one match); %.1f B of live heap per open group after the run\n",
		res.BytesPerGroup, res.Groups, res.LiveBytesPerGroup)
	return 0
}

// benchCorrelationCost runs the rules-1000 detection loop without and with correlations and prints what they add.
func benchCorrelationCost(env *rules.Env, events int, duration time.Duration, asJSON bool, io stdio) int {
	w := bench.Workload{Name: "rules-1000", Rules: bench.Rules(1000, 1), Events: bench.Events(events, 1)}
	res, err := bench.MeasureCorrelationCost(env, w, bench.CostOptions{MinDuration: duration})
	if err != nil {
		fmt.Fprintln(io.err, "vigil bench:", err)
		return 1
	}
	if asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(io.out, string(b))
		return 0
	}
	fmt.Fprintf(io.out, "correlate-cost: %s, %d events in batches of %d, %d alerts; %d correlations naming %d rules (%d of the alerts); %d rounds A/B/C\n",
		w.Name, res.Events, res.Batch, res.Alerts, res.Correlations, res.Named, res.NamedAlerts, res.Rounds)
	fmt.Fprintf(io.out, "%-30s %9s %13s %13s %13s\n", "variant", "µs/event", "CPU µs/event", "match records", "corr. alerts")
	fmt.Fprintf(io.out, "%-30s %9.2f %13.2f %13s %13s\n", "A detection", res.DetectMicros, res.DetectCPUMicros, "-", "-")
	fmt.Fprintf(io.out, "%-30s %9.2f %13.2f %13d %13d\n", "B + InProcess.Correlate", res.CorrelateMicros,
		res.CorrelateCPUMicros, res.MatchRecords, res.CorrelationAlerts)
	fmt.Fprintf(io.out, "%-30s %9.2f %13.2f %13d %13s\n", "C + Engine.Records, encoded", res.RecordsMicros,
		res.RecordsCPUMicros, res.MatchRecords, "-")
	fmt.Fprintf(io.out, "correlation cost %+.1f%% (half the rounds within %+.1f%% and %+.1f%%; CPU %+.1f%%); Records only %+.1f%% (%+.1f%% and %+.1f%%; CPU %+.1f%%)\n",
		100*res.Cost, 100*res.CostSpread[0], 100*res.CostSpread[1], 100*res.CPUCost,
		100*res.RecordsCost, 100*res.RecordsSpread[0], 100*res.RecordsSpread[1], 100*res.RecordsCPUCost)
	return 0
}

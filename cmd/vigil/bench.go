package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/vigilsoc/vigil/bench"
	"github.com/vigilsoc/vigil/rules"
)

func cmdBench(args []string, io stdio) int {
	fs := newFlags("vigil bench", "vigil bench [--json] [--workload NAME]... [--duration D] [--events N]", io)
	asJSON := fs.Bool("json", false, "print one JSON object per workload")
	only := fs.StringSlice("workload", nil, "run only these workloads (default: all)")
	duration := fs.Duration("duration", 2*time.Second, "minimum measuring time per workload")
	events := fs.Int("events", 20000, "generated events per workload")
	otrf := fs.String("otrf", "../shared/testdata/otrf", "folder of OTRF recordings (zip files); skipped when absent")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	env, err := newRuleEnv()
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	workloads, err := bench.Workloads(*events, *otrf)
	if err != nil {
		fmt.Fprintln(io.err, "vigil bench:", err)
		return 1
	}
	if !*asJSON {
		fmt.Fprintf(io.out, "vigil bench: %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
		fmt.Fprintf(io.out, "%-14s %6s %7s %7s %12s %9s %9s %10s %12s %7s\n", "workload", "rules", "events", "alerts",
			"events/s", "µs/event", "allocs/ev", "candidates", "baseline/s", "ratio")
	}
	for _, w := range workloads {
		if len(*only) > 0 && !contains(*only, w.Name) {
			continue
		}
		res, err := bench.Run(env, w, bench.Options{MinDuration: *duration})
		if err != nil {
			fmt.Fprintln(io.err, "vigil bench:", err)
			return 1
		}
		if *asJSON {
			b, _ := json.Marshal(res)
			fmt.Fprintln(io.out, string(b))
			continue
		}
		fmt.Fprintf(io.out, "%-14s %6d %7d %7d %12.0f %9.2f %9.1f %10.1f %12.0f %6.1fx\n", res.Workload, res.Rules,
			res.Events, res.Alerts, res.EventsPerSec, res.MicrosPerEvent, res.AllocsPerEvent, res.MeanCandidates,
			res.BaselineEventsPerSec, res.Ratio)
	}
	if len(*only) > 0 && !contains(*only, "compile") && !contains(*only, "memory") {
		return 0
	}
	return benchLoadAndMemory(env, workloads, *asJSON, io)
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

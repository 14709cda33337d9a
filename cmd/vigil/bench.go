package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/vigilsoc/vigil/bench"
)

func cmdBench(args []string, io stdio) int {
	fs := newFlags("vigil bench", "vigil bench [--json] [--workload NAME]... [--duration D]", io)
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

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/vigilsoc/vigil/bench"
	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/rules/sigma"
)

// benchSigma names the workload that compiles converted Sigma rules.
var benchSigma = []string{"compile-sigma"}

// sigmaCompileResult is the compile-sigma workload's result: converted Sigma rules compiled into a set by a new
// environment (a start), and again by the same one (a reload of unchanged files, from its cache).
type sigmaCompileResult struct {
	Workload      string  `json:"workload"`
	Dir           string  `json:"dir"`
	Profile       string  `json:"profile"`
	Rules         int     `json:"rules"`
	Seconds       float64 `json:"compile_seconds"`
	BytesPerRule  float64 `json:"bytes_per_rule"`
	ReloadSeconds float64 `json:"reload_seconds"`
}

// benchSigmaCompile converts the Sigma rules under dir with profile windows-flat and measures compiling the enabled
// ones. A missing dir skips the workload with a message.
func benchSigmaCompile(dir string, asJSON bool, io stdio) int {
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(io.err, "vigil bench: compile-sigma: no Sigma rules in %s, skipped\n", dir)
		return 0
	}
	rs, err := convertForBench(dir)
	if err != nil {
		fmt.Fprintln(io.err, "vigil bench: compile-sigma:", err)
		return 1
	}
	env, err := newRuleEnv()
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	comp, err := bench.MeasureCompile(env, rs)
	if err != nil {
		fmt.Fprintln(io.err, "vigil bench: compile-sigma:", err)
		return 1
	}
	start := time.Now()
	if _, err := env.CompileSet(rs); err != nil {
		fmt.Fprintln(io.err, "vigil bench: compile-sigma:", err)
		return 1
	}
	res := sigmaCompileResult{Workload: benchSigma[0], Dir: dir, Profile: "windows-flat", Rules: comp.Rules,
		Seconds: comp.Seconds, BytesPerRule: comp.BytesPerRule, ReloadSeconds: time.Since(start).Seconds()}
	if asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(io.out, string(b))
		return 0
	}
	fmt.Fprintf(io.out, "compile-sigma: %d rules converted from %s (windows-flat) in %.2f s, %.1f KB retained per rule; reload unchanged in %.2f s\n",
		res.Rules, dir, res.Seconds, res.BytesPerRule/1024, res.ReloadSeconds)
	return 0
}

// convertForBench converts the Sigma rules under dir with windows-flat and returns the enabled ones.
func convertForBench(dir string) ([]*rules.Rule, error) {
	files, err := readSigmaFiles([]string{dir})
	if err != nil {
		return nil, err
	}
	conv, err := newSigmaConverter("windows-flat", "")
	if err != nil {
		return nil, err
	}
	var all []*sigma.Rule
	for _, f := range files {
		all = append(all, f.rules...)
	}
	results, _ := conv.ConvertAll(all) // unsupported rules are left out, as `vigil sigma convert` leaves them
	var rs []*rules.Rule
	for _, res := range results {
		if res.Rule.IsEnabled() {
			rs = append(rs, res.Rule)
		}
	}
	return rs, nil
}

//go:build integration

package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsoc/vigil/testenv"
)

// BenchmarkHuntVsLive measures `vigil hunt` over records the broker retains against live detection (`vigil run` with
// a consumer group, the correlation stage on Kafka) over the same records, in the same run: the shipped rules,
// alerts to a file, 200,000 records of the shipped samples in 3 partitions. The per-core rate is events per second of
// CPU time (user + system) of the whole process, start-up included, read from the process's rusage; the goal is a
// hunt at 80% or more of live detection's per-core rate (x-live-per-core).
//
//	testenv/run -- go test -tags integration -run '^$' -bench HuntVsLive -benchtime 1x ./cmd/vigil
func BenchmarkHuntVsLive(b *testing.B) {
	addr := testenv.Kafka(b)
	const n = 200000
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	_, msgs := huntRecords(b, n, base)
	topic := testenv.CreateTopic(b, addr, 3)
	kafkaProduce(b, addr, topic, msgs)
	bin := buildVigil(b)
	dir := b.TempDir()
	group := testenv.UniqueName(b, "vigil-bench-live-")
	corr := testenv.UniqueName(b, "vigil-bench-corr-")
	config := func(alerts string) string {
		path := filepath.Join(dir, alerts+".yaml")
		writeFile(b, path, fmt.Sprintf(`rules: {paths: [configs/rules]}
tenants: [acme]
sources:
  - name: partners
    type: kafka
    kafka: {brokers: [%s], group_id: %s, topics: [{name: %s, tenant: acme}]}
sinks: [{type: file, file: {path: %s}}]
dead_letter: {type: file, path: %s}
correlate: {kafka: {}, topic: %s.matches, changelog_topic: %s.state, group_id: %s}
log: {format: json}
`, addr, group, topic, filepath.Join(dir, alerts+".jsonl"), filepath.Join(dir, alerts+"-dl.jsonl"), corr, corr, corr))
		return path
	}
	b.ResetTimer()
	liveWall, liveCPU := benchLive(b, bin, config("live"), addr, group, topic)
	start := time.Now()
	cmd := exec.Command(bin, "hunt", "-c", config("hunt"), "--rules", "configs/rules", "--since", base.Add(-time.Second).Format(time.RFC3339))
	cmd.Dir = repoRoot(b)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("vigil hunt: %v\n%s", err, out)
	}
	huntWall := time.Since(start)
	b.StopTimer()
	if !strings.Contains(string(out), fmt.Sprintf("hunt: %d records read", n)) {
		b.Fatalf("the hunt did not read the %d records:\n%s", n, out)
	}
	huntCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	perCore := func(cpu time.Duration) float64 { return float64(n) / cpu.Seconds() }
	b.ReportMetric(float64(n)/huntWall.Seconds(), "hunt-events/s")
	b.ReportMetric(perCore(huntCPU), "hunt-events/cpu-s")
	b.ReportMetric(float64(n)/liveWall.Seconds(), "live-events/s")
	b.ReportMetric(perCore(liveCPU), "live-events/cpu-s")
	b.ReportMetric(perCore(huntCPU)/perCore(liveCPU), "x-live-per-core")
	b.Logf("%d records: hunt %s wall, %s CPU; live %s wall (group join to offsets at the end), %s CPU (whole process)",
		n, huntWall.Round(time.Millisecond), huntCPU.Round(time.Millisecond), liveWall.Round(time.Millisecond), liveCPU.Round(time.Millisecond))
}

// benchLive runs `vigil run` until its group has committed the end of every partition, stops it, and returns the time
// from the group join to then and the process's CPU time.
func benchLive(b *testing.B, bin, config, addr, group, topic string) (wall, cpu time.Duration) {
	b.Helper()
	cmd, read := startLogged(b, bin, "run", "-c", config)
	joined := waitConsumed(b, read, addr, group, []string{topic}, 3, 10*time.Minute)
	wall = time.Since(joined)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("vigil run: %v\n%s", err, read())
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

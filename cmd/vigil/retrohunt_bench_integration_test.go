//go:build integration

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsoc/vigil/testenv"
)

// BenchmarkRetrohuntCPUShare measures what the retro-hunt's bound does: `vigil run` consumes 200,000 records of the
// shipped samples (a rule that never matches), then an indicator is added and the retro-hunt searches them, once
// with cpu_share 1 (unpaced), then with 0.25 and 0.1, in the same run. The CPU share is the process's CPU time
// (utime + stime from /proc) from the indicator file's change to "retro-hunt finished", over that wall time times the
// CPUs; the process does nothing else then.
//
//	VIGIL_TESTENV_FLAVORS= testenv/run -- go test -tags integration -run '^$' -bench RetrohuntCPUShare -benchtime 1x ./cmd/vigil
func BenchmarkRetrohuntCPUShare(b *testing.B) {
	addr := testenv.Kafka(b)
	const n, ioc = 200000, "203.0.113.50"
	_, msgs := huntRecords(b, n, time.Now().Add(-30*time.Minute)) // all in the window, none after its end
	topic := testenv.CreateTopic(b, addr, 3)
	kafkaProduce(b, addr, topic, msgs)
	bin := buildVigil(b)
	b.ResetTimer()
	for _, share := range []float64{1, 0.25, 0.1} {
		wall, cpu, log := retrohuntOnce(b, bin, addr, topic, ioc, share)
		b.Logf("cpu_share %g: %d records in %s, %s CPU; log: %s", share, n, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), log)
		name := "unpaced"
		if share < 1 {
			name = fmt.Sprintf("share-%g", share)
		}
		b.ReportMetric(float64(n)/wall.Seconds(), "records/s-"+name)
		b.ReportMetric(cpu.Seconds()/wall.Seconds()/float64(runtime.NumCPU()), "cpu-share-"+name)
	}
}

// retrohuntOnce runs `vigil run` with a retro-hunt at share until the records of topic are consumed, adds ioc to its
// indicator file and waits for the retro-hunt to finish; it returns the retro-hunt's wall time, the process's CPU time
// meanwhile, and the log line that ends it.
func retrohuntOnce(b *testing.B, bin, addr, topic, ioc string, share float64) (wall, cpu time.Duration, finished string) {
	b.Helper()
	dir := b.TempDir()
	ti := filepath.Join(dir, "ti.csv")
	writeFile(b, ti, "type,value\nip,192.0.2.1\n")
	group := testenv.UniqueName(b, "vigil-retro-bench-")
	config, _ := retroConfig(b, dir, addr, topic, group, ti, "2h", share)
	cmd, read := startLogged(b, bin, "run", "-c", config)
	waitConsumed(b, read, addr, group, []string{topic}, 3, 10*time.Minute)
	start, cpu0 := time.Now(), procCPU(b, cmd.Process.Pid)
	writeFile(b, ti, "type,value\nip,192.0.2.1\nip,"+ioc+"\n")
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if i := strings.Index(read(), `"msg":"retro-hunt finished"`); i >= 0 {
			wall, cpu = time.Since(start), procCPU(b, cmd.Process.Pid)-cpu0
			finished, _, _ = strings.Cut(read()[i:], "\n")
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the retro-hunt did not finish in 10 minutes; log:\n%s", read())
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait() // gone before the next run is measured
	return wall, cpu, finished
}

// procCPU is a process's CPU time so far (user + system), from /proc/PID/stat.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:])) // fields from the 3rd (state) on
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

//go:build unix

package enrich

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used, all threads (the GC's included). Benchmarks report it per operation
// beside the wall time, because on a shared machine wall time also counts the time other processes held the CPU.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package bench

import "time"

// cpuTime is not measured on this system: rates per CPU-second are reported as 0.
func cpuTime() time.Duration { return 0 }

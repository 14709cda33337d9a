//go:build !unix

package enrich

import "time"

// cpuTime is not measured on this platform; the cpu-ns/op metric then reads 0.
func cpuTime() time.Duration { return 0 }

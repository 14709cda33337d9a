package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// profileFromEnv starts a CPU profile of the whole process when VIGIL_CPUPROFILE names a file, and returns the
// function that writes it. It is how `vigil bench e2e --profile` profiles `vigil run` on the end-to-end path
// (docs/benchmarks.md); go tool pprof reads the file.
func profileFromEnv(stderr io.Writer) (stop func()) {
	path := os.Getenv("VIGIL_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(stderr, "vigil: VIGIL_CPUPROFILE:", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(stderr, "vigil: VIGIL_CPUPROFILE:", err)
		}
	}
}

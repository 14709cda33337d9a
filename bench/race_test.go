//go:build race

package bench

// maxEventsAt10k bounds the 10,000-rule equivalence check under the race detector, which slows CEL tenfold.
const maxEventsAt10k = 60

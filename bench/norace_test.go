//go:build !race

package bench

// maxEventsAt10k bounds the 10,000-rule equivalence check, where the unindexed engine evaluates every rule.
const maxEventsAt10k = 1500

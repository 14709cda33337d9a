//go:build race

package bench

// equivalenceEvents is how many events the equivalence test checks with 1,000 rules (proportionally fewer with more
// rules). The race detector slows CEL about tenfold.
const equivalenceEvents = 600

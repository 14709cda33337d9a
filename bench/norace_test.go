//go:build !race

package bench

// equivalenceEvents is how many events the equivalence test checks with 1,000 rules (proportionally fewer with more
// rules), and the OTRF recordings are cut to it too.
const equivalenceEvents = 8000

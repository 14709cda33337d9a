//go:build race

package rules_test

// raceDetector is set when the tests run under the race detector, which slows evaluation about tenfold: the
// exhaustive comparisons then check a sample, and `make integration` (no race detector) runs them in full.
const raceDetector = true

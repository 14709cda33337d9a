package main

import "fmt"

// cmdSigma is replaced by the Sigma importer (rules/sigma).
func cmdSigma(args []string, io stdio) int {
	fmt.Fprintln(io.err, "vigil sigma: not built yet")
	return 2
}

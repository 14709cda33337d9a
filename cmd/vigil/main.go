// Command vigil runs the Vigil detection pipeline and its tools for rule authors and analysts.
//
//	vigil run -c FILE              run the pipeline as configured
//	vigil replay --rules PATH ...  evaluate rules over a file of events
//	vigil hunt -c FILE --rules PATH ...   evaluate rules over the records Kafka retains
//	vigil parse --format F ...     print the events raw records become (syslog, CEF...)
//	vigil rules validate PATH...   compile rules without running them
//	vigil rules test PATH...       run the rules' inline tests
//	vigil sigma convert|test ...   import Sigma rules
//	vigil alerts search ...        search the alert index (Elasticsearch/OpenSearch)
//	vigil alerts show|ack|close|reopen|assign|top ...   triage alerts
//	vigil deadletters ...          list, show and replay dead letters
//	vigil bench                    measure detection speed
//	vigil intake -c FILE           receive partners' logs (HEC, _bulk, NDJSON, syslog) into Kafka
//	vigil version
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `Vigil: a detection pipeline for security operations centers.

Usage:
  vigil run -c FILE [--follow] [--metrics-addr ADDR] [--web-config-file FILE]
                                        run the pipeline as configured
  vigil replay --rules PATH --input FILE|- [--output FILE|-] [--tenant NAME]
                                        evaluate rules over a file of JSON events
  vigil hunt -c FILE --rules PATH [--since 24h] [--until T] [--topics T,...] [--tenant T] [--dry-run]
                                        evaluate rules over the records Kafka still holds (docs/hunting.md)
  vigil parse --format F [--parsers FILE] [INPUT|-]
                                        print the ECS events raw records become, one JSON per line
  vigil rules validate PATH...          compile rule files and folders, report every error
  vigil rules test [--enrich CONFIG] PATH...
                                        run the rules' inline tests
  vigil sigma convert [flags] PATH...   convert Sigma rules into Vigil rules
  vigil sigma test --root DIR [PATH...] run SigmaHQ regression tests
  vigil alerts search [flags] [QUERY]   search the alert index, newest first (--since 30d, --until 2026-11-01)
  vigil alerts top|show|ack|close|reopen|assign ...
                                        count, read and triage alerts (docs/alerts.md, "Triage")
  vigil deadletters list|show|replay -c FILE [flags]
                                        inspect the dead-letter queue and bring letters back
  vigil bench [--json]                  measure detection speed against a naive baseline
  vigil intake -c FILE [--metrics-addr ADDR]
                                        receive partners' logs (Splunk HEC, Elasticsearch _bulk, NDJSON, syslog)
                                        into Kafka (docs/intake.md); vigil intake token --tenant T makes a token
  vigil version                         print the version

Run 'vigil COMMAND --help' for the flags of a command.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	stopProfile := profileFromEnv(os.Stderr)
	code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stopProfile()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the process exit code: 0 success, 1 failure found (bad rule, failed
// test), 2 usage error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	io := stdio{in: stdin, out: stdout, err: stderr}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], io)
	case "replay":
		return cmdReplay(args[1:], io)
	case "hunt":
		return cmdHunt(args[1:], io)
	case "parse":
		return cmdParse(args[1:], io)
	case "rules":
		return cmdRules(args[1:], io)
	case "sigma":
		return cmdSigma(args[1:], io)
	case "alerts":
		return cmdAlerts(args[1:], io)
	case "deadletters":
		return cmdDeadLetters(args[1:], io)
	case "bench":
		return cmdBench(args[1:], io)
	case "intake":
		return cmdIntake(args[1:], io)
	case "version", "--version":
		fmt.Fprintln(stdout, "vigil", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// stdio carries a command's streams, so tests can run commands in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

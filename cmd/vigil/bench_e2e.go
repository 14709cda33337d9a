package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vigilsoc/vigil/bench"
)

// cmdBenchE2E is `vigil bench e2e`: the seeded workload through the real broker, the real `vigil run` (this binary)
// and the real search engines, with the parts measured alone in the same run (docs/benchmarks.md).
func cmdBenchE2E(args []string, io stdio) int {
	fs := newFlags("vigil bench e2e", "vigil bench e2e [--kafka HOST:PORT] [--search FLAVOR=URL,...] [--events N] [--json]", io)
	kafkaAddr := fs.String("kafka", os.Getenv("VIGIL_TEST_KAFKA"), "broker address (PLAINTEXT); default $VIGIL_TEST_KAFKA, as testenv/run sets it")
	search := fs.String("search", os.Getenv("VIGIL_TEST_SEARCH"), "search engines, comma-separated flavor=url (opensearch or elasticsearch); default $VIGIL_TEST_SEARCH")
	events := fs.Int("events", 100_000, "records produced (the size of the run)")
	tenants := fs.Int("tenants", 4, "tenants of the records (one multi-tenant topic, a tenant header)")
	partitions := fs.Int("partitions", 12, "partitions of the topic")
	rates := fs.StringSlice("rate", []string{bench.RateRealistic, bench.RateStorm}, "alert rates: realistic (about 1%) and storm (about 20%)")
	workers := fs.IntSlice("bulk-workers", []int{1, 2, 4, 8}, "esutil.BulkIndexer worker counts tried besides its default")
	dir := fs.String("dir", "", "work folder for rule files, events, replay output and vigil run logs (default: a temporary one, removed)")
	keep := fs.Bool("keep", false, "keep the topic and the indices")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound of one end-to-end run")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	profile := fs.String("profile", "", "folder where each end-to-end run's vigil run writes a CPU profile (<rate>-<flavor>.cpu.pprof)")
	variants := fs.StringArray("variant", nil, "further settings run end to end after the main run, e.g. max_in_flight=16,batch_size=2000 (repeatable)")
	outage := fs.Duration("outage", 0, "also measure catching up after the search engine is away this long (e.g. 60s) while records keep arriving (default: skipped)")
	scale := fs.IntSlice("scale", nil, "also run this many vigil run instances in one group over the topic's partitions, e.g. 1,2,4 (default: skipped)")
	var settings bench.RunSettings
	fs.IntVar(&settings.BatchSize, "batch-size", 0, "vigil run's sources[].kafka.batch_size (default: vigil's default)")
	fs.IntVar(&settings.MaxInFlight, "max-in-flight", 0, "vigil run's pipeline.max_in_flight (default: vigil's default)")
	fs.DurationVar(&settings.RetryMaxBackoff, "retry-max-backoff", 0, "vigil run's sinks[].elasticsearch.retry_max_backoff (default: vigil's default)")
	fs.IntVar(&settings.Workers, "sink-workers", 0, "vigil run's sinks[].elasticsearch.workers, also in the sink's measurement alone (default: vigil's default)")
	fs.DurationVar(&settings.FlushInterval, "flush-interval", 0, "vigil run's sinks[].elasticsearch.flush_interval, also in the sink's measurement alone (default: vigil's default)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	targets, err := parseSearchTargets(*search)
	if err != nil || *kafkaAddr == "" {
		if err == nil {
			err = fmt.Errorf("no broker: pass --kafka or run under testenv/run")
		}
		fmt.Fprintln(io.err, "vigil bench e2e:", err)
		return 2
	}
	var others []bench.RunSettings
	for _, v := range *variants {
		s, err := bench.ParseRunSettings(v)
		if err != nil {
			fmt.Fprintln(io.err, "vigil bench e2e: --variant:", err)
			return 2
		}
		others = append(others, s)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(io.err, "vigil bench e2e:", err)
		return 1
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "vigil-bench-e2e-"); err != nil {
			fmt.Fprintln(io.err, "vigil bench e2e:", err)
			return 1
		}
		defer os.RemoveAll(*dir)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.RunE2E(ctx, bench.E2EOptions{Vigil: self, Kafka: *kafkaAddr, Search: targets, Events: *events,
		Tenants: *tenants, Partitions: *partitions, Rates: *rates, BulkWorkers: *workers, Dir: *dir, Keep: *keep,
		Timeout: *timeout, Log: io.err, Settings: settings, Variants: others, Profile: *profile, Outage: *outage, Scale: *scale})
	if err != nil {
		fmt.Fprintln(io.err, "vigil bench e2e:", err)
		return 1
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(io.out, string(b))
	} else {
		printE2E(io, rep)
	}
	for _, sc := range rep.Scale {
		if sc.Missing+sc.Duplicated+sc.Unexpected > 0 {
			fmt.Fprintf(io.err, "vigil bench e2e: scale %d: the accounting failed: %d missing, %d duplicated, %d unexpected\n",
				sc.Instances, sc.Missing, sc.Duplicated, sc.Unexpected)
			return 1
		}
	}
	if c := rep.CatchUp; c != nil && c.Missing+c.Duplicated+c.Unexpected > 0 {
		fmt.Fprintf(io.err, "vigil bench e2e: catch-up: the accounting failed: %d missing, %d duplicated, %d unexpected\n",
			c.Missing, c.Duplicated, c.Unexpected)
		return 1
	}
	for _, r := range rep.Rates {
		for _, e := range r.Engines {
			if e.Run.Missing+e.Run.Duplicated+e.Run.Unexpected+e.Run.DeadLetters > 0 {
				fmt.Fprintf(io.err, "vigil bench e2e: %s %s: the accounting failed: %d missing, %d duplicated, %d unexpected, %d dead letters\n",
					r.Rate, e.Flavor, e.Run.Missing, e.Run.Duplicated, e.Run.Unexpected, e.Run.DeadLetters)
				return 1
			}
		}
	}
	return 0
}

// parseSearchTargets reads flavor=url,... as VIGIL_TEST_SEARCH holds it.
func parseSearchTargets(s string) ([]bench.SearchTarget, error) {
	var out []bench.SearchTarget
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		flavor, url, ok := strings.Cut(item, "=")
		if !ok || (flavor != "opensearch" && flavor != "elasticsearch") || url == "" {
			return nil, fmt.Errorf("--search: %q is not opensearch=URL or elasticsearch=URL", item)
		}
		out = append(out, bench.SearchTarget{Flavor: flavor, URL: strings.TrimRight(url, "/")})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no search engine: pass --search or run under testenv/run")
	}
	return out, nil
}

// printE2E prints the report as two tables: the parts alone, then end to end with the ratios.
func printE2E(io stdio, rep *bench.E2EReport) {
	fmt.Fprintf(io.out, "vigil bench e2e: %s; %d events, %d tenants, %d partitions (produced in %.1f s)\n", rep.Machine,
		rep.Events, rep.Tenants, rep.Partitions, rep.ProduceSeconds)
	fmt.Fprintf(io.out, "kafka source alone: %.0f records/s, %.0f per CPU-second\n\n", rep.Source.PerSec, rep.Source.PerCPUSecond())
	fmt.Fprintf(io.out, "%-10s %-13s %7s %6s %12s %13s %11s %13s %12s %16s %14s\n", "rate", "engine", "alerts", "%", "detect ev/s",
		"detect ev/cpu", "sink al/s", "sink bat al/s", "bulk dflt/s", "bulk best/s (w)", "search cpu/al")
	for _, r := range rep.Rates {
		for _, e := range r.Engines {
			fmt.Fprintf(io.out, "%-10s %-13s %7d %6.2f %12.0f %13.0f %11.0f %13.0f %12.0f %12.0f (%d) %6.2f / %5.2f\n", r.Rate, e.Flavor,
				r.Alerts, r.AlertPct, r.Detection.PerSec, r.Detection.PerCPUSecond(), e.Sink.PerSec, e.SinkBatches.PerSec,
				e.BulkDefault.PerSec, e.BulkBest.PerSec, e.BulkBest.Workers, perThousand(e.Sink.ServerCPUSeconds, e.Sink.Items),
				perThousand(e.BulkBest.ServerCPUSeconds, e.BulkBest.Items))
		}
	}
	fmt.Fprintf(io.out, "\n%-10s %-13s %9s %9s %9s %13s %8s %9s %9s %9s %9s %9s %8s %8s %16s\n", "rate", "engine", "e2e ev/s", "e2e al/s",
		"lag0 ev/s", "slowest part", "e2e/slow", "sink/bulk", "cpu vigil", "cpu parts", "cpu kafka", "cpu search", "parts/e2e", "rss MiB", "lost/dup/dl")
	for _, r := range rep.Rates {
		for _, e := range r.Engines {
			fmt.Fprintf(io.out, "%-10s %-13s %9.0f %9.0f %9.0f %13s %7.0f%% %8.0f%% %9.3f %9.3f %9.3f %9.3f %8.0f%% %8.0f %16s\n", r.Rate, e.Flavor,
				e.Run.EventsPerSec, e.Run.AlertsPerSec, e.Run.LagZeroPerSec, e.SlowestPart, 100*e.EndToEndRatio, 100*e.SinkRatio, e.Run.VigilCPU,
				e.PartsCPU, e.Run.KafkaCPU, e.Run.SearchCPU, 100*e.CPURatio, float64(e.Run.VigilPeakRSS)/(1<<20),
				fmt.Sprintf("%d/%d/%d", e.Run.Missing, e.Run.Duplicated, e.Run.DeadLetters))
		}
	}
	for _, r := range rep.Rates {
		for _, e := range r.Engines {
			for _, v := range append([]bench.E2EVariant{{Settings: rep.Settings, Run: e.Run}}, e.Variants...) {
				if len(e.Variants) == 0 {
					break
				}
				fmt.Fprintf(io.out, "%-10s %-13s %-32s %9.0f ev/s %8.0f al/s, %4d batches, write %6.1f ms, detect %5.2f s, cpu vigil %.3f\n",
					r.Rate, e.Flavor, v.Settings, v.Run.EventsPerSec, v.Run.AlertsPerSec, v.Run.Batches, v.Run.WriteMeanMS,
					v.Run.DetectSeconds, v.Run.VigilCPU)
			}
		}
	}
	for _, sc := range rep.Scale {
		fmt.Fprintf(io.out, "scale: %d instances, %d partitions: %.0f events/s; events per instance %v (largest/smallest %.2f); "+
			"stored %d, missing %d, duplicated %d, unexpected %d\n", sc.Instances, sc.Partitions, float64(rep.Events)/sc.Seconds,
			sc.Events, sc.Spread, sc.Stored, sc.Missing, sc.Duplicated, sc.Unexpected)
	}
	if c := rep.CatchUp; c != nil {
		fmt.Fprintf(io.out, "catch-up (%s, %s): records arriving at %.0f/s, committed at %.0f/s before; %s away: backlog %d; "+
			"first alert stored %.1f s after its return, drained in %.1f s at %.0f records/s (%.1fx the arrival rate); peak RSS %.0f MiB; "+
			"stored %d, missing %d, duplicated %d, unexpected %d\n", c.Rate, c.Flavor, c.ProducedPerS, c.SteadyPerS,
			time.Duration(c.OutageSeconds*float64(time.Second)), c.Backlog, c.FirstStoreSeconds, c.DrainSeconds, c.CatchUpPerS,
			c.CatchUpPerS/c.ProducedPerS, float64(c.VigilPeakRSS)/(1<<20), c.Stored, c.Missing, c.Duplicated, c.Unexpected)
	}
	fmt.Fprintln(io.out, "search cpu/al: the search engine's CPU seconds per 1,000 alerts indexed by Vigil's sink / by the best BulkIndexer")
	fmt.Fprintln(io.out, "sink: every alert in one Write; sink bat: each batch's alerts in one Write, as many at once as batches in flight")
	fmt.Fprintln(io.out, "cpu: CPU seconds per 1,000 events over the end-to-end span; e2e: from the first record read to lag 0 with every alert searchable;")
	fmt.Fprintln(io.out, "lag0: to the lag first seen at 0 (every batch written and committed), before the engine's refresh makes the last alerts searchable")
}

// perThousand is seconds per 1,000 items.
func perThousand(seconds float64, items int) float64 {
	if items == 0 {
		return 0
	}
	return 1000 * seconds / float64(items)
}

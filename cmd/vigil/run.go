package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/correlate"
	"github.com/vigilsoc/vigil/ingest"
	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/sinks"
)

func cmdRun(args []string, io stdio) int {
	fs := newFlags("vigil run", "vigil run -c FILE [--follow] [--metrics-addr ADDR] [--web-config-file FILE]", io)
	df := addDaemonFlags(fs, "configuration file (YAML)")
	follow := fs.Bool("follow", false, "keep reading file sources as they grow, like tail -f")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *df.config == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg, err := loadConfig(*df.config)
	if err != nil {
		fmt.Fprintln(io.err, "vigil:", err)
		return 1
	}
	df.override(&cfg.Log, &cfg.Metrics)
	if *follow {
		for _, s := range cfg.Sources {
			if s.File != nil {
				s.File.Follow = true
			}
		}
	}
	log, err := newLogger(cfg.Log, io.err)
	if err != nil {
		fmt.Fprintln(io.err, "vigil:", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go handleSignals(ctx, cancel, cfg.Pipeline.ShutdownTimeout+shutdownGrace, log)
	if err := runPipelines(ctx, cfg, io, log); err != nil {
		log.Error("vigil stopped", "err", err)
		return 1
	}
	log.Info("vigil stopped: every batch read was written and acknowledged")
	return 0
}

// shutdownGrace is the time closing sources and sinks may take after the drain (pipeline.shutdown_timeout).
const shutdownGrace = 5 * time.Second

// handleSignals cancels ctx on the first SIGINT or SIGTERM, so the pipelines drain and exit; a second signal, or a
// shutdown still running after limit, exits at once (what was not acked is read again on restart).
func handleSignals(ctx context.Context, cancel context.CancelFunc, limit time.Duration, log *slog.Logger) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		log.Info("shutting down: finishing in-flight batches (signal again to exit at once)", "signal", s.String(),
			"timeout", limit.String())
		cancel()
	case <-ctx.Done():
		return
	}
	select {
	case s := <-sig:
		log.Warn("exiting at once; unacknowledged records will be read again", "signal", s.String())
		os.Exit(130)
	case <-time.After(limit):
		log.Error("shutdown timed out; exiting, unacknowledged records will be read again", "timeout", limit.String())
		os.Exit(1)
	}
}

// runPipelines builds the shared rule engine, sinks and dead-letter queue, and runs one pipeline per source until
// they all end.
func runPipelines(ctx context.Context, cfg *Config, io stdio, log *slog.Logger) error {
	mon := newMonitor(log)
	for _, pending := range []string{"rules", "sinks", "sources"} {
		mon.ready.pending(pending, "starting")
	}
	mon.ready.readyUntil(ctx)
	if err := mon.serveWeb(cfg.Metrics.Addr, cfg.Metrics.WebConfigFile); err != nil {
		return err
	}
	defer mon.close()
	enr, err := newEnrichment(cfg.Enrich)
	if err != nil {
		return err
	}
	enr.logLoaded(log)
	mon.register(enr.collector())
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	go enr.watch(watchCtx, log)
	env, err := newRuleEnv(rules.WithCostLimit(cfg.Rules.CostLimit), enr.ruleLibrary())
	if err != nil {
		return err
	}
	set, fingerprint, fromKafka, err := startRules(ctx, env, cfg.Rules, log)
	if err != nil {
		return err
	}
	log.Info("rules loaded", "rules", len(set.Rules()), "correlations", len(set.Correlations()), "disabled", set.Disabled())
	mon.ready.set("rules", nil)
	engine := rules.NewEngine(set)
	correlations := correlate.New(set, cfg.Correlate.Config)
	if hasKafkaSource(cfg) && cfg.Correlate.Kafka == nil && len(set.Stateful()) > 0 {
		return fmt.Errorf("correlate: %s; the rules include correlations or suppressing rules: %s", correlateNeedsKafka, correlationNames(set))
	}
	dlq, err := buildDeadLetters(ctx, cfg.DeadLetter, log)
	if err != nil {
		return err
	}
	defer dlq.Close()
	dlq = mon.deadLetters(dlq)
	fanout, err := buildSinks(ctx, cfg.Sinks, dlq, io, log)
	if err != nil {
		return err
	}
	defer fanout.Close()
	sink := mon.sinks(fanout, cfg.Sinks)
	stopRetrohunt, err := startRetrohunt(ctx, cfg, enr, env, sink, mon, log)
	if err != nil {
		return err
	}
	defer stopRetrohunt() // before the sinks close
	corr, err := newCorrelation(ctx, cfg, correlations, set, correlate.StageOptions{Sink: sink, DeadLetters: dlq,
		Enrichers: enr.enrichers(), EnrichTimeout: enr.timeout(), DrainTimeout: cfg.Pipeline.ShutdownTimeout}, mon, log)
	if err != nil {
		return err
	}
	defer corr.close()
	reloader := newRuleReloader(env, ruleFiles{cfg.Rules.Paths, cfg.Rules.Exceptions}, engine, fingerprint, log)
	reloader.onSwap = func(set *rules.RuleSet) {
		correlations.Swap(set)
		corr.swapped(set)
	}
	var detector vigil.Detector = engine
	if fromKafka != nil {
		detector = fromKafka.detector(engine)
		defer fromKafka.run(watchCtx, reloader)()
	} else {
		hup, stopHUP := notifyHUP()
		defer stopHUP()
		go reloader.Run(watchCtx, *cfg.Rules.Watch, hup)
	}
	mon.addRules(engine, reloader)

	// A failing correlation stage stops the pipelines too; file sources that end stop the stage.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	waitStage := corr.start(runCtx, stopRun)
	defer func() { stopRun(); waitStage() }() // before the sinks close, also when a source fails to start
	var wg sync.WaitGroup
	errs := make([]error, len(cfg.Sources))
	for i, sc := range cfg.Sources {
		src, err := buildSource(ctx, sc, cfg.Tenants, io, log, mon.reg)
		if err != nil {
			return err
		}
		defer src.Close()
		p := &vigil.Pipeline{Detector: detector, Correlator: corr.correlator, Sink: sink, DeadLetters: dlq,
			Workers: cfg.Pipeline.Workers, MaxInFlight: cfg.Pipeline.MaxInFlight,
			DrainTimeout: cfg.Pipeline.ShutdownTimeout, Enrichers: enr.enrichers(), EnrichTimeout: enr.timeout()}
		p.Source = mon.source(sc.Name, src, p)
		mon.ready.set("source "+sc.Name, nil)
		if k, ok := src.(*ingest.Kafka); ok {
			go logKafkaLag(ctx, k, sc.Kafka.WithDefaults().LagInterval, log.With("source", sc.Name))
			mon.ready.set("source "+sc.Name, kafkaReady(k))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("source started", "source", sc.Name, "type", sc.Type)
			errs[i] = p.Run(runCtx)
			log.Info("source finished", "source", sc.Name, "events", p.Stats.Events.Load(),
				"alerts", p.Stats.Alerts.Load(), "correlation_alerts", p.Stats.Correlations.Load(), "dead_letters", p.Stats.DeadLetters.Load(),
				"enrichments_skipped", p.Stats.EnrichSkips.Load())
		}()
	}
	mon.ready.remove("sources")
	wg.Wait()
	stopRun()
	return errors.Join(append(errs, waitStage())...)
}

func buildSource(ctx context.Context, sc SourceConfig, tenants []string, io stdio, log *slog.Logger, reg prometheus.Registerer) (vigil.Source, error) {
	switch sc.Type {
	case "file":
		return ingest.NewFile(sc.Name, *sc.File, io.in)
	case "kafka":
		k, err := ingest.NewKafka(ctx, sc.Name, *sc.Kafka, ingest.KafkaOptions{Tenants: tenants, Logger: log, Registerer: reg})
		if err != nil {
			return nil, err
		}
		return k, nil
	}
	return nil, fmt.Errorf("source %s: unknown type %q", sc.Name, sc.Type)
}

// buildSinks builds the configured sinks; sinks that reject single alerts (a mapping conflict) park them in dlq.
func buildSinks(ctx context.Context, scs []SinkConfig, dlq vigil.DeadLetterQueue, io stdio, log *slog.Logger) (sinks.Fanout, error) {
	var out sinks.Fanout
	for _, sc := range scs {
		switch sc.Type {
		case "file":
			s, err := sinks.NewFileWith(sc.File.Path, io.out, sinks.FileOptions{Truncate: sc.File.Truncate})
			if err != nil {
				out.Close()
				return nil, err
			}
			s.DeadLetters = dlq
			out = append(out, s)
		case "stdout":
			out = append(out, sinks.NewSummary(io.out))
		case "elasticsearch":
			s, err := sinks.NewElasticsearch(ctx, *sc.Elasticsearch, dlq, log.With("sink", "elasticsearch"))
			if err != nil {
				out.Close()
				return nil, err
			}
			out = append(out, s)
		case "notify":
			s, err := sinks.NewNotify(*sc.Notify, sinks.NotifyOptions{Logger: log.With("sink", "notify")})
			if err != nil {
				out.Close()
				return nil, fmt.Errorf("notify: %w", err)
			}
			out = append(out, s)
		default:
			return nil, fmt.Errorf("sink: unknown type %q", sc.Type)
		}
	}
	return out, nil
}

func buildDeadLetters(ctx context.Context, dc DeadLetterConfig, log *slog.Logger) (vigil.DeadLetterQueue, error) {
	switch dc.Type {
	case "file":
		return sinks.NewDeadLetterFile(dc.Path)
	case "kafka":
		q, err := sinks.NewKafkaDeadLetter(ctx, *dc.Kafka, log)
		if err != nil {
			return nil, err
		}
		return q, nil
	}
	return nil, fmt.Errorf("dead_letter: unknown type %q", dc.Type)
}

// newLogger builds the process logger: text on a terminal, JSON otherwise (or as configured).
func newLogger(c LogConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	format := strings.ToLower(c.Format)
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want auto, text or json", c.Format)
}

func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// logKafkaLag logs a Kafka source's consumer lag per owned partition every interval, until ctx ends; a partition
// whose lag is not known yet shows "?" and is left out of the total.
func logKafkaLag(ctx context.Context, k *ingest.Kafka, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if attrs := kafkaLagAttrs(k.Lag()); attrs != nil {
			log.Info("kafka consumer lag", attrs...)
		}
	}
}

// daemonFlags are the flags `vigil run` and `vigil intake` share: the configuration file, and overrides of its log and
// metrics sections.
type daemonFlags struct {
	fs                                       *pflag.FlagSet
	config, logLevel, metricsAddr, webConfig *string
}

func addDaemonFlags(fs *pflag.FlagSet, configHelp string) daemonFlags {
	return daemonFlags{fs: fs, config: fs.StringP("config", "c", "", configHelp),
		logLevel:    fs.String("log-level", "", "debug, info, warn or error (overrides log.level)"),
		metricsAddr: fs.String("metrics-addr", "", "serve /metrics, /healthz and /readyz on this address, e.g. 127.0.0.1:9464 (overrides metrics.addr)"),
		webConfig:   fs.String("web-config-file", "", "Prometheus web configuration file: TLS and basic auth for those endpoints (overrides metrics.web_config_file)")}
}

// override applies the flags that were given to the configuration's sections.
func (d daemonFlags) override(log *LogConfig, metrics *MetricsConfig) {
	if *d.logLevel != "" {
		log.Level = *d.logLevel
	}
	if d.fs.Changed("metrics-addr") {
		metrics.Addr = *d.metricsAddr
	}
	if d.fs.Changed("web-config-file") {
		metrics.WebConfigFile = *d.webConfig
	}
}

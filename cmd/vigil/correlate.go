package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/correlate"
	"github.com/vigilsoc/vigil/rules"
)

// correlation is where `vigil run` evaluates the correlation rules (docs/operations.md, "Correlation stage"):
//
//   - correlate.kafka set: the pipelines publish match records to the match topic (correlate.Publisher) and, unless
//     correlate.stage is false, this process also runs a correlation stage (correlate.Stage) over the partitions
//     its consumer group assigns it, writing to the same sinks with the same enrichers;
//   - otherwise, without Kafka sources: in-process (correlate.InProcess), one engine shared by the pipelines;
//   - otherwise (Kafka sources, no match topic): correlation rules are refused. Instances sharing a consumer group
//     would each see only the matches of their own partitions, and a restart would forget every open window, so
//     running them in-process would silently miss alerts. Start-up fails naming correlate.kafka; a reload that
//     brings correlation rules logs an error and they are not evaluated.
type correlation struct {
	correlator vigil.Correlator
	pub        *correlate.Publisher
	stage      *correlate.Stage
	// refuse says correlation rules cannot run here (Kafka sources without correlate.kafka).
	refuse bool
	log    *slog.Logger
}

// correlateNeedsKafka explains why correlation rules need correlate.kafka.
const correlateNeedsKafka = "with a Kafka source, correlation rules need the match topic: set correlate.kafka " +
	"(`correlate: {kafka: {}}` uses the first Kafka source's connection); several instances in one consumer group " +
	"would otherwise each see only their own partitions' matches (docs/operations.md, \"Correlation stage\")"

// newCorrelation sets up correlation for the rule set. With Kafka it checks the brokers and creates the topics; the
// stage does not run until start.
func newCorrelation(ctx context.Context, cfg *Config, engine *correlate.Engine, set *rules.RuleSet,
	opts correlate.StageOptions, mon *monitor, log *slog.Logger) (*correlation, error) {
	c := &correlation{log: log}
	mon.register(engine.Collector())
	kc := cfg.Correlate.KafkaConfig
	switch {
	case kc.Kafka == nil && hasKafkaSource(cfg):
		if names := correlationNames(set); names != "" { // runPipelines checked this before building the sinks
			return nil, fmt.Errorf("correlate: %s; the rules include correlations or suppressing rules: %s", correlateNeedsKafka, names)
		}
		c.refuse = true
		c.correlator = refusedCorrelator{}
		return c, nil
	case kc.Kafka == nil:
		c.correlator = correlate.NewInProcess(engine, len(cfg.Sources))
		return c, nil
	}
	pub, err := correlate.NewPublisher(ctx, kc, engine, log)
	if err != nil {
		return nil, err
	}
	c.pub, c.correlator = pub, pub
	mon.register(pub.Collector())
	pc := pub.Config()
	log.Info("correlation on Kafka", "topic", pc.Topic, "changelog_topic", pc.ChangelogTopic,
		"partitions", pub.Partitions(), "group", pc.GroupID, "stage", *cfg.Correlate.Stage)
	if !*cfg.Correlate.Stage {
		return c, nil
	}
	opts.Logger = log
	if c.stage, err = correlate.NewStage(pub, opts); err != nil {
		pub.Close()
		return nil, err
	}
	mon.register(c.stage.Collector())
	mon.ready.set("correlation stage", c.stage.Ready)
	return c, nil
}

// swapped follows a rule reload: correlation rules that cannot run here are reported, every time.
func (c *correlation) swapped(set *rules.RuleSet) {
	if names := correlationNames(set); c.refuse && names != "" {
		c.log.Error("correlation rules are not evaluated: "+correlateNeedsKafka, "correlations", names)
	}
}

// start runs the stage, if there is one, until ctx ends; stop is called when it fails. wait waits for it to stop
// and returns its error; it may be called more than once.
func (c *correlation) start(ctx context.Context, stop func()) (wait func() error) {
	if c.stage == nil {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	wait = sync.OnceValue(func() error { return <-done })
	go func() {
		err := c.stage.Run(ctx)
		st := &c.stage.Stats
		c.log.Info("correlation stage stopped", "records", st.Records.Load(), "alerts_written", st.AlertsWritten.Load(),
			"checkpoints", st.Checkpoints.Load(), "restores", st.Restores.Load(), "abandoned_batches", st.Abandoned.Load())
		if err != nil {
			stop()
		}
		done <- err
	}()
	return wait
}

// close releases the publisher and the stage; call it after the pipelines and the stage have stopped.
func (c *correlation) close() {
	if c.stage != nil {
		c.stage.Close()
	}
	if c.pub != nil {
		c.pub.Close()
	}
}

func hasKafkaSource(cfg *Config) bool {
	for _, s := range cfg.Sources {
		if s.Type == "kafka" {
			return true
		}
	}
	return false
}

// correlationNames lists the ids of the set's correlation and suppressing rules, "" when it has none.
func correlationNames(set *rules.RuleSet) string {
	return strings.Join(set.Stateful(), ", ")
}

// refusedCorrelator stands in for correlation where correlation rules are refused: it evaluates nothing, so the
// matches of rules that only feed correlations (Internal alerts) are written nowhere, as with a running engine.
type refusedCorrelator struct{}

func (refusedCorrelator) Correlate(context.Context, []*vigil.Alert) ([]*vigil.Alert, error) {
	return nil, nil
}
func (refusedCorrelator) Flush(context.Context) ([]*vigil.Alert, error) { return nil, nil }

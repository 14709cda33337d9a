package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fleet"
	"github.com/vigilsoc/vigil/rules"
)

// fleetRules is the rule set of an instance with rules.from: kafka: the latest bundle of the bundle topic, followed
// as new bundles arrive (package fleet), swapped in through the rule reloader like a reload from files.
type fleetRules struct {
	client   *fleet.Client
	follower *fleet.Follower
	shadow   atomic.Pointer[rules.Engine] // the shadow bundle's rules; nil: none
}

// detector evaluates the live rules with engine and then the shadow bundle's rules, whose alerts are marked shadow
// (docs/fleet.md, "Shadow mode"). The shadow engine is read once per event, so an event sees one shadow set.
func (fr *fleetRules) detector(engine *rules.Engine) vigil.Detector {
	return detectorFunc(func(ev *vigil.Event, dst []*vigil.Alert) []*vigil.Alert {
		dst = engine.Detect(ev, dst)
		if shadow := fr.shadow.Load(); shadow != nil {
			n := len(dst)
			dst = shadow.Detect(ev, dst)
			for _, a := range dst[n:] {
				rules.MarkShadow(a)
			}
		}
		return dst
	})
}

// detectorFunc is a vigil.Detector made of a function.
type detectorFunc func(ev *vigil.Event, dst []*vigil.Alert) []*vigil.Alert

func (f detectorFunc) Detect(ev *vigil.Event, dst []*vigil.Alert) []*vigil.Alert { return f(ev, dst) }

func (fr *fleetRules) swapShadow(_ *fleet.Bundle, set *rules.RuleSet) {
	if set == nil {
		fr.shadow.Store(nil)
		return
	}
	fr.shadow.Store(rules.NewEngine(set))
}

// startRules loads the rule set to start with: from the files (with the fingerprint the reloader compares), or
// from the bundle topic (fr set, fingerprint empty).
func startRules(ctx context.Context, env *rules.Env, rc RulesConfig, log *slog.Logger) (*rules.RuleSet, string, *fleetRules, error) {
	if rc.From != rulesFromKafka {
		set, fp, err := loadRules(env, rc.Paths, rc.Exceptions)
		if err != nil {
			return nil, "", nil, fmt.Errorf("rules:\n%w", err)
		}
		return set, fp, nil, nil
	}
	client, err := fleet.Open(ctx, rc.Config)
	if err != nil {
		return nil, "", nil, fmt.Errorf("rules: %w", err)
	}
	fr := &fleetRules{client: client, follower: &fleet.Follower{Client: client, Compile: bundleCompiler(env),
		Log: log.With("component", "rules", "instance", client.Config().InstanceID)}}
	fr.follower.SwapShadow = fr.swapShadow
	b, set, err := fr.follower.Start(ctx)
	if err != nil {
		client.Close()
		return nil, "", nil, fmt.Errorf("rules: %w", err)
	}
	log.Info("rule bundle loaded", "bundle", b.Version, "author", b.Author, "message", b.Message,
		"deployed", b.Time.Format(time.RFC3339), "topic", client.Config().Topic)
	return set, "", fr, nil
}

// bundleCompiler compiles bundles in env, the instance's rule environment (cost limit, lookup tables).
func bundleCompiler(env *rules.Env) func(*fleet.Bundle) (*rules.RuleSet, error) {
	return func(b *fleet.Bundle) (*rules.RuleSet, error) { return b.Compile(env) }
}

// run follows the bundle topic, swapping new bundles in through reloader, until ctx ends; stop waits for the
// follower to publish its last status and closes the client.
func (fr *fleetRules) run(ctx context.Context, reloader *ruleReloader) (stop func()) {
	fr.follower.Swap = func(b *fleet.Bundle, set *rules.RuleSet) {
		reloader.mu.Lock()
		defer reloader.mu.Unlock()
		reloader.swapIn(set, "bundle "+b.Version, time.Now())
	}
	fr.follower.Refused = func(string, error) {
		reloader.stats.failures.Add(1)
		reloader.stats.lastOK.Store(false)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fr.follower.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
		fr.client.Close()
	}
}

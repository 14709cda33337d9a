package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vigilsoc/vigil/rules"
)

// ErrNoBundle is returned by Follower.Start when the bundle topic holds no bundle that compiles.
var ErrNoBundle = errors.New("no rule bundle that compiles on the bundle topic: deploy one with vigil rules deploy")

// Follower keeps an instance on the latest bundle of the topic. Start loads it; Run follows the topic, and for
// each new bundle calls Compile and, when it compiles, Swap; a bundle that does not compile (or cannot be read) is
// refused, the running set stays, and the refusal goes to the status topic and the log.
type Follower struct {
	// Client reads the topics; the follower does not close it.
	Client *Client
	// Compile compiles a bundle in the instance's rule environment.
	Compile func(*Bundle) (*rules.RuleSet, error)
	// Swap puts a compiled set in service (the rule reloader's path: engine, correlation).
	Swap func(*Bundle, *rules.RuleSet)
	// SwapShadow puts the shadow bundle's compiled set in service beside the live one; nil set: no shadow rules.
	// Without it, shadow bundles are ignored.
	SwapShadow func(*Bundle, *rules.RuleSet)
	// Refused, when set, is told of each bundle refused while running (for metrics).
	Refused func(version string, err error)
	Log     *slog.Logger

	next int64 // the offset of the bundle topic to read next

	mu     sync.Mutex
	status Status
}

// Start reads the bundle topic up to its end and compiles the latest bundle; when that fails, it is reported as
// refused and the previous bundles are tried, newest first. It returns the set to start with.
func (f *Follower) Start(ctx context.Context) (*Bundle, *rules.RuleSet, error) {
	history, end, err := f.Client.history(ctx)
	if err != nil {
		return nil, nil, err
	}
	f.next = end
	f.status = Status{Instance: f.Client.cfg.InstanceID, Host: hostname(), PID: os.Getpid()}
	var live []Deployed
	for _, d := range history {
		if !d.IsShadow() {
			live = append(live, d)
		}
	}
	for i := len(live) - 1; i >= 0; i-- {
		d := live[i]
		set, err := f.compile(d)
		if err != nil {
			if i == len(live)-1 {
				f.status.Refused, f.status.Reason = versionOf(d), err.Error()
			}
			f.Log.Error("rule bundle refused at start: it does not compile", "bundle", versionOf(d), "err", err)
			continue
		}
		f.status.Bundle, f.status.BundleTime, f.status.Since = d.Bundle.Version, d.Bundle.Time, time.Now().UTC()
		if s := CurrentShadow(history); s != nil {
			f.applyShadow(*s)
		}
		f.publish(ctx)
		return d.Bundle, set, nil
	}
	f.publish(ctx)
	return nil, nil, fmt.Errorf("fleet: topic %s: %w", f.Client.cfg.Topic, ErrNoBundle)
}

func versionOf(d Deployed) string {
	if d.Bundle != nil {
		return d.Bundle.Version
	}
	return d.Key
}

func (f *Follower) compile(d Deployed) (*rules.RuleSet, error) {
	if d.Err != nil {
		return nil, d.Err
	}
	return f.Compile(d.Bundle)
}

// Status returns what the instance runs.
func (f *Follower) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// Run follows the bundle topic until ctx is done, and publishes the status on every change and every status
// interval; at the end it publishes the status as stopped. Read errors are logged and retried.
func (f *Follower) Run(ctx context.Context) {
	interval := f.Client.cfg.StatusInterval
	lastPublish := time.Now()
	for ctx.Err() == nil {
		msgs, next, err := f.Client.fetch(ctx, f.Client.cfg.Topic, f.next, min(interval, time.Second))
		if err != nil {
			if ctx.Err() == nil {
				f.Log.Warn("reading the rule bundle topic", "err", err)
				sleep(ctx, time.Second)
			}
		}
		f.next = next
		changed := false
		for _, m := range msgs {
			changed = f.apply(decodeDeployed(m)) || changed
		}
		if changed || time.Since(lastPublish) >= interval {
			f.publish(ctx)
			lastPublish = time.Now()
		}
	}
	f.mu.Lock()
	f.status.Stopped = true
	f.mu.Unlock()
	stopCtx, cancel := context.WithTimeout(context.Background(), f.Client.cfg.Kafka.ConnectTimeout)
	defer cancel()
	f.publish(stopCtx)
}

// apply runs one bundle record; it reports whether the status changed.
func (f *Follower) apply(d Deployed) bool {
	if d.IsShadow() {
		return f.applyShadow(d)
	}
	if d.Bundle != nil && d.Bundle.Version == f.Status().Bundle {
		return false // a deploy of the version already running
	}
	start := time.Now()
	set, err := f.compile(d)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.status.Refused, f.status.Reason = versionOf(d), err.Error()
		f.Log.Error("rule bundle refused: the previous rule set keeps running", "bundle", versionOf(d),
			"running", f.status.Bundle, "err", err)
		if f.Refused != nil {
			f.Refused(versionOf(d), err)
		}
		return true
	}
	f.Swap(d.Bundle, set)
	f.status.Bundle, f.status.BundleTime, f.status.Since = d.Bundle.Version, d.Bundle.Time, time.Now().UTC()
	f.status.Refused, f.status.Reason = "", ""
	f.Log.Info("rule bundle running", "bundle", d.Bundle.Version, "author", d.Bundle.Author, "message", d.Bundle.Message,
		"took", time.Since(start).Round(time.Millisecond).String())
	return true
}

// applyShadow runs one shadow bundle record: compiled and swapped in beside the live set, or, without files, the
// shadow rules stop; it reports whether the status changed.
func (f *Follower) applyShadow(d Deployed) bool {
	if f.SwapShadow == nil || (d.Bundle != nil && d.Bundle.Version == f.Status().Shadow && len(d.Bundle.Files) > 0) {
		return false
	}
	var set *rules.RuleSet
	var err error
	if d.Err != nil || len(d.Bundle.Files) > 0 {
		set, err = f.compile(d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.status.ShadowRefused, f.status.ShadowReason = versionOf(d), err.Error()
		f.Log.Error("shadow rule bundle refused: the previous shadow rules keep running", "bundle", versionOf(d),
			"running", f.status.Shadow, "err", err)
		if f.Refused != nil {
			f.Refused(versionOf(d), err)
		}
		return true
	}
	f.SwapShadow(d.Bundle, set)
	f.status.ShadowRefused, f.status.ShadowReason = "", ""
	if set == nil {
		f.status.Shadow = ""
		f.Log.Info("shadow rules stopped", "by", d.Bundle.Author, "message", d.Bundle.Message)
		return true
	}
	f.status.Shadow = d.Bundle.Version
	f.Log.Info("shadow rule bundle running", "bundle", d.Bundle.Version, "rules", len(set.Rules()),
		"author", d.Bundle.Author, "message", d.Bundle.Message)
	return true
}

func (f *Follower) publish(ctx context.Context) {
	s := f.Status()
	s.Updated = time.Now().UTC()
	if err := f.Client.PublishStatus(ctx, s); err != nil && ctx.Err() == nil {
		f.Log.Warn("publishing the rule status", "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

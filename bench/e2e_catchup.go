package bench

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/sinks"
	"github.com/vigilsoc/vigil/testenv/faultproxy"
)

// CatchUp is the index-outage measurement: records arrive at a steady rate, the search engine goes away for Outage
// (a TCP proxy between `vigil run` and the engine cuts every connection), comes back, and Vigil drains the backlog.
type CatchUp struct {
	Flavor        string  `json:"flavor"`
	Rate          string  `json:"rate"`
	ProducedPerS  float64 `json:"produced_per_sec"` // the steady arrival rate
	SteadyPerS    float64 `json:"steady_per_sec"`   // records committed per second before the outage
	OutageSeconds float64 `json:"outage_seconds"`
	Backlog       int64   `json:"backlog"` // lag when the engine came back
	// DrainSeconds is from the engine's return to the first lag below a tenth of a second of arrivals; the rate is
	// what was committed meanwhile, per second.
	DrainSeconds float64 `json:"drain_seconds"`
	CatchUpPerS  float64 `json:"catch_up_per_sec"`
	// FirstStoreSeconds is from the engine's return to the first alert stored after it (searchable: within the
	// refresh interval): how long the sink's retry backoff kept it waiting.
	FirstStoreSeconds float64 `json:"first_store_seconds"`
	VigilPeakRSS      int64   `json:"vigil_peak_rss_bytes"`
	Stored            int     `json:"stored"`
	Missing           int     `json:"missing"`
	Duplicated        int     `json:"duplicated"`
	Unexpected        int     `json:"unexpected"`
}

// RunCatchUp produces the workload into a new topic at a steady rate over steady + outage + after, with the search
// engine away during the outage, and measures how Vigil catches up. rate names the rule set; expected are its alerts
// (from replay, as RunE2E computes them).
func RunCatchUp(ctx context.Context, o E2EOptions, t SearchTarget, rate string, expected map[string]string, alerts []*vigil.Alert,
	steady, outage, after time.Duration) (*CatchUp, error) {
	o.defaults()
	w := NewE2EWorkload(o.Events, o.Tenants, o.Seed, o.Base)
	topic, prefix := o.Name+"-catchup", fmt.Sprintf("%s-catchup-%s", o.Name, t.Flavor)
	tp, cleanup, err := o.scratch(ctx, topic, t, prefix)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if err := PrepareIndices(ctx, searchConfig(t, prefix), alerts, nil); err != nil {
		return nil, err
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, err
	}
	proxy, err := faultproxy.New(u.Host)
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	spec := runSpec{dir: filepath.Join(o.Dir, rate), name: "catchup", group: prefix + "-group", topic: topic,
		url: "http://" + proxy.Addr(), prefix: prefix, settings: o.Settings}
	vr, err := o.startVigilRun(w, t, spec)
	if err != nil {
		return nil, err
	}
	defer vr.stop()
	group, metrics := spec.group, vr.metrics
	for { // wait until vigil run serves its metrics: it has started
		if _, err := metricValue(ctx, metrics, "vigil_events_read_total"); err == nil {
			break
		}
		select {
		case err := <-vr.exited:
			return nil, vr.exit(err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	total := steady + outage + after
	res := &CatchUp{Flavor: t.Flavor, Rate: rate, OutageSeconds: outage.Seconds(),
		ProducedPerS: float64(len(w.Events)) / total.Seconds()}
	var produced atomic.Int64
	prodErr := make(chan error, 1)
	start := time.Now()
	go func() { prodErr <- w.producePaced(ctx, o.Kafka, topic, total, &produced) }()
	committed := func() (int64, error) {
		lag, err := GroupLag(ctx, o.Kafka, group, topic, o.Partitions)
		return produced.Load() - lag, err
	}
	// Steady phase, then the outage.
	sleepCtx(ctx, steady)
	c0, _ := committed()
	res.SteadyPerS = float64(c0) / time.Since(start).Seconds()
	proxy.Cut()
	sleepCtx(ctx, outage)
	proxy.Restore()
	back := time.Now()
	cBack, err := committed()
	if err != nil {
		return nil, err
	}
	res.Backlog = produced.Load() - cBack
	stored, err := CountDocs(ctx, tp, prefix+"-*")
	if err != nil {
		return nil, err
	}
	threshold := int64(res.ProducedPerS / 10)
	deadline := back.Add(o.Timeout)
	for res.DrainSeconds == 0 {
		if n, err := CountDocs(ctx, tp, prefix+"-*"); err == nil && res.FirstStoreSeconds == 0 && n > stored {
			res.FirstStoreSeconds = time.Since(back).Seconds()
		}
		c, err := committed()
		lag := produced.Load() - c
		if err == nil && lag <= threshold {
			res.DrainSeconds = time.Since(back).Seconds()
			res.CatchUpPerS = float64(c-cBack) / res.DrainSeconds
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("catch-up: lag %d after %s (log %s)", lag, o.Timeout, vr.log.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := <-prodErr; err != nil {
		return nil, err
	}
	for { // the end: lag 0 and every alert searchable
		lag, lagErr := GroupLag(ctx, o.Kafka, group, topic, o.Partitions)
		n, countErr := CountDocs(ctx, tp, prefix+"-*")
		if lagErr == nil && countErr == nil && lag == 0 && n >= int64(len(expected)) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("catch-up: lag %d, %d of %d alerts after %s", lag, n, len(expected), o.Timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	res.VigilPeakRSS, _ = PeakRSS(vr.cmd.Process.Pid)
	var run E2ERun
	if err := run.account(ctx, tp, prefix, expected, spec.letters()); err != nil {
		return nil, err
	}
	res.Stored, res.Missing, res.Duplicated, res.Unexpected = run.Stored, run.Missing, run.Duplicated, run.Unexpected
	return res, nil
}

// producePaced writes the workload's records evenly over d, in ticks of 100 ms, counting them in produced.
func (w E2EWorkload) producePaced(ctx context.Context, addr, topic string, d time.Duration, produced *atomic.Int64) error {
	wr := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.RoundRobin{}, BatchSize: 1000,
		BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer wr.Close()
	const tick = 100 * time.Millisecond
	ticks := int(d / tick)
	start := time.Now()
	next := 0
	for i := 1; i <= ticks; i++ {
		upTo := len(w.Events) * i / ticks
		msgs := make([]kafka.Message, 0, upTo-next)
		for j := next; j < upTo; j++ {
			msgs = append(msgs, kafka.Message{Value: w.Events[j], Headers: []kafka.Header{{Key: "tenant", Value: []byte(w.Tenant(j))}}})
		}
		if err := wr.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("produce to %s: %w", topic, err)
		}
		produced.Add(int64(len(msgs)))
		next = upTo
		sleepCtx(ctx, time.Until(start.Add(time.Duration(i)*tick)))
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// scratch creates a topic of o.Partitions partitions and a transport to the engine for a measurement of its own;
// cleanup deletes the topic and the indices (and template) of prefix.
func (o *E2EOptions) scratch(ctx context.Context, topic string, t SearchTarget, prefix string) (esapi.Transport, func(), error) {
	if err := CreateTopic(ctx, o.Kafka, topic, o.Partitions); err != nil {
		return nil, nil, err
	}
	tp, err := sinks.NewSearchTransport(searchConfig(t, prefix))
	cleanup := func() {
		ctx := context.WithoutCancel(ctx)
		_ = DeleteTopic(ctx, o.Kafka, topic)
		if tp != nil {
			_ = DeleteIndices(ctx, tp, prefix+"-*", prefix)
		}
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return tp, cleanup, nil
}

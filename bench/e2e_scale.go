package bench

import (
	"context"
	"fmt"
	"time"
)

// Scale is a run of several `vigil run` instances in one consumer group over one topic (docs/scaling.md).
type Scale struct {
	Instances  int     `json:"instances"`
	Partitions int     `json:"partitions"`
	Seconds    float64 `json:"seconds"` // from the first record produced to lag 0 with every alert searchable
	// Events is what each instance read (its vigil_events_read_total); Spread is the largest over the smallest.
	Events     []int64 `json:"events"`
	Spread     float64 `json:"spread"`
	Stored     int     `json:"stored"`
	Missing    int     `json:"missing"`
	Duplicated int     `json:"duplicated"`
	Unexpected int     `json:"unexpected"`
}

// RunScale starts instances of `vigil run` in one group over a new topic of o.Partitions partitions, waits until the
// group has given each its share of the partitions, produces the workload, and measures the split and the accounting.
// dir holds the rate's rule file (RunE2E's layout); expected are its alerts.
func RunScale(ctx context.Context, o E2EOptions, t SearchTarget, dir string, expected map[string]string, instances int) (*Scale, error) {
	o.defaults()
	w := NewE2EWorkload(o.Events, o.Tenants, o.Seed, o.Base)
	name := fmt.Sprintf("%s-scale%d", o.Name, instances)
	topic, prefix, group := name+"-events", name+"-"+t.Flavor, name+"-group"
	tp, cleanup, err := o.scratch(ctx, topic, t, prefix)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	addrs := make([]string, instances)
	var spec runSpec
	for i := range instances {
		spec = runSpec{dir: dir, name: fmt.Sprintf("%s-%d", name, i), group: group, topic: topic, url: t.URL, prefix: prefix,
			settings: o.Settings}
		vr, err := o.startVigilRun(w, t, spec)
		if err != nil {
			return nil, err
		}
		defer vr.stop()
		addrs[i] = vr.metrics
	}
	deadline := time.Now().Add(o.Timeout)
	// Every instance owns its share of the partitions (12 over 4: 3 each) before a record is produced, so that the
	// split measured is the group's steady assignment, not who joined first.
	for {
		owned, ok := make([]int, instances), true
		for i, a := range addrs {
			owned[i], _ = metricSamples(ctx, a, "vigil_kafka_high_watermark")
			ok = ok && owned[i] > 0
		}
		if sum(owned) == o.Partitions && ok {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the group did not settle: partitions owned per instance %v", owned)
		}
		time.Sleep(250 * time.Millisecond)
	}
	start := time.Now()
	if _, err := w.Produce(ctx, o.Kafka, topic, "tenant"); err != nil {
		return nil, err
	}
	for {
		lag, lagErr := GroupLag(ctx, o.Kafka, group, topic, o.Partitions)
		n, countErr := CountDocs(ctx, tp, prefix+"-*")
		if lagErr == nil && countErr == nil && lag == 0 && n >= int64(len(expected)) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d instances: lag %d (%v), %d of %d alerts (%v) after %s", instances, lag, lagErr, n,
				len(expected), countErr, o.Timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	res := &Scale{Instances: instances, Partitions: o.Partitions, Seconds: time.Since(start).Seconds()}
	lo, hi := int64(-1), int64(0)
	for _, a := range addrs {
		v, err := metricValue(ctx, a, "vigil_events_read_total")
		if err != nil {
			return nil, err
		}
		n := int64(v)
		res.Events = append(res.Events, n)
		hi = max(hi, n)
		if lo < 0 || n < lo {
			lo = n
		}
	}
	if lo > 0 {
		res.Spread = float64(hi) / float64(lo)
	}
	var run E2ERun
	if err := run.account(ctx, tp, prefix, expected, spec.letters()); err != nil {
		return nil, err
	}
	res.Stored, res.Missing, res.Duplicated, res.Unexpected = run.Stored, run.Missing, run.Duplicated, run.Unexpected
	return res, nil
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/correlate"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// CostOptions bound MeasureCorrelationCost.
type CostOptions struct {
	// MinDuration is how long the passes of each variant run at least, in all; default 1s.
	MinDuration time.Duration
	// MinRounds is the least number of rounds (one pass of each variant); default 5.
	MinRounds int
	// Batch is how many events make a batch, as a file source reads them; default 500.
	Batch int
}

func (o *CostOptions) defaults() {
	if o.MinDuration <= 0 {
		o.MinDuration = time.Second
	}
	if o.MinRounds <= 0 {
		o.MinRounds = 5
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
}

// CostResult is what loading correlations adds to the detection path: the same events through decode, Detect and,
// per batch, nothing (A: no correlations), the in-process engine (B: correlate.InProcess.Correlate, with the
// correlations in the rule set), or the match records correlate.Publisher would send (C: correlate.Engine.Records
// and each record's key and encoding, without the engine and without Kafka). The variants alternate, in a rotating order, over Rounds
// rounds; times are those of the median pass, and costs the median of the rounds' own ratios, each round's passes
// having run close together, under the same load.
type CostResult struct {
	Workload     string `json:"workload"`
	Rules        int    `json:"rules"`
	Correlations int    `json:"correlations"`
	// Named is how many of the workload's rules the correlations name; NamedAlerts how many alerts of one pass are
	// theirs.
	Named       int `json:"named_rules"`
	NamedAlerts int `json:"named_alerts"`
	Events      int `json:"events"`
	Batch       int `json:"batch"`
	Rounds      int `json:"rounds"`
	// Alerts are the single-event alerts of one pass; MatchRecords how many match records they make;
	// CorrelationAlerts the correlation alert versions B's engine returned in one pass, the final Flush included.
	Alerts            int `json:"alerts"`
	MatchRecords      int `json:"match_records"`
	CorrelationAlerts int `json:"correlation_alerts"`
	// Wall time per event of the median pass, and CPU time (all threads) per event of the median pass.
	DetectMicros       float64 `json:"detect_us_per_event"`
	CorrelateMicros    float64 `json:"correlate_us_per_event"`
	RecordsMicros      float64 `json:"records_us_per_event"`
	DetectCPUMicros    float64 `json:"detect_cpu_us_per_event"`
	CorrelateCPUMicros float64 `json:"correlate_cpu_us_per_event"`
	RecordsCPUMicros   float64 `json:"records_cpu_us_per_event"`
	// Cost is B/A - 1 and RecordsCost C/A - 1: the median over the rounds of the ratio of their passes' wall times;
	// the quartiles say how much it moves from round to round. The CPU variants use CPU time.
	Cost           float64    `json:"cost"`
	CostSpread     [2]float64 `json:"cost_quartiles"`
	RecordsCost    float64    `json:"records_cost"`
	RecordsSpread  [2]float64 `json:"records_cost_quartiles"`
	CPUCost        float64    `json:"cpu_cost"`
	RecordsCPUCost float64    `json:"records_cpu_cost"`
}

// costCorrelations is the rule file of the 20 correlations over the rules that raise the most alerts of a workload
// (named, at least 20 ids): 14 event_count, 4 value_count, one temporal_ordered, one absence, grouped by host or user.
func costCorrelations(named []string) []byte {
	var sb strings.Builder
	for i := range 20 {
		if i > 0 {
			sb.WriteString("---\n")
		}
		fmt.Fprintf(&sb, "id: bench.corr_%02d\nname: bench correlation %d\nseverity: high\ncorrelation:\n", i, i)
		by := [...]string{"host.name", "user.name"}[i%2]
		switch {
		case i < 14:
			fmt.Fprintf(&sb, "  type: event_count\n  rules: [%s]\n  group_by: [%s]\n  timespan: 10m\n  condition: {gte: %d}\n",
				named[i], by, 2+i%3)
		case i < 18:
			fmt.Fprintf(&sb, "  type: value_count\n  rules: [%s, %s]\n  group_by: [host.name]\n  timespan: 1h\n  condition: {field: user.name, gte: 2}\n",
				named[i], named[i+2])
		case i == 18:
			fmt.Fprintf(&sb, "  type: temporal_ordered\n  rules: [%s, %s]\n  group_by: [host.name]\n  timespan: 1h\n", named[0], named[1])
		default:
			fmt.Fprintf(&sb, "  type: absence\n  rules: [%s]\n  followed_by: [%s]\n  group_by: [host.name]\n  timespan: 30m\n",
				named[2], named[3])
		}
	}
	return []byte(sb.String())
}

// firingRules returns the ids of the rules that raise alerts on the events, those with the most alerts first, and
// their alerts' counts.
func firingRules(set *rules.RuleSet, events [][]byte) ([]string, map[string]int, error) {
	engine := rules.NewEngine(set)
	counts := map[string]int{}
	var alerts []*vigil.Alert
	for _, raw := range events {
		tree, err := fields.Parse(raw)
		if err != nil {
			return nil, nil, err
		}
		alerts = engine.Detect(&vigil.Event{Raw: raw, Fields: tree, Tenant: rules.DefaultTenant}, alerts[:0])
		for _, a := range alerts {
			counts[a.RuleID]++
		}
		tree.Release()
	}
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	return ids, counts, nil
}

// costVariant is one way of finishing a batch's alerts; it returns how many match records and correlation alerts
// the batch made.
type costVariant func(alerts []*vigil.Alert) (records, correlated int, err error)

// MeasureCorrelationCost measures what 20 correlations over the rules of w that raise the most alerts add to w's
// detection loop (see CostResult).
func MeasureCorrelationCost(env *rules.Env, w Workload, opts CostOptions) (CostResult, error) {
	opts.defaults()
	fail := func(err error) (CostResult, error) { return CostResult{}, fmt.Errorf("bench correlate-cost: %w", err) }
	plain, err := env.CompileSet(w.Rules)
	if err != nil {
		return fail(err)
	}
	named, counts, err := firingRules(plain, w.Events)
	if err != nil {
		return fail(err)
	}
	if len(named) < 20 {
		return fail(fmt.Errorf("%d rules raise alerts, want at least 20 to name", len(named)))
	}
	corrs, err := rules.Parse("bench-cost-correlations.yml", costCorrelations(named))
	if err != nil {
		return fail(err)
	}
	loaded, err := env.CompileSet(slices.Concat(w.Rules, corrs))
	if err != nil {
		return fail(err)
	}
	res := CostResult{Workload: "correlate-cost:" + w.Name, Rules: len(plain.Rules()), Correlations: len(corrs),
		Named: 20, Events: len(w.Events), Batch: opts.Batch}
	for _, id := range named[:20] {
		res.NamedAlerts += counts[id]
	}
	c := &costRun{w: w, batch: opts.Batch, plain: rules.NewEngine(plain), loaded: rules.NewEngine(loaded), set: loaded}
	if err := c.rounds(opts, &res); err != nil {
		return fail(err)
	}
	return res, nil
}

// costRun holds the three variants' engines and times.
type costRun struct {
	w             Workload
	batch         int
	plain, loaded *rules.Engine
	set           *rules.RuleSet
	wall          [3][]time.Duration
	cpu           [3][]time.Duration
}

func (c *costRun) rounds(opts CostOptions, res *CostResult) error {
	start := time.Now()
	for r := 0; r < opts.MinRounds || time.Since(start) < 3*opts.MinDuration; r++ {
		for k := range 3 {
			v := (r + k) % 3 // rotate the order, so no variant always runs after the same one
			alerts, records, correlated, err := c.pass(v)
			if err != nil {
				return err
			}
			res.Alerts = alerts
			switch v {
			case 1:
				res.MatchRecords, res.CorrelationAlerts = records, correlated
			case 2:
				if records != res.MatchRecords && res.MatchRecords != 0 {
					return fmt.Errorf("the publisher made %d match records, the engine %d", records, res.MatchRecords)
				}
			}
		}
		res.Rounds++
	}
	n := float64(len(c.w.Events))
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 / n }
	res.DetectMicros, res.CorrelateMicros, res.RecordsMicros = per(median(c.wall[0])), per(median(c.wall[1])), per(median(c.wall[2]))
	res.DetectCPUMicros, res.CorrelateCPUMicros, res.RecordsCPUMicros = per(median(c.cpu[0])), per(median(c.cpu[1])), per(median(c.cpu[2]))
	b, cc := costs(c.wall[1], c.wall[0]), costs(c.wall[2], c.wall[0])
	res.Cost, res.CostSpread = b[len(b)/2], [2]float64{b[len(b)/4], b[len(b)*3/4]}
	res.RecordsCost, res.RecordsSpread = cc[len(cc)/2], [2]float64{cc[len(cc)/4], cc[len(cc)*3/4]}
	if res.DetectCPUMicros > 0 {
		b, cc = costs(c.cpu[1], c.cpu[0]), costs(c.cpu[2], c.cpu[0])
		res.CPUCost, res.RecordsCPUCost = b[len(b)/2], cc[len(cc)/2]
	}
	return nil
}

// costs returns the ratios b[i]/a[i] minus 1, sorted.
func costs(b, a []time.Duration) []float64 {
	rs := make([]float64, len(a))
	for i := range a {
		rs[i] = float64(b[i])/float64(a[i]) - 1
	}
	slices.Sort(rs)
	return rs
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// pass runs the events once through variant v (0 A, 1 B, 2 C), timing it, and returns its counts. B's final
// Flush, which a stream never makes, is not timed.
func (c *costRun) pass(v int) (alerts, records, correlated int, err error) {
	engine, finish := c.plain, costVariant(nil)
	var inproc *correlate.InProcess
	switch v {
	case 1:
		e := correlate.New(c.set, correlate.Config{})
		engine, inproc = c.loaded, correlate.NewInProcess(e, 1)
		finish = func(as []*vigil.Alert) (int, int, error) {
			n := e.Stats.Records.Load()
			out, err := inproc.Correlate(context.Background(), as)
			return int(e.Stats.Records.Load() - n), len(out), err
		}
	case 2:
		engine, finish = c.loaded, publisher(correlate.New(c.set, correlate.Config{}))
	}
	runtime.GC() // every pass starts from the same heap, so collections fall alike in each
	var m meter
	m.begin()
	alerts, records, correlated, err = c.detect(engine, finish)
	m.end()
	if err != nil {
		return 0, 0, 0, err
	}
	c.wall[v], c.cpu[v] = append(c.wall[v], m.wall), append(c.cpu[v], m.cpu)
	if inproc != nil {
		out, err := inproc.Flush(context.Background())
		return alerts, records, correlated + len(out), err
	}
	return alerts, records, correlated, nil
}

// detect is the detection loop of bench.Run in batches: decode and Detect each event, finish the batch's alerts,
// then release the batch's trees (alerts read their events until the batch is done, as in the pipeline).
func (c *costRun) detect(engine *rules.Engine, finish costVariant) (alerts, records, correlated int, err error) {
	var batch []*vigil.Alert
	trees := make([]fields.Value, 0, c.batch)
	for start := 0; start < len(c.w.Events); start += c.batch {
		batch, trees = batch[:0], trees[:0]
		for _, raw := range c.w.Events[start:min(start+c.batch, len(c.w.Events))] {
			tree, err := fields.Parse(raw)
			if err != nil {
				return 0, 0, 0, err
			}
			trees = append(trees, tree)
			batch = engine.Detect(&vigil.Event{Raw: raw, Fields: tree, Tenant: rules.DefaultTenant}, batch)
		}
		alerts += len(batch)
		if finish != nil {
			r, k, err := finish(batch)
			if err != nil {
				return 0, 0, 0, err
			}
			records, correlated = records+r, correlated+k
		}
		for _, t := range trees {
			t.Release()
		}
		clear(batch)
	}
	return alerts, records, correlated, nil
}

// publisher is what correlate.Publisher does per batch before it writes to Kafka: each alert's match records
// (Engine.Records), and for each record a message of its key and encoding.
func publisher(e *correlate.Engine) costVariant {
	type message struct{ key, value []byte }
	return func(as []*vigil.Alert) (int, int, error) {
		var recs []correlate.Record
		for _, a := range as {
			recs = e.Records(a, recs)
		}
		msgs := make([]message, len(recs))
		for i := range recs {
			msgs[i] = message{key: recs[i].Key(), value: recs[i].AppendBinary(nil)}
		}
		return len(msgs), 0, nil
	}
}

package bench

import (
	"fmt"
	"runtime"
	"time"

	"github.com/vigilsoc/vigil/correlate"
	"github.com/vigilsoc/vigil/rules"
)

// CorrelateResult is the correlation workload's measurement: the stage's work per match record on one goroutine
// (decode, Partition.Add, and every Batch records Partition.Advance and Partition.Checkpoint), against a baseline in
// the same run that decodes the same records and counts them per group in a map, the least a correlator must do.
type CorrelateResult struct {
	Workload     string  `json:"workload"`
	Correlations int     `json:"correlations"`
	Groups       int     `json:"groups"`
	Records      int     `json:"records"`
	SpacingMS    float64 `json:"spacing_ms"`
	Batch        int     `json:"batch"`
	// GroupsSeen is how many distinct groups the records fell into; OpenGroups how many the engine held at the end.
	GroupsSeen int   `json:"groups_seen"`
	OpenGroups int64 `json:"open_groups"`
	// Alerts are the correlation alerts raised (first versions), Rewrites their later versions; Late, Duplicates,
	// Evicted and Unknown count records the engine did not apply (all 0 in this workload).
	Alerts     int64 `json:"alerts"`
	Rewrites   int64 `json:"rewrites"`
	Late       int64 `json:"late"`
	Duplicates int64 `json:"duplicates"`
	Evicted    int64 `json:"evicted"`
	Unknown    int64 `json:"unknown"`
	// RecordsPerSec is the rate on the measuring goroutine (wall time); RecordsPerCPUSec divides by the process's CPU
	// time instead, the garbage collector's on the other cores included.
	RecordsPerSec    float64 `json:"records_per_sec"`
	MicrosPerRecord  float64 `json:"us_per_record"`
	RecordsPerCPUSec float64 `json:"records_per_cpu_sec"`
	AllocsPerRecord  float64 `json:"allocs_per_record"`
	// CheckpointBytesPerRecord is the changelog written (keys and values) per record.
	CheckpointBytesPerRecord float64 `json:"checkpoint_bytes_per_record"`
	// AdvanceShare and CheckpointShare are the parts of the engine's wall time spent in Advance and in Checkpoint;
	// the rest is decoding and Add.
	AdvanceShare    float64 `json:"advance_share"`
	CheckpointShare float64 `json:"checkpoint_share"`
	// LiveBytesPerGroup is the live heap the partition holds at the end, per open group, over all the types.
	LiveBytesPerGroup float64 `json:"live_bytes_per_open_group"`

	BaselineRecordsPerSec    float64 `json:"baseline_records_per_sec"`
	BaselineRecordsPerCPUSec float64 `json:"baseline_records_per_cpu_sec"`
	// Overhead is how many times the baseline's time per record the engine takes (wall time).
	Overhead float64 `json:"overhead"`

	// BytesPerGroup is the heap one open event_count group of one match takes (MeasureGroupBytes).
	BytesPerGroup float64 `json:"bytes_per_event_count_group"`
}

// chunkRecords is how many records are encoded at a time, untimed, before the measured loop takes them: a fetch
// from the match topic.
const chunkRecords = 50_000

// MeasureCorrelate runs the correlation workload (CorrelationRules over the records of opts) through a Partition on
// one goroutine, then the baseline on the same records, then measures the bytes per open event_count group.
func MeasureCorrelate(env *rules.Env, opts CorrelateOptions) (CorrelateResult, error) {
	opts.defaults()
	set, err := compileRuleFile(env, "bench-correlations.yml", CorrelationRules())
	if err != nil {
		return CorrelateResult{}, fmt.Errorf("bench correlate: %w", err)
	}
	res := CorrelateResult{Workload: "correlate", Correlations: len(set.Correlations()), Groups: opts.Groups,
		Records: opts.Records, SpacingMS: float64(opts.Spacing) / float64(time.Millisecond), Batch: opts.Batch}
	if err := runEngine(set, opts, &res); err != nil {
		return res, err
	}
	if err := runBaseline(opts, &res); err != nil {
		return res, err
	}
	res.Overhead = res.BaselineRecordsPerSec / max(res.RecordsPerSec, 1)
	res.BytesPerGroup = MeasureGroupBytes(set, opts.Groups)
	return res, nil
}

// meter sums the wall and CPU time of the measured parts of a run.
type meter struct {
	wall, cpu, cpu0 time.Duration
	t0              time.Time
}

func (m *meter) begin() { m.t0, m.cpu0 = time.Now(), cpuTime() }
func (m *meter) end()   { m.wall += time.Since(m.t0); m.cpu += cpuTime() - m.cpu0 }

// rate is n per second of d, or 0 when d was not measured.
func rate(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// drive encodes the workload's records a chunk at a time, untimed, and hands each chunk to take, timed; it returns
// the time and the allocations of the takes.
func drive(opts CorrelateOptions, take func(buf []byte, ends []int) error) (m meter, mallocs uint64, err error) {
	stream := newMatchStream(opts)
	var buf []byte
	var ends []int
	var ms runtime.MemStats
	for done := 0; done < opts.Records; done += len(ends) {
		buf, ends = stream.chunk(min(chunkRecords, opts.Records-done), buf, ends)
		runtime.ReadMemStats(&ms)
		mallocs -= ms.Mallocs
		m.begin()
		err = take(buf, ends)
		m.end()
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs
		if err != nil {
			return m, mallocs, fmt.Errorf("bench correlate: chunk at record %d: %w", done, err)
		}
	}
	return m, mallocs, nil
}

// stage is the correlation stage's loop over one partition: decode, Add, and every batch records Advance and
// Checkpoint, the changelog's records encoded.
type stage struct {
	p                   *correlate.Partition
	batch, n, changelog int
	r                   correlate.Record
	dec                 correlate.Decoder
	advance, checkpoint time.Duration
}

func (s *stage) take(buf []byte, ends []int) error {
	start := 0
	for _, end := range ends {
		if err := s.dec.Decode(buf[start:end], &s.r); err != nil { // as the stage decodes
			return err
		}
		start = end
		s.p.Add(&s.r)
		if s.n++; s.n%s.batch == 0 {
			t0 := time.Now()
			s.p.Advance()
			t1 := time.Now()
			for _, c := range s.p.Checkpoint() {
				s.changelog += len(c.Key) + len(c.Value)
			}
			s.advance, s.checkpoint = s.advance+t1.Sub(t0), s.checkpoint+time.Since(t1)
		}
	}
	return nil
}

func runEngine(set *rules.RuleSet, opts CorrelateOptions, res *CorrelateResult) error {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := correlate.New(set, correlate.Config{})
	s := &stage{p: e.NewPartition(nil), batch: opts.Batch}
	m, mallocs, err := drive(opts, s.take)
	if err != nil {
		return err
	}
	st := e.Stats
	res.OpenGroups, res.Alerts, res.Rewrites = st.Groups.Load(), st.Alerts.Load(), st.Rewrites.Load()
	res.Late, res.Duplicates, res.Evicted, res.Unknown = st.Late.Load(), st.Duplicates.Load(), st.Evicted.Load(), st.Unknown.Load()
	n := float64(opts.Records)
	res.RecordsPerSec, res.MicrosPerRecord = rate(n, m.wall), float64(m.wall.Microseconds())/n
	res.RecordsPerCPUSec = rate(n, m.cpu)
	res.AllocsPerRecord = float64(mallocs) / n
	res.CheckpointBytesPerRecord = float64(s.changelog) / n
	res.AdvanceShare, res.CheckpointShare = s.advance.Seconds()/m.wall.Seconds(), s.checkpoint.Seconds()/m.wall.Seconds()
	runtime.GC()
	runtime.ReadMemStats(&after)
	res.LiveBytesPerGroup = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(max(res.OpenGroups, 1))
	runtime.KeepAlive(s)
	return nil
}

// runBaseline decodes the same records and counts them per group key in a map.
func runBaseline(opts CorrelateOptions, res *CorrelateResult) error {
	runtime.GC()
	counts := map[string]int{}
	var key []byte
	var r correlate.Record
	var dec correlate.Decoder
	m, _, err := drive(opts, func(buf []byte, ends []int) error {
		start := 0
		for _, end := range ends {
			if err := dec.Decode(buf[start:end], &r); err != nil {
				return err
			}
			start = end
			key = append(append(append(append(key[:0], r.Tenant...), 0), r.Rule...), 0)
			for _, v := range r.Group {
				key = append(append(key, v...), 0)
			}
			counts[string(key)]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	n := float64(opts.Records)
	res.BaselineRecordsPerSec, res.BaselineRecordsPerCPUSec = rate(n, m.wall), rate(n, m.cpu)
	res.GroupsSeen = len(counts)
	return nil
}

// MeasureGroupBytes returns the heap growth per open group when n groups of the set's first correlation (an
// event_count) each hold one match, after an Advance and a Checkpoint, as correlate's BenchmarkOpenGroupBytes.
func MeasureGroupBytes(set *rules.RuleSet, n int) float64 {
	c := set.Correlations()[0]
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p := correlate.New(set, correlate.Config{}).NewPartition(nil)
	r := correlate.Record{Tenant: rules.DefaultTenant, Rule: c.ID, Input: c.Correlation.Rules[0],
		Time: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	for i := range n {
		r.AlertID = fmt.Sprintf("%032x", i)
		r.Group = []string{fmt.Sprintf("user%07d", i)}
		p.Add(&r)
	}
	p.Advance()
	p.Checkpoint()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(p)
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
}

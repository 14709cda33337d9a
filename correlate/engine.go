// Package correlate is Vigil's stateful stage (DESIGN.md section 10): it evaluates correlation rules (thresholds,
// distinct counts, sequences, absence; rules.Correlation) over the match records of the rules they name, in event
// time, per tenant and group, and raises correlation alerts.
//
// The same Engine runs in-process behind the pipeline (file sources, `vigil replay`, `vigil rules test`: see
// InProcess) and in the correlation stage that consumes the match topic (see Stage), so both give the same alerts.
// The contract is docs/rules.md, "Correlation rules"; in short:
//
//   - Time is event time. Each partition keeps a watermark per tenant: the largest event time seen minus the allowed
//     lateness. A record older than the watermark is late: counted and dropped. Everything else is applied in event
//     time order (ties by alert id) once the watermark passes it, so records arriving out of order within the
//     lateness give exactly the alerts in-order arrival gives. A tenant idle for IdleTimeout of processing time has
//     its watermark advanced by the processing time that passes, so windows still close and silence is noticed.
//   - Monotone conditions (only gt, gte) slide: the match is raised when some window of timespan ending at a match
//     meets the condition; the group's matches in the timespan after it are added to the same alert (a rewrite
//     under the same id, vigil.Alert.Update); then the group starts afresh.
//   - Other conditions, value_avg and value_percentile close: a window opens at the group's first match and is
//     decided when the watermark passes its end. Absence waits timespan after each opening match for a followed_by
//     match.
//   - At equal times a window end or deadline comes before a match: windows are half-open, [start, start+timespan).
//
// A Partition is owned by one goroutine at a time; different partitions of one Engine may run concurrently (they share
// only the engine's rule set and atomic counters), and Swap may be called meanwhile.
package correlate

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/rules"
)

// Config bounds the engine's lateness and memory.
type Config struct {
	// AllowedLateness is how far behind the newest event time of its tenant and partition a match may arrive and
	// still count exactly (default 1m).
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	// IdleTimeout is how long a tenant's partition may receive nothing before its watermark advances with processing
	// time (default 1m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxGroupsPerRule bounds the open groups of one correlation in this process, over all the partitions it owns
	// (default 1,000,000); a match that would open one more is dropped and counted as evicted.
	MaxGroupsPerRule int `yaml:"max_groups_per_rule"`
	// MaxEventsPerGroup bounds the matches one group keeps (default 10,000); beyond it the oldest is dropped and
	// counted as evicted.
	MaxEventsPerGroup int `yaml:"max_events_per_group"`
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.AllowedLateness == 0 {
		c.AllowedLateness = time.Minute
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = time.Minute
	}
	if c.MaxGroupsPerRule == 0 {
		c.MaxGroupsPerRule = 1_000_000
	}
	if c.MaxEventsPerGroup == 0 {
		c.MaxEventsPerGroup = 10_000
	}
	return c
}

// Stats count the engine's work over all its partitions; safe to read concurrently.
type Stats struct {
	Records    atomic.Int64 // match records added
	Late       atomic.Int64 // records older than their watermark: dropped
	Duplicates atomic.Int64 // records whose alert id the group already had
	Evicted    atomic.Int64 // records and groups dropped by the limits
	Unknown    atomic.Int64 // records of a correlation or input the rule set does not have
	Ungrouped  atomic.Int64 // matches without a group-by field (or the condition's field) a correlation needs
	// ChainsDelayed counts correlation alerts from another partition that arrived behind this one's watermark and
	// were counted at the watermark instead of their own time.
	ChainsDelayed atomic.Int64
	Alerts        atomic.Int64 // correlation alerts raised (first versions)
	Rewrites      atomic.Int64 // later versions of growing alerts
	Suppressed    atomic.Int64 // matches of suppressing rules folded into an earlier match's alert
	Groups        atomic.Int64 // open groups
	Reset         atomic.Int64 // groups dropped because their correlation changed or went away in a reload
	Undecided     atomic.Int64 // windows and waits still open at the end of the data (Flush): dropped
}

// Engine evaluates the correlations of a rule set.
type Engine struct {
	cfg   Config
	rules atomic.Pointer[ruleState]
	// now gives the processing time: alert creation times and idle advances.
	now func() time.Time
	// Stats count the work of every partition.
	Stats *Stats
	// watermarks holds each tenant's newest watermark over the engine's partitions: an idle partition catches up to
	// it, as its tenant's clock has evidently moved on.
	mu         sync.Mutex
	watermarks map[string]int64
}

// tenantWatermark records wm as a watermark of tenant and returns the newest one of any partition.
func (e *Engine) tenantWatermark(tenant string, wm int64) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.watermarks == nil {
		e.watermarks = map[string]int64{}
	}
	if cur, ok := e.watermarks[tenant]; !ok || wm > cur {
		e.watermarks[tenant] = wm
	}
	return e.watermarks[tenant]
}

// ruleState is the rule set an engine runs, with its correlations prepared; Swap replaces it whole.
type ruleState struct {
	set   *rules.RuleSet
	corrs map[string]*corr
}

// corr is a correlation rule prepared for evaluation.
type corr struct {
	c      *rules.Compiled
	kind   kind
	span   int64
	inputs []string // rule ids; an entry's input indexes this
	// triggers, for absence, is how many of inputs open a wait; the rest, or all when there are no others, follow.
	triggers int
	groups   atomic.Int64
}

type kind uint8

const (
	sliding kind = iota // monotone condition: decided at each match
	closing             // decided when the window closes
	absence
	suppressing // a suppressing rule's own matches (suppress.go)
)

// New returns an engine for the correlations of set.
func New(set *rules.RuleSet, cfg Config) *Engine {
	e := &Engine{cfg: cfg.WithDefaults(), now: time.Now, Stats: &Stats{}}
	e.Swap(set)
	return e
}

// Swap makes the engine run set from now on; safe to call while partitions run. Each partition keeps the groups of
// the correlations whose rule text is unchanged, and drops (and counts as Reset) those of changed or removed ones
// when it next runs.
func (e *Engine) Swap(set *rules.RuleSet) {
	rs := &ruleState{set: set, corrs: map[string]*corr{}}
	for _, c := range set.Correlations() {
		k := c.Correlation
		x := &corr{c: c, span: int64(c.Span), inputs: k.Inputs(), triggers: len(k.Rules)}
		switch {
		case k.Type == rules.Absence:
			x.kind = absence
		case k.Type == rules.Temporal || k.Type == rules.TemporalOrdered:
			x.kind = sliding // their count of rules present only grows
			if !k.Condition.Monotone() && !k.Condition.Holds(float64(len(k.Rules))) {
				x.kind = closing
			}
		case k.Condition.Monotone() && k.Type != rules.ValueAvg && k.Type != rules.ValuePercentile:
			x.kind = sliding
		default:
			x.kind = closing
		}
		rs.corrs[c.ID] = x
	}
	for _, c := range set.Rules() {
		if c.Suppress != nil {
			rs.corrs[c.ID] = &corr{c: c, kind: suppressing, span: int64(c.SuppressFor), inputs: []string{c.ID}, triggers: 1}
		}
	}
	e.rules.Store(rs)
}

// RuleSet returns the rule set the engine evaluates.
func (e *Engine) RuleSet() *rules.RuleSet { return e.rules.Load().set }

// entry is one match in a group: 40 bytes.
type entry struct {
	time  int64
	id    alertID
	num   float64 // the number of value_sum/avg; for value_count and value_percentile, the bits of the value's hash
	input int32
}

func (a *entry) before(b *entry) bool {
	return a.time < b.time || a.time == b.time && a.id.less(b.id)
}

// group is the state of one (tenant, correlation, group values).
type group struct {
	key  string // groupKey(tenant, rule, values)
	corr *corr
	// ev holds the group's matches in event-time order: ev[:applied] are in its window (or burst, or waiting for a
	// followed_by), ev[applied:] wait for the watermark.
	ev      []entry
	applied int32
	index   int32 // in the stream's heap
	dirty   bool  // changed since the last checkpoint
	gone    bool  // freed: no longer in the partition's groups
	// due is the heap's key: the group is ready for its next step when due < the watermark.
	due int64
	x   *extra // nil while the group has no burst and keeps no value texts
}

// extra is the rarer part of a group's state.
type extra struct {
	burst *burst
	// sup is a suppressing rule's open window; docs holds the documents of its matches that wait for the watermark.
	sup  *suppression
	docs map[alertID][]byte
	// names maps value hashes to the values, for value_percentile's report.
	names map[uint64]string
}

// burst is an alert that is still growing: the group's matches in the timespan after its match are added to it.
type burst struct {
	id      alertID
	start   int64 // time of the first contributing match
	match   int64 // time of the match that completed the condition
	end     int64 // match + timespan: the burst takes matches before it
	created int64 // processing time of the first version
	written bool  // a version has been handed out
}

const never = math.MaxInt64

// Partition is the state of one partition of the match topic (or the whole input, in-process).
type Partition struct {
	e       *Engine
	rules   *ruleState
	streams map[string]*stream
	groups  map[string]*group
	// dirty holds the groups changed since the last Checkpoint, freed the keys of the groups freed since.
	dirty []*group
	freed []string
	// route, when set, says whether a chained record belongs to this partition; when it does not, the record is
	// returned by Advance for the caller to send on.
	route func(*Record) bool
	// applied is the offset of the match partition after the last record added (hasApplied: one was noted):
	// checkpointed, so that a restored partition resumes there instead of taking records it has again.
	applied                  int64
	hasApplied, appliedDirty bool
	out                      []*output           // alert versions of this Advance, in the order they were first decided
	byID                     map[alertID]*output // the bursts' versions among them
	chains                   []Record
}

// stream is one tenant's part of a partition: its watermark and the heap of its groups.
type stream struct {
	tenant  string
	maxSeen int64
	wm      int64
	// lastRecord is the processing time of the last record, lastTick that of the last record or idle advance.
	lastRecord, lastTick time.Time
	heap                 groupHeap
	// wmDirty says the watermark changed since the last Checkpoint.
	wmDirty bool
}

// NewPartition returns the empty state of one partition. route may be nil: every chained record stays here.
func (e *Engine) NewPartition(route func(*Record) bool) *Partition {
	return &Partition{e: e, rules: e.rules.Load(), streams: map[string]*stream{}, groups: map[string]*group{},
		route: route, byID: map[alertID]*output{}}
}

func (p *Partition) stream(tenant string) *stream {
	s := p.streams[tenant]
	if s == nil {
		now := p.e.now()
		s = &stream{tenant: tenant, maxSeen: math.MinInt64, wm: math.MinInt64, lastRecord: now, lastTick: now}
		p.streams[tenant] = s
	}
	return s
}

// watermark is the newest event time seen less the allowed lateness, or the watermark the stream has reached when
// that is further.
func (s *stream) watermark(lateness time.Duration) int64 {
	if s.maxSeen == math.MinInt64 {
		return s.wm
	}
	return max(s.wm, s.maxSeen-int64(lateness))
}

// Add takes one match record. It is applied by the next Advance, once the watermark passes it.
func (p *Partition) Add(r *Record) {
	p.e.Stats.Records.Add(1)
	p.sync()
	p.add(r, false)
}

// sync moves the partition onto the engine's current rule set.
func (p *Partition) sync() {
	rs := p.e.rules.Load()
	if rs == p.rules {
		return
	}
	p.rules = rs
	for _, g := range p.groups {
		if c := rs.corrs[g.corr.c.ID]; c != nil && c.c.Version == g.corr.c.Version {
			g.corr = c
			c.groups.Add(1)
			continue
		}
		tenant, _ := splitKey(g.key)
		g.ev, g.applied, g.x = nil, 0, nil
		p.schedule(p.streams[tenant], g) // frees it
		p.e.Stats.Reset.Add(1)
	}
}

// add applies the record; local says it is a chained record this partition made itself, at the time of the step
// being processed, which is never late.
func (p *Partition) add(r *Record, local bool) {
	st := p.e.Stats
	c := p.rules.corrs[r.Rule]
	input := -1
	if c != nil {
		input = slices.Index(c.inputs, r.Input)
	}
	if input < 0 || (c.c.Tenants != nil && !slices.Contains(c.c.Tenants, r.Tenant)) {
		st.Unknown.Add(1)
		return
	}
	s := p.stream(r.Tenant)
	t := r.Time.UnixNano()
	// The watermark a record is judged by is that of the records before it, whenever Advance last ran: whether it is
	// late depends on the partition's order alone, not on how it was cut into batches (nor on a restart).
	wm := s.watermark(p.e.cfg.AllowedLateness)
	switch {
	case local:
	case t < wm && p.rules.set.Rule(r.Input).Correlation != nil:
		// a chained record from another partition, which decided it when its own watermark passed it: it counts at
		// the earliest time still open here rather than not at all
		t = wm
		st.ChainsDelayed.Add(1)
	case t < wm:
		// Late, or delivered again after a restart (the detection side republishes what its source had not
		// committed): the two cannot be told apart, and counting a repeat would break exactness, so both are dropped
		// and counted. A suppressing rule's late match raises no alert (docs/rules.md, "Suppression").
		st.Late.Add(1)
		return
	default:
		s.lastRecord = p.e.now()
		s.lastTick = s.lastRecord
		if t > s.maxSeen {
			s.maxSeen, s.wmDirty = t, true // later records are judged by it
		}
	}
	var kb [128]byte // a group key usually fits: looking it up then allocates nothing
	k := groupKey(kb[:0], r.Tenant, r.Rule, r.Group)
	g := p.groups[string(k)]
	if g == nil {
		if c.groups.Load() >= int64(p.e.cfg.MaxGroupsPerRule) {
			st.Evicted.Add(1)
			return
		}
		g = &group{key: string(k), corr: c, index: -1, due: never}
		p.groups[g.key] = g
		c.groups.Add(1)
		st.Groups.Add(1)
	}
	en := entry{time: t, id: parseAlertID(r.AlertID), num: r.Num, input: int32(input)}
	if k := c.c.Correlation; k != nil && (k.Type == rules.ValueCount || k.Type == rules.ValuePercentile) {
		en.num = math.Float64frombits(hashString(r.Value))
		if k.Type == rules.ValuePercentile {
			g.extra().names[math.Float64bits(en.num)] = r.Value
		}
	}
	for i := range g.ev {
		if g.ev[i].id == en.id {
			st.Duplicates.Add(1)
			return
		}
	}
	if c.kind == suppressing {
		if g.extra().docs == nil {
			g.x.docs = map[alertID][]byte{}
		}
		g.x.docs[en.id] = r.Doc
	}
	if len(g.ev) >= p.e.cfg.MaxEventsPerGroup {
		g.evictOldest()
		st.Evicted.Add(1)
	}
	i := int(g.applied) + sortSearch(g.ev[g.applied:], &en)
	g.ev = slices.Insert(g.ev, i, en)
	p.changed(g)
	p.schedule(s, g)
}

// changed notes that g's state must go into the next checkpoint.
func (p *Partition) changed(g *group) {
	if !g.dirty {
		g.dirty = true
		p.dirty = append(p.dirty, g)
	}
}

func sortSearch(ev []entry, en *entry) int {
	i, j := 0, len(ev)
	for i < j {
		h := int(uint(i+j) >> 1)
		if ev[h].before(en) {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// evictOldest drops the group's oldest applied match (or its oldest waiting one when none is applied, with its
// document if it has one).
func (g *group) evictOldest() {
	if g.x != nil {
		delete(g.x.docs, g.ev[0].id)
	}
	g.ev = slices.Delete(g.ev, 0, 1)
	if g.applied > 0 {
		g.applied--
	}
}

func (g *group) extra() *extra {
	if g.x == nil {
		g.x = &extra{}
	}
	if g.x.names == nil && g.corr.kind != suppressing && g.corr.c.Correlation.Type == rules.ValuePercentile {
		g.x.names = map[uint64]string{}
	}
	return g.x
}

func (g *group) burst() *burst {
	if g.x == nil {
		return nil
	}
	return g.x.burst
}

// schedule recomputes the group's due time and its place in the stream's heap; a group with nothing left is freed.
func (p *Partition) schedule(s *stream, g *group) {
	g.due = g.nextDue()
	switch {
	case g.due == never && len(g.ev) == 0:
		if g.index >= 0 {
			s.heap.remove(g)
		}
		delete(p.groups, g.key)
		g.gone = true
		p.freed = append(p.freed, g.key)
		g.corr.groups.Add(-1)
		p.e.Stats.Groups.Add(-1)
	case g.index >= 0:
		s.heap.fix(g)
	default:
		s.heap.push(g)
	}
}

// nextDue is the key of the group's next step: the time of its next waiting match, or one nanosecond before its
// next timer, which therefore comes first at equal times and fires once the watermark reaches it.
func (g *group) nextDue() int64 {
	due := int64(never)
	if int(g.applied) < len(g.ev) {
		due = g.ev[g.applied].time
	}
	if t := g.timer(); t != never && t-1 < due {
		due = t - 1
	}
	return due
}

// timer is when the group's window, burst or wait ends, or never.
func (g *group) timer() int64 {
	sup := int64(never)
	if g.x != nil && g.x.sup != nil {
		sup = g.x.sup.end
	}
	if g.corr.kind == suppressing {
		return sup
	}
	return min(g.windowTimer(), sup)
}

// windowTimer is when the group's window, burst or wait ends, or never.
func (g *group) windowTimer() int64 {
	c := g.corr
	switch {
	case g.applied == 0:
		return never
	case c.kind == absence:
		return g.ev[0].time + c.span // the oldest wait ends first
	case g.burst() != nil:
		return g.burst().end
	case c.kind == closing:
		return g.ev[0].time + c.span
	}
	return g.ev[g.applied-1].time + c.span // every match in the window is too old then
}

// Advance moves every tenant's watermark (the newest event time seen less the allowed lateness, or further with
// processing time when the tenant has been idle), applies what it passed, and returns the alerts raised or grown and
// the chained records that belong to other partitions.
func (p *Partition) Advance() (alerts []*vigil.Alert, chains []Record) {
	p.sync()
	now := p.e.now()
	for _, s := range p.streams {
		wm := s.watermark(p.e.cfg.AllowedLateness)
		newest := p.e.tenantWatermark(s.tenant, wm)
		if now.Sub(s.lastRecord) >= p.e.cfg.IdleTimeout && wm != math.MinInt64 {
			// Nothing came for a while: event time flows with the clock, and at least as far as the tenant's other
			// partitions have got (a group that went silent is decided as soon as its tenant's data moves on).
			wm = max(wm, s.wm+int64(now.Sub(s.lastTick)), newest)
			s.lastTick = now
		}
		p.advance(s, wm)
	}
	return p.flushOut()
}

// Flush decides what the data decides, at the end of a file or a test: each tenant's watermark moves just past the
// newest event time it has seen, so every match is applied and every window, burst and wait that ends by then is
// decided. What would end later is left undecided, since the data cannot tell what came after it (a host whose log
// ends with the file has not gone silent): it is dropped and counted as Undecided. The partition is empty after.
func (p *Partition) Flush() (alerts []*vigil.Alert, chains []Record) {
	p.sync()
	for _, s := range p.streams {
		if s.maxSeen != math.MinInt64 {
			p.advance(s, s.maxSeen+1)
		}
		for len(s.heap) > 0 {
			g := s.heap[0].g
			if g.burst() != nil {
				p.snapshot(g) // its alert is raised; only its growth ends here
			} else if g.applied > 0 && g.corr.kind != sliding && g.corr.kind != suppressing {
				p.e.Stats.Undecided.Add(1)
			}
			g.ev, g.applied, g.x = nil, 0, nil
			p.schedule(s, g) // frees it
		}
	}
	return p.flushOut()
}

func (p *Partition) advance(s *stream, wm int64) {
	if wm > s.wm {
		s.wm = wm
		s.wmDirty = true
	}
	for len(s.heap) > 0 && s.heap[0].due < s.wm {
		g := s.heap[0].g
		p.step(s, g)
		p.changed(g)
	}
}

// flushOut takes the alerts and foreign chained records of one Advance or Flush.
func (p *Partition) flushOut() ([]*vigil.Alert, []Record) {
	alerts := make([]*vigil.Alert, 0, len(p.out))
	for _, o := range p.out {
		if o.stale != nil {
			p.snapshot(o.stale)
		}
		if o.rewrite {
			p.e.Stats.Rewrites.Add(1)
		}
		alerts = append(alerts, o.alert())
	}
	chains := p.chains
	p.out, p.chains = nil, nil
	clear(p.byID)
	return alerts, chains
}

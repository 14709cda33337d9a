package bench

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/vigilsoc/vigil/correlate"
	"github.com/vigilsoc/vigil/rules"
)

// The correlation workload: the match records a correlation stage consumes from one partition of the match topic,
// for 20 correlations of mixed types over a key space of a million groups. Most records fall on a random one of all
// the groups, which therefore rarely sees a second match before its window ends (the bulk of a stage's state: open
// groups that never fire); a few percent fall on a small set of hot groups, which reach their thresholds and raise
// alerts.

// corrInputs are the single-event rules the workload's correlations name. Only their ids matter to the stage.
const corrInputs = `id: fail
name: failed logon
severity: low
condition: event.outcome == "failure"
---
id: ok
name: successful logon
severity: low
condition: event.outcome == "success"
`

// corrSpec is one correlation of the workload.
type corrSpec struct {
	typ             string
	rules, followed []string
	groupBy         []string
	span            string
	cond            string // a YAML flow mapping, or "" for none
}

// corrSpecs are the workload's 20 correlations: mostly event_count thresholds per field, some value_count, one
// temporal_ordered and one absence.
var corrSpecs = [...]corrSpec{
	{typ: rules.EventCount, rules: []string{"fail"}, groupBy: []string{"user.name"}, span: "5m", cond: "{gte: 5}"},
	{typ: rules.EventCount, rules: []string{"fail"}, groupBy: []string{"source.ip"}, span: "10m", cond: "{gte: 10}"},
	{typ: rules.EventCount, rules: []string{"fail"}, groupBy: []string{"host.name"}, span: "15m", cond: "{gte: 5}"},
	{typ: rules.EventCount, rules: []string{"fail", "ok"}, groupBy: []string{"user.name"}, span: "1h", cond: "{gte: 20}"},
	{typ: rules.EventCount, rules: []string{"fail"}, groupBy: []string{"user.name", "host.name"}, span: "5m", cond: "{gte: 3}"},
	{typ: rules.EventCount, rules: []string{"ok"}, groupBy: []string{"source.ip"}, span: "30m", cond: "{gte: 8}"},
	{typ: rules.EventCount, rules: []string{"fail"}, groupBy: []string{"user.name"}, span: "1h", cond: "{gte: 10}"},
	{typ: rules.EventCount, rules: []string{"fail"}, groupBy: []string{"host.name"}, span: "5m", cond: "{gte: 4}"},
	{typ: rules.EventCount, rules: []string{"ok"}, groupBy: []string{"user.name"}, span: "10m", cond: "{gte: 6}"},
	{typ: rules.EventCount, rules: []string{"fail"}, groupBy: []string{"source.ip"}, span: "1h", cond: "{gte: 15}"},
	{typ: rules.EventCount, rules: []string{"fail", "ok"}, groupBy: []string{"host.name"}, span: "30m", cond: "{gte: 12}"},
	{typ: rules.EventCount, rules: []string{"fail"}, groupBy: []string{"user.name", "host.name"}, span: "15m", cond: "{gte: 5}"},
	{typ: rules.EventCount, rules: []string{"ok"}, groupBy: []string{"host.name"}, span: "5m", cond: "{gte: 5}"},
	{typ: rules.EventCount, rules: []string{"fail"}, groupBy: []string{"source.ip"}, span: "5m", cond: "{gte: 5}"},
	{typ: rules.EventCount, rules: []string{"fail"}, groupBy: []string{"user.name"}, span: "30m", cond: "{gte: 8}"},
	{typ: rules.ValueCount, rules: []string{"fail"}, groupBy: []string{"source.ip"}, span: "10m", cond: "{field: user.name, gte: 4}"},
	{typ: rules.ValueCount, rules: []string{"fail"}, groupBy: []string{"host.name"}, span: "1h", cond: "{field: user.name, gte: 6}"},
	{typ: rules.ValueCount, rules: []string{"ok"}, groupBy: []string{"source.ip"}, span: "30m", cond: "{field: user.name, gte: 5}"},
	{typ: rules.TemporalOrdered, rules: []string{"fail", "ok"}, groupBy: []string{"user.name"}, span: "2m"},
	{typ: rules.Absence, rules: []string{"fail"}, followed: []string{"ok"}, groupBy: []string{"host.name"}, span: "5m"},
}

// CorrelationRules returns the correlation workload's rule file: the two input rules and 20 correlations c00 to c19.
func CorrelationRules() []byte {
	var sb strings.Builder
	sb.WriteString(corrInputs)
	for i, s := range corrSpecs {
		fmt.Fprintf(&sb, "---\nid: c%02d\nname: bench correlation %d\nseverity: medium\ncorrelation:\n  type: %s\n", i, i, s.typ)
		fmt.Fprintf(&sb, "  rules: [%s]\n", strings.Join(s.rules, ", "))
		if len(s.followed) > 0 {
			fmt.Fprintf(&sb, "  followed_by: [%s]\n", strings.Join(s.followed, ", "))
		}
		fmt.Fprintf(&sb, "  group_by: [%s]\n  timespan: %s\n", strings.Join(s.groupBy, ", "), s.span)
		if s.cond != "" {
			fmt.Fprintf(&sb, "  condition: %s\n", s.cond)
		}
	}
	return []byte(sb.String())
}

// compileRuleFile parses and compiles one generated rule file.
func compileRuleFile(env *rules.Env, name string, text []byte) (*rules.RuleSet, error) {
	rs, err := rules.Parse(name, text)
	if err != nil {
		return nil, err
	}
	return env.CompileSet(rs)
}

// CorrelateOptions shape the correlation workload.
type CorrelateOptions struct {
	// Groups is the number of distinct groups (a correlation and its group values) the records fall into; default
	// 1,000,000.
	Groups int
	// Records is the number of match records; default 3,000,000.
	Records int
	// Spacing is the event time between consecutive records; default 2ms.
	Spacing time.Duration
	// Batch is how many records the stage takes between two Advance and Checkpoint calls; default 1,000.
	Batch int
	// Seed makes the records; default 1.
	Seed uint64
}

func (o *CorrelateOptions) defaults() {
	if o.Groups <= 0 {
		o.Groups = 1_000_000
	}
	if o.Records <= 0 {
		o.Records = 3_000_000
	}
	if o.Spacing <= 0 {
		o.Spacing = 2 * time.Millisecond
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

const (
	// hotShare is the share of records that fall on a hot group; hotEvery groups in that many is hot.
	hotShare = 0.01
	hotEvery = 1000
	// followShare is the share of absence openings followed by their closing match, followDelay records later.
	followShare = 0.99
	followDelay = 1000
	// hotUsers is how many distinct values a hot group's value_count sees.
	hotUsers = 8
)

// matchStream generates the workload's match records, in event-time order, deterministically from the seed.
type matchStream struct {
	opts    CorrelateOptions
	rng     *rand.Rand
	i       int
	t0      time.Time
	hot     []int
	follows []follow // absence closings due, in order of due
	names   []string // the correlations' ids
	values  map[string][]string
	rec     correlate.Record
	id      [16]byte
	idText  [32]byte
}

// follow is a closing match due at record index at for group g.
type follow struct{ at, g int }

func newMatchStream(opts CorrelateOptions) *matchStream {
	opts.defaults()
	s := &matchStream{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0xc0)),
		t0: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), values: map[string][]string{}}
	s.hot = make([]int, max(opts.Groups/hotEvery, 1))
	for i := range s.hot {
		s.hot[i] = s.rng.IntN(opts.Groups)
	}
	per := opts.Groups/len(corrSpecs) + 1
	users, ips, hosts := make([]string, per), make([]string, per), make([]string, per)
	for v := range per {
		users[v] = fmt.Sprintf("user%06d", v)
		ips[v] = fmt.Sprintf("10.%d.%d.%d", v>>16&255, v>>8&255, v&255)
		hosts[v] = fmt.Sprintf("ws-%05d", v)
	}
	s.values["user.name"], s.values["source.ip"], s.values["host.name"] = users, ips, hosts
	for i := range corrSpecs {
		s.names = append(s.names, fmt.Sprintf("c%02d", i))
	}
	s.rec = correlate.Record{Tenant: rules.DefaultTenant, Group: make([]string, 0, 2)}
	return s
}

// next makes the next record; it is valid until the following call.
func (s *matchStream) next() *correlate.Record {
	r := &s.rec
	g, how := s.pick()
	spec := &corrSpecs[g%len(corrSpecs)]
	v := g / len(corrSpecs)
	r.Rule = s.names[g%len(corrSpecs)]
	r.Time = s.t0.Add(time.Duration(s.i) * s.opts.Spacing)
	r.Group = r.Group[:0]
	for j, f := range spec.groupBy {
		vals := s.values[f]
		if j > 0 {
			r.Group = append(r.Group, vals[v%1000]) // a second field: few values, the first keeps the group apart
		} else {
			r.Group = append(r.Group, vals[v])
		}
	}
	r.Input, r.Value = spec.rules[s.rng.IntN(len(spec.rules))], ""
	switch {
	case how == closing:
		r.Input = spec.followed[0]
	case spec.typ == rules.Absence && s.rng.Float64() < followShare:
		s.follows = append(s.follows, follow{at: s.i + followDelay, g: g})
	case spec.typ == rules.ValueCount:
		users := s.values["user.name"]
		if how == hot {
			r.Value = users[s.rng.IntN(hotUsers)]
		} else {
			r.Value = users[s.rng.IntN(len(users))]
		}
	}
	binary.LittleEndian.PutUint64(s.id[:8], s.rng.Uint64())
	binary.LittleEndian.PutUint64(s.id[8:], uint64(s.i))
	hex.Encode(s.idText[:], s.id[:])
	r.AlertID = string(s.idText[:])
	s.i++
	return r
}

// How a record's group was chosen.
const (
	anyGroup = iota
	hot
	closing // the match that closes an absence's wait
)

// pick chooses the next record's group: a due absence closing, a hot group, or any group.
func (s *matchStream) pick() (g, how int) {
	if len(s.follows) > 0 && s.follows[0].at <= s.i {
		g = s.follows[0].g
		s.follows = s.follows[1:]
		return g, closing
	}
	if s.rng.Float64() < hotShare {
		return s.hot[s.rng.IntN(len(s.hot))], hot
	}
	return s.rng.IntN(s.opts.Groups), anyGroup
}

// chunk encodes the next n records as they travel on the match topic, one after the other, into buf (reset), and
// their ends into ends (reset).
func (s *matchStream) chunk(n int, buf []byte, ends []int) ([]byte, []int) {
	buf, ends = buf[:0], ends[:0]
	for range n {
		buf = s.next().AppendBinary(buf)
		ends = append(ends, len(buf))
	}
	return buf, ends
}

package correlate

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// StateRecord is one change of a partition's state, as it goes to the changelog topic (a compacted topic: the last
// record per key is the state). Value nil is a tombstone: the group was freed.
type StateRecord struct {
	Key, Value []byte
}

// watermarkKey prefixes the key of a tenant's watermark, appliedKey is the key of the partition's applied offset;
// group keys never start with a zero byte (tenants are checked names).
const (
	watermarkKey = "\x00wm\x00"
	appliedKey   = "\x00applied\x00"
)

// MarkApplied notes that every record of the match partition before offset next has been added: the next Checkpoint
// records it, and a partition restored from the changelog resumes there (Resume). Records between the committed
// offset and the checkpointed one are thus never taken twice, which matters where a record far behind the watermark
// still has an effect (a suppressing rule's late match raises its own alert).
func (p *Partition) MarkApplied(next int64) {
	if !p.hasApplied || next != p.applied {
		p.applied, p.hasApplied, p.appliedDirty = next, true, true
	}
}

// Resume returns the offset after the last record the restored state holds, and whether one was checkpointed.
func (p *Partition) Resume() (int64, bool) { return p.applied, p.hasApplied }

// stateVersion 2 added the suppression window and documents of a group (appendSuppression); groups of version 1 are
// still read. Watermarks are written as version 1: they did not change.
const stateVersion = 2

// Checkpoint returns the state changed since the last Checkpoint: each changed group's state, a tombstone for each
// freed one, and each tenant watermark that moved. Restoring every record ever returned, in order, into an empty
// partition gives back this partition's state.
func (p *Partition) Checkpoint() []StateRecord {
	out := make([]StateRecord, 0, len(p.dirty)+len(p.freed))
	// Keys and values are cut from one buffer: a slice made before the buffer grows keeps pointing at the old array,
	// whose bytes stay as they were.
	buf := make([]byte, 0, 128*(len(p.dirty)+len(p.freed)))
	add := func(key string, state func([]byte) []byte) {
		start := len(buf)
		buf = append(buf, key...)
		rec := StateRecord{Key: buf[start:len(buf):len(buf)]}
		if state != nil {
			start = len(buf)
			buf = state(buf)
			rec.Value = buf[start:len(buf):len(buf)]
		}
		out = append(out, rec)
	}
	for _, key := range p.freed {
		if p.groups[key] == nil { // else a new group of the same key follows
			add(key, nil)
		}
	}
	for _, g := range p.dirty {
		g.dirty = false
		if !g.gone {
			add(g.key, g.appendState)
		}
	}
	clear(p.dirty)
	p.dirty, p.freed = p.dirty[:0], p.freed[:0]
	if p.appliedDirty {
		add(appliedKey, func(b []byte) []byte { return binary.LittleEndian.AppendUint64(append(b, 1), uint64(p.applied)) })
		p.appliedDirty = false
	}
	for tenant, s := range p.streams {
		if s.wmDirty {
			add(watermarkKey+tenant, func(b []byte) []byte {
				b = binary.LittleEndian.AppendUint64(append(b, 1), uint64(s.maxSeen))
				return binary.LittleEndian.AppendUint64(b, uint64(s.wm))
			})
			s.wmDirty = false
		}
	}
	return out
}

func (g *group) appendState(b []byte) []byte {
	b = append(b, stateVersion)
	b = appendString(b, g.corr.c.ID)
	b = appendString(b, g.corr.c.Version)
	b = binary.AppendUvarint(b, uint64(g.applied))
	b = binary.AppendUvarint(b, uint64(len(g.ev)))
	for _, e := range g.ev {
		b = binary.LittleEndian.AppendUint64(b, uint64(e.time))
		b = append(b, e.id[:]...)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.num))
		b = binary.AppendUvarint(b, uint64(e.input))
	}
	if bu := g.burst(); bu != nil {
		b = append(b, 1)
		b = append(b, bu.id[:]...)
		for _, t := range [...]int64{bu.start, bu.match, bu.end, bu.created} {
			b = binary.LittleEndian.AppendUint64(b, uint64(t))
		}
		if bu.written {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	} else {
		b = append(b, 0)
	}
	var names map[uint64]string
	if g.x != nil {
		names = g.x.names
	}
	b = binary.AppendUvarint(b, uint64(len(names)))
	for h, v := range names {
		b = binary.LittleEndian.AppendUint64(b, h)
		b = appendString(b, v)
	}
	return g.appendSuppression(b)
}

// Restore applies one changelog record to the partition, which is being rebuilt before it takes any match. Records
// must come in changelog order. Restoring changes nothing the next Checkpoint returns. The state of a correlation that is gone or whose rule text changed is dropped and
// counted as Reset.
func (p *Partition) Restore(rec StateRecord) error {
	key := string(rec.Key)
	if key == appliedKey {
		d := decoder{b: rec.Value}
		if v := d.byte(); v != 1 {
			return fmt.Errorf("correlate: restore the applied offset: version %d", v)
		}
		p.applied, p.hasApplied = int64(d.uint64()), true
		return d.done("correlate: restore the applied offset")
	}
	if tenant, ok := strings.CutPrefix(key, watermarkKey); ok {
		d := decoder{b: rec.Value}
		if v := d.byte(); v != 1 && v != stateVersion {
			return fmt.Errorf("correlate: restore watermark of %q: version %d", tenant, v)
		}
		s := p.stream(tenant)
		s.maxSeen, s.wm = int64(d.uint64()), int64(d.uint64())
		return d.done("correlate: restore watermark")
	}
	if old := p.groups[key]; old != nil {
		old.ev, old.applied, old.x = nil, 0, nil
		tenant, _ := splitKey(key)
		p.schedule(p.stream(tenant), old) // frees it
		p.freed = p.freed[:len(p.freed)-1]
	}
	if rec.Value == nil {
		return nil
	}
	g, err := p.decodeGroup(key, rec.Value)
	if err != nil || g == nil {
		return err
	}
	p.groups[key] = g
	g.corr.groups.Add(1)
	p.e.Stats.Groups.Add(1)
	tenant, _ := splitKey(key)
	p.schedule(p.stream(tenant), g)
	return nil
}

func (p *Partition) decodeGroup(key string, value []byte) (*group, error) {
	d := decoder{b: value}
	v := d.byte()
	if v != 1 && v != stateVersion {
		return nil, fmt.Errorf("correlate: restore group: version %d", v)
	}
	id, version := d.string(), d.string()
	g := &group{key: key, index: -1, due: never, applied: int32(d.uvarint())}
	n := d.uvarint()
	if n > uint64(len(value)) {
		return nil, fmt.Errorf("correlate: restore group %q: truncated", id)
	}
	g.ev = make([]entry, n)
	for i := range g.ev {
		e := &g.ev[i]
		e.time = int64(d.uint64())
		for j := range e.id {
			e.id[j] = d.byte()
		}
		e.num = math.Float64frombits(d.uint64())
		e.input = int32(d.uvarint())
	}
	if d.byte() == 1 {
		b := &burst{}
		for j := range b.id {
			b.id[j] = d.byte()
		}
		b.start, b.match, b.end, b.created = int64(d.uint64()), int64(d.uint64()), int64(d.uint64()), int64(d.uint64())
		b.written = d.byte() == 1
		g.x = &extra{burst: b}
	}
	if n := d.uvarint(); n > 0 {
		if g.x == nil {
			g.x = &extra{}
		}
		g.x.names = make(map[uint64]string, min(n, uint64(len(value))))
		for range n {
			if d.err != nil {
				break
			}
			h := d.uint64()
			g.x.names[h] = d.string()
		}
	}
	if v >= 2 {
		g.decodeSuppression(&d, len(value))
	}
	if err := d.done("correlate: restore group " + id); err != nil {
		return nil, err
	}
	c := p.rules.corrs[id]
	if c == nil || c.c.Version != version {
		p.e.Stats.Reset.Add(1)
		return nil, nil
	}
	if int(g.applied) > len(g.ev) {
		return nil, fmt.Errorf("correlate: restore group %q: %d applied of %d", id, g.applied, len(g.ev))
	}
	g.corr = c
	return g, nil
}

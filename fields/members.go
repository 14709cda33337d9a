package fields

import "hash/maphash"

// memberIndex finds the members of large objects by name while a tree is built, so that a record with thousands of
// keys in one object is not quadratic to decode; small objects are searched directly. It is an open-addressing hash
// table of node indexes that lives in the tree and is pooled with it: Windows events have 20 to 60 members at the
// top level, and a Go map built for every event, then grown and garbage collected, cost more than the rest of the
// decoding of their keys.
//
// Like the map it replaced it only ever adds or replaces entries: an entry (object, name) names the node last
// recorded under that name.
type memberIndex struct {
	slots []memberSlot // a power of two long; node 0 (the root, nobody's member) marks a free slot
	used  int
}

type memberSlot struct {
	hash      uint32
	obj, node int32
}

// memberSeed keys the hash of member names; it is set once and only read.
var memberSeed = maphash.MakeSeed()

// maxPooledSlots keeps the index of unusually large objects out of the pool.
const maxPooledSlots = 4096

func memberHash(obj int32, key string) uint32 {
	h := maphash.String(memberSeed, key) ^ uint64(obj)*0x9e3779b97f4a7c15
	return uint32(h ^ h>>32)
}

// find returns the node recorded for the member key of obj, or 0.
func (x *memberIndex) find(t *tree, obj int32, key string) int32 {
	if x.used == 0 {
		return 0
	}
	h := memberHash(obj, key)
	mask := uint32(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.node == 0 {
			return 0
		}
		if s.hash == h && s.obj == obj && t.text(t.nodes[s.node].key) == key {
			return s.node
		}
	}
}

// put records node as the member key of obj, replacing what was recorded for that name.
func (x *memberIndex) put(t *tree, obj int32, key string, node int32) {
	if 2*(x.used+1) > len(x.slots) {
		x.grow()
	}
	h := memberHash(obj, key)
	mask := uint32(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.node == 0 {
			*s = memberSlot{h, obj, node}
			x.used++
			return
		}
		if s.hash == h && s.obj == obj && t.text(t.nodes[s.node].key) == key {
			s.node = node
			return
		}
	}
}

// grow doubles the table (64 slots at first) and reinserts the entries.
func (x *memberIndex) grow() {
	old := x.slots
	x.slots = make([]memberSlot, max(64, 2*len(old)))
	mask := uint32(len(x.slots) - 1)
	for _, s := range old {
		if s.node == 0 {
			continue
		}
		i := s.hash & mask
		for x.slots[i].node != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = s
	}
}

// reset empties the index for the next tree, keeping its storage unless it is unusually large.
func (x *memberIndex) reset() {
	if len(x.slots) > maxPooledSlots {
		x.slots = nil
	} else if x.used > 0 {
		clear(x.slots)
	}
	x.used = 0
}

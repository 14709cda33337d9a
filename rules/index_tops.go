package rules

// topTable finds a name among the index's top-level names, for each member of every event: an open-addressing table
// hashed by the name's length and three of its bytes, with a hit confirmed by comparing the name. Most members of a
// flat Windows event are not indexed, and a miss usually ends at the first, empty, slot; a Go map hashes the whole
// name first, which was a sixth of finding the candidates of an OTRF event.
type topTable struct {
	slots []int32 // index+1 into tops, 0 for an empty slot
	mask  uint32
}

func newTopTable(tops []topFields) *topTable {
	size := 16
	for size < 4*len(tops) { // at most a quarter full: short probes
		size *= 2
	}
	t := &topTable{slots: make([]int32, size), mask: uint32(size - 1)}
	for i, top := range tops {
		j := topHash(top.name) & t.mask
		for t.slots[j] != 0 {
			j = (j + 1) & t.mask
		}
		t.slots[j] = int32(i + 1)
	}
	return t
}

// find returns the index of name in tops, or -1.
func (t *topTable) find(tops []topFields, name string) int {
	for j := topHash(name) & t.mask; ; j = (j + 1) & t.mask {
		i := t.slots[j]
		if i == 0 {
			return -1
		}
		if tops[i-1].name == name {
			return int(i - 1)
		}
	}
}

func topHash(name string) uint32 {
	n := len(name)
	if n == 0 {
		return 0
	}
	h := uint32(n) ^ uint32(name[0])<<8 ^ uint32(name[n/2])<<16 ^ uint32(name[n-1])<<24
	h ^= h >> 15
	h *= 0x2c1b3c6d
	h ^= h >> 12
	return h
}

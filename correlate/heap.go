package correlate

// groupHeap is a 4-ary min-heap of a stream's groups by due time. The keys sit in the array beside the pointers, so
// sifting compares without touching the groups (with a million groups, each touch is a cache miss); a group knows its
// place (group.index) for Fix and Remove.
type groupHeap []heapItem

type heapItem struct {
	due int64
	g   *group
}

func (h groupHeap) place(i int) { h[i].g.index = int32(i) }

func (h *groupHeap) push(g *group) {
	*h = append(*h, heapItem{g.due, g})
	h.place(len(*h) - 1)
	h.up(len(*h) - 1)
}

// fix restores the order after g.due changed.
func (h groupHeap) fix(g *group) {
	i := int(g.index)
	h[i].due = g.due
	if !h.up(i) {
		h.down(i)
	}
}

func (h *groupHeap) remove(g *group) {
	i, last := int(g.index), len(*h)-1
	if i != last {
		(*h)[i] = (*h)[last]
		h.place(i)
	}
	(*h)[last] = heapItem{}
	*h = (*h)[:last]
	if i != last {
		h.fix((*h)[i].g)
	}
	g.index = -1
}

func (h groupHeap) up(i int) bool {
	moved := false
	for i > 0 {
		parent := (i - 1) / 4
		if h[parent].due <= h[i].due {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		h.place(i)
		i, moved = parent, true
	}
	h.place(i)
	return moved
}

func (h groupHeap) down(i int) {
	for {
		least := i
		for c := 4*i + 1; c <= 4*i+4 && c < len(h); c++ {
			if h[c].due < h[least].due {
				least = c
			}
		}
		if least == i {
			break
		}
		h[least], h[i] = h[i], h[least]
		h.place(i)
		i = least
	}
	h.place(i)
}

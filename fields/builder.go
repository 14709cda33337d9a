package fields

import "strings"

// builder appends nodes to one slice and links them into a tree. Nodes are named by their index, which stays valid
// while the slice grows.
type builder struct {
	t *tree
}

// bigObject is the member count from which an object's members are indexed in the tree's memberIndex.
const bigObject = 16

func (b *builder) add(k Kind) int32 {
	b.t.nodes = append(b.t.nodes, node{kn: uint32(k)})
	return int32(len(b.t.nodes) - 1)
}

// link appends child to the elements or members of parent.
func (b *builder) link(parent, child int32) {
	nodes := b.t.nodes
	p := &nodes[parent]
	if p.n() == 0 {
		p.val = children(child, child)
	} else {
		nodes[p.last()].next = child
		p.val = children(p.first(), child)
	}
	p.kn += 1 << kindBits
	if p.kind() == Object && p.n() >= bigObject {
		b.indexMembers(parent, child)
	}
}

// indexMembers records the members of a large object in the tree's member index: all of them from first on.
func (b *builder) indexMembers(obj, first int32) {
	if b.t.nodes[obj].n() == bigObject {
		first = b.t.nodes[obj].first()
	}
	for c := first; c != 0; c = b.t.nodes[c].next {
		b.t.members.put(b.t, obj, b.t.text(b.t.nodes[c].key), c)
	}
}

// find returns the member of obj named key, or 0.
func (b *builder) find(obj int32, key string) int32 {
	nodes := b.t.nodes
	if nodes[obj].n() >= bigObject {
		return b.t.members.find(b.t, obj, key)
	}
	for c := nodes[obj].first(); c != 0; c = nodes[c].next {
		if int(nodes[c].key.n&^inExtra) == len(key) && b.t.text(nodes[c].key) == key {
			return c
		}
	}
	return 0
}

// shadow notes that the value of key was replaced by a later one.
func (b *builder) shadow(key string) {
	if len(b.t.shadowed) < maxShadowed {
		b.t.shadowed = append(b.t.shadowed, strings.Clone(key))
	}
}

// set makes v the member key of object obj, as Elasticsearch reads a document: a dotted key is a path of nested
// objects, two objects under one name are merged, and otherwise the later value replaces the earlier one.
func (b *builder) set(obj int32, key span, v int32) {
	text := b.t.text(key)
	if i := strings.IndexByte(text, '.'); i > 0 && i < len(text)-1 {
		head, rest := key, key
		head.n = key.n&inExtra | uint32(i)
		rest.off, rest.n = key.off+uint32(i)+1, key.n-uint32(i)-1
		sub := b.find(obj, text[:i])
		switch {
		case sub == 0:
			sub = b.add(Object)
			b.t.nodes[sub].key = head
			b.link(obj, sub)
		case b.t.nodes[sub].kind() != Object: // an object replaces the value, in its place
			b.shadow(text[:i])
			n := &b.t.nodes[sub]
			n.kn, n.val = uint32(Object), 0
		}
		b.set(sub, rest, v)
		return
	}
	old := b.find(obj, text)
	switch {
	case old == 0:
		b.t.nodes[v].key = key
		b.link(obj, v)
	case b.t.nodes[old].kind() == Object && b.t.nodes[v].kind() == Object:
		for c := b.t.nodes[v].first(); c != 0; {
			n := &b.t.nodes[c]
			next := n.next
			n.next = 0
			b.set(old, n.key, c)
			c = next
		}
	default:
		// The later value takes the old one's place (its key and its link to the next member).
		b.shadow(text)
		o, n := &b.t.nodes[old], b.t.nodes[v]
		o.kn, o.val = n.kn, n.val
		if o.kind() == Object && o.n() >= bigObject {
			b.indexMembers(old, o.first())
		}
	}
}

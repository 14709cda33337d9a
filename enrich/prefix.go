package enrich

import (
	"encoding/binary"
	"net/netip"
	"sort"
	"strings"
)

// prefixMap maps IP prefixes to values with longest-prefix matching; a single address is a /32 or /128 prefix. It is
// one hash map per prefix length in use, probed from the longest length to the shortest: real tables use a handful
// of lengths, so a lookup is a few hash probes and no allocation. Build it, then call finish; after that it is
// read-only and safe for concurrent use.
type prefixMap[V any] struct {
	v4     [33]map[uint32]V
	v6     [129]map[[16]byte]V
	bits4  []int // lengths in use, longest first
	bits6  []int
	length int
}

// insert adds or replaces the value of p, which must be valid, and returns the value it replaced.
func (m *prefixMap[V]) insert(p netip.Prefix, v V) (old V, replaced bool) {
	p = p.Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		if m.v4[bits] == nil {
			m.v4[bits] = map[uint32]V{}
		}
		a4 := p.Addr().As4()
		key := binary.BigEndian.Uint32(a4[:])
		old, replaced = m.v4[bits][key]
		m.v4[bits][key] = v
	} else {
		if m.v6[bits] == nil {
			m.v6[bits] = map[[16]byte]V{}
		}
		key := p.Addr().As16()
		old, replaced = m.v6[bits][key]
		m.v6[bits][key] = v
	}
	if !replaced {
		m.length++
	}
	return old, replaced
}

// finish records the prefix lengths in use; call it once after the last insert.
func (m *prefixMap[V]) finish() {
	m.bits4, m.bits6 = m.bits4[:0], m.bits6[:0]
	for b := range m.v4 {
		if len(m.v4[b]) > 0 {
			m.bits4 = append(m.bits4, b)
		}
	}
	for b := range m.v6 {
		if len(m.v6[b]) > 0 {
			m.bits6 = append(m.bits6, b)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(m.bits4)))
	sort.Sort(sort.Reverse(sort.IntSlice(m.bits6)))
}

// lookup returns the value of the longest prefix containing a, and that prefix's length.
func (m *prefixMap[V]) lookup(a netip.Addr) (v V, bits int, ok bool) {
	m.each(a, func(x V, b int) bool {
		v, bits, ok = x, b, true
		return false
	})
	return v, bits, ok
}

// each calls fn with the value and length of every prefix containing a, longest first, until fn returns false.
func (m *prefixMap[V]) each(a netip.Addr, fn func(v V, bits int) bool) {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		b4 := a.As4()
		key := binary.BigEndian.Uint32(b4[:])
		for _, b := range m.bits4 {
			if v, ok := m.v4[b][key&mask4(b)]; ok && !fn(v, b) {
				return
			}
		}
		return
	}
	if !a.Is6() {
		return
	}
	for _, b := range m.bits6 {
		masked, _ := a.Prefix(b)
		if v, ok := m.v6[b][masked.Addr().As16()]; ok && !fn(v, b) {
			return
		}
	}
}

// Len is the number of prefixes.
func (m *prefixMap[V]) Len() int { return m.length }

func mask4(bits int) uint32 {
	if bits == 0 {
		return 0
	}
	return ^uint32(0) << (32 - bits)
}

// parsePrefix reads an address or a CIDR; an address becomes a full-length prefix. IPv4-mapped IPv6 is unmapped.
func parsePrefix(s string) (netip.Prefix, bool) {
	addr, bits, isPrefix := strings.Cut(s, "/")
	if !maybeAddr(addr) || isPrefix && strings.Trim(bits, "0123456789") != "" {
		return netip.Prefix{}, false // not an address: spare the parsers' error allocations
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

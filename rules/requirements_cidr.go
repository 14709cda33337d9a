package rules

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// cidrLiterals returns texts of which every address the Sigma function inCidr finds in the CIDR range contains one
// (lowered), or nil. inCidr parses the text with netip.ParseAddr, which takes IPv4 in dotted decimal without leading
// zeros, and unmaps IPv4-mapped IPv6 addresses: an address of 10.1.0.0/16 is written "10.1.x.x" or as a mapped IPv6
// address, whose text has "ffff:" ("::ffff:10.1.2.3", "::ffff:a01:203"). An IPv6 range of at least 16 bits whose
// first group has four hex digits is written with that group first ("2603:1006::/40": "2603:"); other IPv6 ranges
// ("::1/128", "fe80::/10") give nothing.
func cidrLiterals(pattern string) []string {
	p, err := netip.ParsePrefix(pattern)
	if err != nil {
		return nil
	}
	p = p.Masked()
	if a := p.Addr(); a.Is4() {
		octets := p.Bits() / 8
		if octets == 0 {
			return nil
		}
		b := a.As4()
		parts := make([]string, octets)
		for i := range parts {
			parts[i] = strconv.Itoa(int(b[i]))
		}
		lit := strings.Join(parts, ".")
		if octets < 4 {
			lit += "."
		}
		return []string{lit, "ffff:"}
	}
	b := p.Addr().As16()
	first := uint16(b[0])<<8 | uint16(b[1])
	if p.Bits() < 16 || first < 0x1000 {
		return nil
	}
	return []string{fmt.Sprintf("%x:", first)}
}

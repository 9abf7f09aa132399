// Package ipx holds the few address calculations net/netip leaves out and
// that more than one package needs: the last address of a prefix, and the
// prefixes that exactly cover an address range.
package ipx

import (
	"fmt"
	"net/netip"
	"strings"
)

// Last returns the last address of p (the broadcast address of an IPv4
// subnet). p should be masked; host bits are ignored.
func Last(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	b := a.As16()
	bits := p.Bits()
	if a.Is4() {
		bits += 96
	}
	for i := bits; i < 128; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	last := netip.AddrFrom16(b)
	if a.Is4() {
		return last.Unmap()
	}
	return last
}

// Size returns the number of addresses in p, saturated at 2^63 so callers
// can bound loops without big integers.
func Size(p netip.Prefix) uint64 {
	host := p.Addr().BitLen() - p.Bits()
	if host >= 63 {
		return 1 << 63
	}
	return 1 << host
}

// Cover returns the fewest prefixes that together hold exactly the
// addresses from..to (inclusive), in order. Both must be the same family
// and from <= to; otherwise it returns nil.
func Cover(from, to netip.Addr) []netip.Prefix {
	if !from.IsValid() || !to.IsValid() || from.Is4() != to.Is4() || to.Less(from) {
		return nil
	}
	var out []netip.Prefix
	for {
		// The largest aligned block starting at from that does not pass to.
		bits := from.BitLen()
		for bits > 0 {
			p := netip.PrefixFrom(from, bits-1)
			if p.Masked().Addr() != from || to.Less(Last(p)) {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(from, bits)
		out = append(out, p)
		last := Last(p)
		if last == to {
			return out
		}
		from = last.Next()
	}
}

// ParseRange reads "a.b.c.d-e.f.g.h" (spaces allowed around the dash), the
// form the vSphere with Tanzu wizard uses for address ranges.
func ParseRange(s string) (from, to netip.Addr, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return from, to, fmt.Errorf("%q is not a range (want first-last)", s)
	}
	if from, err = netip.ParseAddr(strings.TrimSpace(a)); err != nil {
		return from, to, err
	}
	if to, err = netip.ParseAddr(strings.TrimSpace(b)); err != nil {
		return from, to, err
	}
	if from.Is4() != to.Is4() {
		return from, to, fmt.Errorf("%q mixes IPv4 and IPv6", s)
	}
	if to.Less(from) {
		return from, to, fmt.Errorf("%q ends before it starts", s)
	}
	return from, to, nil
}

// FormatPrefixes joins prefixes with ", " for messages.
func FormatPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

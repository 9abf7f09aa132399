// Package ipx holds the few address helpers that more than one package
// needs and go4.org/netipx, which does the range arithmetic, leaves out: a
// saturated size for bounding loops, the first-last form the vSphere with
// Tanzu wizard uses, and prefixes joined for messages.
package ipx

import (
	"fmt"
	"net/netip"
	"strings"

	"go4.org/netipx"
)

// Size returns the number of addresses in p, saturated at 2^63 so callers
// can bound loops without big integers.
func Size(p netip.Prefix) uint64 {
	host := p.Addr().BitLen() - p.Bits()
	if host >= 63 {
		return 1 << 63
	}
	return 1 << host
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

// RangePrefix reads "first-last" (spaces allowed around the dash). ok is
// false when s is not such a range; otherwise cover are the fewest
// prefixes that hold exactly its addresses, in order: the range is one
// prefix when len(cover) == 1.
func RangePrefix(s string) (cover []netip.Prefix, ok bool) {
	from, to, err := ParseRange(s)
	if err != nil {
		return nil, false
	}
	return netipx.IPRangeFrom(from, to).Prefixes(), true
}

// ShortIPv4 reads a prefix whose IPv4 address lost trailing zero octets,
// "10.0.0/24" or "10.1/16", as the prefix with them put back, when that
// prefix has no host bits: what the operator most likely meant.
func ShortIPv4(s string) (netip.Prefix, bool) {
	a, bits, ok := strings.Cut(s, "/")
	octets := strings.Split(a, ".")
	if !ok || len(octets) < 2 || len(octets) > 3 {
		return netip.Prefix{}, false
	}
	for _, o := range octets {
		if o == "" || strings.Trim(o, "0123456789") != "" {
			return netip.Prefix{}, false
		}
	}
	for len(octets) < 4 {
		octets = append(octets, "0")
	}
	p, err := netip.ParsePrefix(strings.Join(octets, ".") + "/" + bits)
	if err != nil || p.Masked() != p {
		return netip.Prefix{}, false
	}
	return p, true
}

// FormatPrefixes joins prefixes with ", " for messages.
func FormatPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

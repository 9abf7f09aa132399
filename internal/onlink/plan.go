// Package onlink makes the VIP ranges answer on the links they belong to,
// and tells the neighbours when the appliance takes them over.
//
// Linux answers ARP for the addresses of an IPv4 AnyIP range, but not
// neighbour solicitations for an IPv6 one: the kernel answers for the
// addresses it holds on an interface, never for a local route. The
// responder here does that for the IPv6 ranges, on the NIC whose subnet
// holds the range and there only. Before it answers for an address it asks
// the link the way duplicate address detection does, and it stops
// answering an address the moment another host shows it holds it.
//
// Announcements go out when a range is added and when the service starts:
// gratuitous ARP for IPv4, unsolicited neighbour advertisements for IPv6,
// for the addresses HAProxy binds first and then a bounded number more,
// paced, so a redeployed appliance with a new MAC is found at once rather
// than when the neighbours' caches time out.
//
// The cores are pure and take the time as an argument (which NIC serves
// which range, the token bucket, the responder's state machine, the choice
// of addresses to announce); the I/O around them is a packet socket per NIC.
package onlink

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/anyip/anyip/internal/validate"
)

// Served is one NIC's share of the ranges of one family.
type Served struct {
	Iface  string
	Ranges []netip.Prefix // sorted
	// Subnets are the NIC's subnets that hold them, for messages.
	Subnets []netip.Prefix
	// Source is the NIC's link-local address (IPv6), the source of its
	// advertisements; invalid when it has none.
	Source netip.Addr
}

// Plan says which NIC serves which range: the NIC whose subnet of the
// range's family holds the whole range (the longest such subnet; every
// NIC that has it, if more than one does). A range that no subnet holds,
// or one that only overlaps a subnet, is served by none: it lies beyond a
// router, which must route it to the appliance. Link-local subnets hold
// no range.
type Plan struct {
	V4, V6 []Served // sorted by interface name
	// Unserved are the ranges no NIC serves, in input order.
	Unserved []netip.Prefix
}

// Assign makes the plan for the ranges on the system the facts describe.
func Assign(ranges []netip.Prefix, facts validate.Facts) Plan {
	type key struct {
		iface string
		v4    bool
	}
	by := map[key]*Served{}
	var plan Plan
	for _, r := range ranges {
		r = r.Masked()
		best := -1
		for _, a := range facts.Addrs {
			if s := a.Prefix.Masked(); holds(s, r) && s.Bits() > best {
				best = s.Bits()
			}
		}
		if best < 0 {
			plan.Unserved = append(plan.Unserved, r)
			continue
		}
		for _, a := range facts.Addrs {
			s := a.Prefix.Masked()
			if !holds(s, r) || s.Bits() != best {
				continue
			}
			k := key{a.Iface, r.Addr().Is4()}
			sv := by[k]
			if sv == nil {
				sv = &Served{Iface: a.Iface}
				by[k] = sv
			}
			if !slices.Contains(sv.Ranges, r) {
				sv.Ranges = append(sv.Ranges, r)
			}
			if !slices.Contains(sv.Subnets, s) {
				sv.Subnets = append(sv.Subnets, s)
			}
		}
	}
	for k, sv := range by {
		slices.SortFunc(sv.Ranges, comparePrefix)
		slices.SortFunc(sv.Subnets, comparePrefix)
		if k.v4 {
			plan.V4 = append(plan.V4, *sv)
			continue
		}
		for _, a := range facts.Addrs {
			if a.Iface == k.iface && a.Prefix.Addr().Is6() && a.Prefix.Addr().IsLinkLocalUnicast() {
				sv.Source = a.Prefix.Addr()
				break
			}
		}
		plan.V6 = append(plan.V6, *sv)
	}
	byName := func(a, b Served) int { return cmp.Compare(a.Iface, b.Iface) }
	slices.SortFunc(plan.V4, byName)
	slices.SortFunc(plan.V6, byName)
	return plan
}

// holds: subnet s (of a NIC) contains the whole range r.
func holds(s, r netip.Prefix) bool {
	return s.Addr().Is4() == r.Addr().Is4() && !s.Addr().IsLinkLocalUnicast() &&
		s.Bits() <= r.Bits() && s.Contains(r.Addr())
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// ranges is a sorted set of non-overlapping prefixes with a fast lookup
// (validation refuses overlapping ranges).
type ranges []netip.Prefix

func newRanges(ps []netip.Prefix) ranges {
	rs := slices.Clone(ps)
	for i := range rs {
		rs[i] = rs[i].Masked()
	}
	slices.SortFunc(rs, comparePrefix)
	return rs
}

// lookup returns the range that holds a.
func (rs ranges) lookup(a netip.Addr) (netip.Prefix, bool) {
	// The last range starting at or before a is the only candidate.
	i, _ := slices.BinarySearchFunc(rs, a, func(p netip.Prefix, a netip.Addr) int {
		if p.Addr().Compare(a) <= 0 {
			return -1
		}
		return 1
	})
	if i == 0 {
		return netip.Prefix{}, false
	}
	if p := rs[i-1]; p.Contains(a) {
		return p, true
	}
	return netip.Prefix{}, false
}

func (rs ranges) contains(a netip.Addr) bool {
	_, ok := rs.lookup(a)
	return ok
}

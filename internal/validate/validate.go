// Package validate decides whether a set of VIP ranges is safe to answer
// for, given what the appliance is configured with and what the running
// system shows. It is pure: the caller gathers the facts, and every check
// is a function from values to findings, so the same checks guard first
// boot, every edit the route service applies, and the operator's check.
//
// Everything runs in O(n log n) in the number of ranges: the ranges are
// indexed once, then every address that must stay outside them is looked
// up per prefix length present, and every network that must not overlap
// them is found by binary search.
package validate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"

	"github.com/anyip/anyip/internal/finding"
)

// Range is one VIP range as the operator gave it.
type Range struct {
	Prefix netip.Prefix // as typed; host bits may be set
	Where  string       // OVF key, or path:line of anyip-routes.cfg
}

// Point is an address no range may contain: a gateway, a name server, an
// address of this appliance or one already held on an interface.
type Point struct {
	Addr  netip.Addr
	What  string // "the workload gateway", "a name server", ...
	Where string // the place it is held (see Prose): OVF key, file or system place
}

// Network is a network no range may overlap (backends, special-use space),
// or one a range is expected to lie in (attached subnets).
type Network struct {
	Prefix netip.Prefix
	What   string
	Where  string
}

// Rules is everything the ranges are checked against.
type Rules struct {
	Forbidden []Point   // a range containing one is an error
	Avoid     []Network // a range overlapping one is an error
	Attached  []Network // subnets the appliance is on: warnings only
	// AttachedUnknown says Attached may lack a subnet (a NIC's address
	// did not parse): "outside every attached network" would then be a
	// guess, so it is not said.
	AttachedUnknown bool
	// MinBits4 and MinBits6 bound how large a range may be: a /8 of VIPs
	// is a typo, not a load balancer.
	MinBits4, MinBits6 int
}

// Default size limits; the commands let the operator override them.
const (
	DefaultMinBits4 = 16
	DefaultMinBits6 = 48
)

// Special-use space no VIP may live in: answering for it would break the
// host itself (loopback), the link (link-local), or never work at all.
var special = []Network{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network" space (0.0.0.0/8)`, "rfc:1122"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback space (127.0.0.0/8)", "rfc:1122"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local space (169.254.0.0/16)", "rfc:3927"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast space (224.0.0.0/4)", "rfc:5771"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved space (240.0.0.0/4)", "rfc:1112"},
	{netip.MustParsePrefix("::/128"), "the unspecified address (::)", "rfc:4291"},
	{netip.MustParsePrefix("::1/128"), "loopback (::1)", "rfc:4291"},
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped space (::ffff:0:0/96)", "rfc:4291"},
	{netip.MustParsePrefix("fe80::/10"), "link-local space (fe80::/10)", "rfc:4291"},
	{netip.MustParsePrefix("ff00::/8"), "multicast space (ff00::/8)", "rfc:4291"},
}

// Ranges checks VIP ranges against each other and against the rules. It
// reports every problem, not just the first.
func Ranges(rs []Range, rules Rules) finding.List {
	// 300,000 ranges may each earn a warning: keep a readable number.
	var fs finding.Bounded
	ix := index{all: make([]entry, 0, len(rs))}
	// A range given again exactly as before is checked once and reported
	// once, with a count: a list of one range repeated 300,000 times is
	// one mistake, not 300,000 findings (each of which every later check
	// would repeat).
	type repeat struct{ first, second, n int }
	var repeats []repeat
	first := make(map[netip.Prefix]int, len(rs)) // as typed → index of its first occurrence
	repeated := make(map[netip.Prefix]int)       // as typed → position in repeats
	for i, r := range rs {
		p := r.Prefix
		if f, dup := first[p]; dup {
			if j, ok := repeated[p]; ok {
				repeats[j].n++
			} else {
				repeated[p] = len(repeats)
				repeats = append(repeats, repeat{first: f, second: i, n: 2})
			}
			continue
		}
		first[p] = i
		if m := p.Masked(); m != p {
			fs.Add(finding.Errorf(r.Where, p.String(), fmt.Sprintf("did you mean %s?", m),
				"%s has host bits set: a range must start at its network address", p))
			p = m
		}
		if p.Bits() == 0 {
			fs.Add(finding.Errorf(r.Where, r.Prefix.String(), "list only the addresses VIPs are handed out from, e.g. 192.168.30.128/26",
				"%s is every address there is: the appliance would answer for the whole network, gateways and DNS included", p))
			continue
		}
		if lim := rules.limit(p); p.Bits() < lim {
			fs.Add(finding.Errorf(r.Where, r.Prefix.String(),
				fmt.Sprintf("use a range of /%d or smaller, or raise the limit (--max-range)", lim),
				"%s holds %s addresses, more than a VIP pool should (largest allowed: /%d)", p, count(p), lim))
			continue
		}
		ix.add(p, i)
	}
	ix.build()

	// A repeat within one property says where in it, not "also in"
	// the property itself: pos is each range's item number in its Where.
	overlaps := ix.overlaps()
	need := map[string]bool{}
	for _, d := range repeats {
		if w := rs[d.first].Where; w == rs[d.second].Where {
			need[w] = true
		}
	}
	for _, ov := range overlaps {
		if w := rs[ov[0]].Where; w == rs[ov[1]].Where {
			need[w] = true
		}
	}
	pos := positions(rs, need)
	for _, d := range repeats {
		a, b := rs[d.first], rs[d.second]
		p := b.Prefix.Masked()
		switch {
		case d.n == 2 && a.Where == b.Where:
			fs.Add(finding.Warnf(b.Where, b.Prefix.String(), "delete one of them",
				"%s is listed twice in %s (items %d and %d)", p, a.Where, pos[d.first], pos[d.second]).With(a.Prefix.String(), a.Where))
		case d.n == 2:
			fs.Add(finding.Warnf(b.Where, b.Prefix.String(), "delete one of them",
				"%s is listed twice (also in %s)", p, a.Where).With(a.Prefix.String(), a.Where))
		case a.Where == b.Where:
			fs.Add(finding.Warnf(b.Where, b.Prefix.String(), "list each range once",
				"%s is listed %d times in %s (first as item %d)", p, d.n, a.Where, pos[d.first]).With(a.Prefix.String(), a.Where))
		default:
			fs.Add(finding.Warnf(b.Where, b.Prefix.String(), "list each range once",
				"%s is listed %d times (first in %s)", p, d.n, a.Where).With(a.Prefix.String(), a.Where))
		}
	}

	for _, ov := range overlaps {
		a, b := rs[ov[0]], rs[ov[1]]
		pa, pb := a.Prefix.Masked(), b.Prefix.Masked()
		if pa == pb && a.Where == b.Where {
			fs.Add(finding.Warnf(b.Where, b.Prefix.String(), "delete one of them",
				"%s is listed twice in %s (items %d and %d, as %s and %s)", pb, a.Where, pos[ov[0]], pos[ov[1]], a.Prefix, b.Prefix).With(a.Prefix.String(), a.Where))
			continue
		}
		if pa == pb {
			fs.Add(finding.Warnf(b.Where, b.Prefix.String(), "delete one of them",
				"%s is listed twice (also in %s)", pb, a.Where).With(pa.String(), a.Where))
			continue
		}
		fs.Add(finding.Errorf(b.Where, b.Prefix.String(), "keep one range for these addresses: merge them or make them disjoint",
			"%s overlaps %s (%s)", pb, pa, a.Where).With(pa.String(), a.Where))
	}

	seenAddr := make(map[netip.Addr]bool, len(rules.Forbidden))
	for _, pt := range rules.Forbidden {
		// The same address often comes twice (configured and observed);
		// the first, configured one names the property to fix.
		if seenAddr[pt.Addr] {
			continue
		}
		seenAddr[pt.Addr] = true
		for _, i := range ix.containing(pt.Addr, 128) {
			r := rs[i]
			fs.Add(finding.Errorf(r.Where, r.Prefix.String(),
				fmt.Sprintf("move or shrink the range so it leaves out %s", pt.Addr),
				"%s contains %s, %s (%s): the appliance would answer for it and cut it off the network",
				r.Prefix.Masked(), pt.Addr, pt.What, Prose(pt.Where)).With(pt.Addr.String(), pt.Where))
		}
	}

	for _, n := range append(slices.Clip(rules.Avoid), special...) {
		for _, i := range ix.overlapping(n.Prefix) {
			r := rs[i]
			fs.Add(finding.Errorf(r.Where, r.Prefix.String(),
				fmt.Sprintf("choose a range outside %s", n.Prefix),
				"%s overlaps %s (%s)", r.Prefix.Masked(), n.What, Prose(n.Where)).With(n.Prefix.String(), n.Where))
		}
	}

	if !rules.AttachedUnknown {
		attachedWarnings(&fs, rs, &ix, rules.Attached)
	}
	return fs.List()
}

// positions numbers each range within its Where (1 for the first item of
// a property), for the Wheres in need only: a file's lines are each their
// own Where, and 300,000 of them need no count.
func positions(rs []Range, need map[string]bool) []int {
	if len(need) == 0 {
		return nil
	}
	pos := make([]int, len(rs))
	n := make(map[string]int, len(need))
	for i, r := range rs {
		if need[r.Where] {
			n[r.Where]++
			pos[i] = n[r.Where]
		}
	}
	return pos
}

func (r Rules) limit(p netip.Prefix) int {
	if p.Addr().Is4() {
		if r.MinBits4 > 0 {
			return r.MinBits4
		}
		return DefaultMinBits4
	}
	if r.MinBits6 > 0 {
		return r.MinBits6
	}
	return DefaultMinBits6
}

// attachedWarnings: a range outside every attached subnet works only if
// the upstream router sends it here; a range holding a subnet's network
// or broadcast address answers for addresses hosts use to mean "everyone".
func attachedWarnings(fs *finding.Bounded, rs []Range, ix *index, attached []Network) {
	if len(attached) == 0 {
		return
	}
	// A subnet is usually both configured and observed on its interface:
	// warn once, naming the first (configured) source.
	seen := make(map[netip.Prefix]bool, len(attached))
	uniq := make([]Network, 0, len(attached))
	for _, n := range attached {
		if m := n.Prefix.Masked(); !seen[m] {
			seen[m] = true
			uniq = append(uniq, n)
		}
	}
	attached = uniq
	for _, e := range ix.all {
		inside := false
		for _, n := range attached {
			if n.Prefix.Bits() <= e.p.Bits() && n.Prefix.Contains(e.p.Addr()) {
				inside = true
				break
			}
		}
		// Inside an attached network, hosts on the link find the range's
		// addresses: the kernel answers ARP for IPv4 AnyIP addresses, and
		// the route service answers neighbour solicitations for IPv6 ones
		// on the NIC whose subnet holds the range (package onlink, the
		// same rule).
		if r := rs[e.i]; !inside {
			fs.Add(finding.Warnf(r.Where, r.Prefix.String(), "make sure the upstream router routes it to this appliance",
				"%s lies outside every attached network (%s)", e.p, describe(attached)))
		}
	}
	for _, n := range attached {
		s := n.Prefix.Masked()
		if !s.Addr().Is4() || s.Bits() > 30 {
			continue
		}
		for _, pt := range []struct {
			a    netip.Addr
			what string
		}{{s.Addr(), "network"}, {netipx.PrefixLastIP(s), "broadcast"}} {
			for _, i := range ix.containing(pt.a, 128) {
				r := rs[i]
				fs.Add(finding.Warnf(r.Where, r.Prefix.String(), fmt.Sprintf("leave %s out of the range", pt.a),
					"%s includes %s, the %s address of %s (%s)", r.Prefix.Masked(), pt.a, pt.what, s, Prose(n.Where)).With(pt.a.String(), n.Where))
			}
		}
	}
}

func describe(ns []Network) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.Prefix.Masked().String()
	}
	return strings.Join(s, ", ")
}

func count(p netip.Prefix) string {
	host := p.Addr().BitLen() - p.Bits()
	if host >= 63 {
		return fmt.Sprintf("2^%d", host)
	}
	return fmt.Sprintf("%d", uint64(1)<<host)
}

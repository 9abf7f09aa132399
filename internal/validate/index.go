package validate

import (
	"net/netip"
	"slices"

	"go4.org/netipx"
)

// index answers "which ranges contain this address" and "which ranges
// overlap this network" without comparing every pair.
type index struct {
	all   []entry              // sorted by address, then length, then index
	exact map[netip.Prefix]int // masked prefix → its first position in all
	lens  [2][]int             // distinct prefix lengths present, per family (0: v4, 1: v6)
	has   [2][129]bool
}

type entry struct {
	p netip.Prefix
	i int
}

func fam(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

func (x *index) add(p netip.Prefix, i int) {
	x.all = append(x.all, entry{p, i})
	f := fam(p.Addr())
	if !x.has[f][p.Bits()] {
		x.has[f][p.Bits()] = true
		x.lens[f] = append(x.lens[f], p.Bits())
	}
}

func (x *index) build() {
	slices.SortFunc(x.all, func(a, b entry) int {
		if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
			return c
		}
		if c := a.p.Bits() - b.p.Bits(); c != 0 {
			return c
		}
		return a.i - b.i
	})
	slices.Sort(x.lens[0])
	slices.Sort(x.lens[1])
	// Equal prefixes are adjacent after the sort, so one position per
	// prefix finds them all without a slice per entry.
	x.exact = make(map[netip.Prefix]int, len(x.all))
	for pos := len(x.all) - 1; pos >= 0; pos-- {
		x.exact[x.all[pos].p] = pos
	}
}

// containing returns the ranges that contain a, among those of length at
// most maxBits: one map look-up per distinct length.
func (x *index) containing(a netip.Addr, maxBits int) []int {
	var out []int
	for _, l := range x.lens[fam(a)] {
		if l > maxBits {
			break
		}
		p, _ := a.Prefix(l)
		pos, ok := x.exact[p]
		for ok && pos < len(x.all) && x.all[pos].p == p {
			out = append(out, x.all[pos].i)
			pos++
		}
	}
	return out
}

// overlapping returns the ranges that overlap n: those inside it (a run
// of the sorted list) and those that contain it.
func (x *index) overlapping(n netip.Prefix) []int {
	n = n.Masked()
	first, last := n.Addr(), netipx.PrefixLastIP(n)
	start, _ := slices.BinarySearchFunc(x.all, first, func(e entry, a netip.Addr) int {
		return e.p.Addr().Compare(a)
	})
	var out []int
	for _, e := range x.all[start:] {
		if last.Less(e.p.Addr()) {
			break
		}
		if e.p.Bits() >= n.Bits() {
			out = append(out, e.i)
		}
	}
	// Ranges strictly larger than n that contain it.
	return append(out, x.containing(first, n.Bits()-1)...)
}

// overlaps returns pairs (enclosing, nested) of ranges that overlap, in a
// single sweep: prefixes either nest or are disjoint, so a stack of the
// ranges still open at each address finds every nested one's parent.
func (x *index) overlaps() [][2]int {
	var out [][2]int
	var open []entry
	for _, e := range x.all {
		for len(open) > 0 {
			top := open[len(open)-1].p
			if top.Addr().Is4() == e.p.Addr().Is4() && top.Contains(e.p.Addr()) {
				break
			}
			open = open[:len(open)-1]
		}
		if len(open) > 0 {
			out = append(out, [2]int{open[len(open)-1].i, e.i})
		}
		open = append(open, e)
	}
	return out
}

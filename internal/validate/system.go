package validate

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/finding"
)

// Facts is what the running system shows, gathered by the caller.
type Facts struct {
	// Addrs are addresses held on non-loopback interfaces, with their
	// prefix length (e.g. one a DHCP server handed out).
	Addrs []HeldAddr
	// Gateways are the current default routes' next hops.
	Gateways []HeldAddr
	// Nameservers are those the resolver uses now.
	Nameservers []netip.Addr
	// ResolvConf names where Nameservers came from, for messages.
	ResolvConf string
	// ResolvConfMissing says that file does not exist: no name server is
	// checked, which the operator should know.
	ResolvConfMissing bool
}

// HeldAddr is an address (or gateway) and the interface it is on.
type HeldAddr struct {
	Iface  string
	Prefix netip.Prefix // for gateways, a host prefix
}

// SystemRules are the rules the running system alone gives: its default
// gateways, name servers and interface addresses must stay outside every
// range, and its subnets are where ranges are expected.
func SystemRules(f Facts) Rules {
	var r Rules
	for _, g := range f.Gateways {
		r.Forbidden = append(r.Forbidden, Point{g.Prefix.Addr(), "the current default gateway", RoutePlace(g.Iface)})
	}
	for _, a := range f.Nameservers {
		where := f.ResolvConf
		if where == "" {
			where = "/etc/resolv.conf"
		}
		r.Forbidden = append(r.Forbidden, Point{a, "a name server in use", where})
	}
	for _, a := range f.Addrs {
		r.Forbidden = append(r.Forbidden, Point{a.Prefix.Addr(), "an address already held", InterfacePlace(a.Iface)})
		if !a.Prefix.Addr().IsLinkLocalUnicast() {
			r.Attached = append(r.Attached, Network{a.Prefix.Masked(), "a network", InterfacePlace(a.Iface)})
		}
	}
	return r
}

// A place is where a conflicting address or network is held, as
// Finding.ConflictWhere gives it to automation: an OVF key
// ("network.workload_gateway"), a file ("/etc/resolv.conf", or PATH:LINE
// for a line of the ranges file), or one of the running system's places
// below. README.md's JSON section lists them; a message says the same
// place in words (Prose).
const (
	interfacePrefix = "interface:"                        // an address held on the interface
	routePrefix     = "route:table=main,dst=default,dev=" // the default route's gateway through the device
	rfcPrefix       = "rfc:"                              // special-use space, by the RFC that reserves it
)

// InterfacePlace is the place of an address held on interface name.
func InterfacePlace(name string) string { return interfacePrefix + name }

// RoutePlace is the place of a gateway of the main table's default route
// reached through device dev.
func RoutePlace(dev string) string { return routePrefix + dev }

// Prose says a place in a message's words: "on eth0", "via eth0",
// "RFC 1122"; a key or a file reads as it is.
func Prose(place string) string {
	if dev, ok := strings.CutPrefix(place, routePrefix); ok {
		return "via " + dev
	}
	if name, ok := strings.CutPrefix(place, interfacePrefix); ok {
		return "on " + name
	}
	if n, ok := strings.CutPrefix(place, rfcPrefix); ok {
		return "RFC " + n
	}
	return place
}

// Join is r with o's points and networks after r's own; r's size limits
// stay.
func (r Rules) Join(o Rules) Rules {
	r.Forbidden = append(r.Forbidden[:len(r.Forbidden):len(r.Forbidden)], o.Forbidden...)
	r.Avoid = append(r.Avoid[:len(r.Avoid):len(r.Avoid)], o.Avoid...)
	r.Attached = append(r.Attached[:len(r.Attached):len(r.Attached)], o.Attached...)
	r.AttachedUnknown = r.AttachedUnknown || o.AttachedUnknown
	return r
}

// Against is the one answer to "may the appliance answer for the ranges of
// this file, here": the route service asks it of every edit, first boot of
// the file it is about to write, and check of the file as it is.
type Against struct {
	Facts Facts
	// Own are rules of the caller's own (first boot: the wizard's
	// gateways, name servers, addresses and backend networks); they come
	// before the system's, so a conflict names the key first.
	Own Rules
	// MinBits4 and MinBits6 bound the size of a range.
	MinBits4, MinBits6 int
}

// Rules are the caller's own rules, then the system's, with the limits.
func (a Against) Rules() Rules {
	r := a.Own.Join(SystemRules(a.Facts))
	r.MinBits4, r.MinBits6 = a.MinBits4, a.MinBits6
	return r
}

// File checks every range of f, each named by its path:line.
func (a Against) File(f *cfgfile.File) finding.List {
	return append(a.missingResolvConf(), byLine(Ranges(fileRanges(f, false, nil), a.Rules()))...)
}

// byLine orders findings of one file by line, as the operator reads it
// (the rules find them rule by rule); a finding without a line comes
// first, one that stands for findings not kept (finding.Bounded) last,
// and those of one line keep their order.
func byLine(fs finding.List) finding.List {
	line := func(f finding.Finding) int {
		if f.More > 0 {
			return math.MaxInt
		}
		if i := strings.LastIndexByte(f.Where, ':'); i >= 0 {
			if n, err := strconv.Atoi(f.Where[i+1:]); err == nil {
				return n
			}
		}
		return 0
	}
	slices.SortStableFunc(fs, func(a, b finding.Finding) int { return cmp.Compare(line(a), line(b)) })
	return fs
}

// Rewrite checks the file first boot is about to write: managed (the
// wizard's ranges) in place of f's managed block, and f's other lines.
func (a Against) Rewrite(f *cfgfile.File, managed []Range) finding.List {
	return append(a.missingResolvConf(), Ranges(fileRanges(f, true, managed), a.Rules())...)
}

// missingResolvConf warns that no name server in use is checked: a path
// mistyped (or a resolver that keeps its file elsewhere) silently turns
// the check off otherwise.
func (a Against) missingResolvConf() finding.List {
	if !a.Facts.ResolvConfMissing {
		return nil
	}
	return finding.List{finding.Warnf(a.Facts.ResolvConf, "",
		"give the resolver configuration in use (--resolv-conf; with systemd-resolved, /run/systemd/resolve/resolv.conf)",
		"does not exist: no range is checked against the name servers in use")}
}

func fileRanges(f *cfgfile.File, skipManaged bool, managed []Range) []Range {
	rs := make([]Range, 0, len(f.Entries)+len(managed))
	rs = append(rs, managed...)
	var taken map[int]bool
	if skipManaged {
		// An old file's lines that move into the new block are checked
		// once, as the wizard's.
		ps := make([]netip.Prefix, len(managed))
		for i, m := range managed {
			ps[i] = m.Prefix
		}
		taken = f.Taken(ps)
	}
	for _, e := range f.Entries {
		if (!skipManaged || !e.Managed) && !taken[e.Line] {
			rs = append(rs, Range{Prefix: e.Prefix, Where: f.Where(e.Line)})
		}
	}
	return rs
}

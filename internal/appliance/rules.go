package appliance

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"

	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/validate"
)

// Rules are what the wizard's own settings forbid or expect of the VIP
// ranges: its gateways, name servers and static addresses stay outside
// every range, its static subnets are where ranges are expected, and its
// additional workload networks (the backends) must not be overlapped.
func (c Config) Rules() validate.Rules {
	var r validate.Rules
	for _, n := range c.NICs {
		if n.Gateway.IsValid() {
			r.Forbidden = append(r.Forbidden, validate.Point{Addr: n.Gateway, What: "the " + n.Role + " gateway", Where: n.GatewayKey})
		}
	}
	for _, a := range c.Nameservers {
		r.Forbidden = append(r.Forbidden, validate.Point{Addr: a, What: "a name server", Where: KeyNameservers})
	}
	// An address key that did not parse still names its address when one
	// reads from it: it stays outside every range, as it would once fixed.
	for _, k := range addrKeys {
		for _, a := range c.readable[k] {
			r.Forbidden = append(r.Forbidden, validate.Point{Addr: a, What: c.whatAt(k), Where: k})
		}
	}
	known := true // every NIC's network is known
	for _, n := range c.NICs {
		if n.Static() {
			r.Forbidden = append(r.Forbidden, validate.Point{Addr: n.Addr.Addr(), What: "the appliance's " + n.Role + " address", Where: n.Key})
			r.Attached = append(r.Attached, validate.Network{Prefix: n.Subnet(), What: "the " + n.Role + " network", Where: n.Key})
		}
		known = known && !c.Invalid(n.Key)
	}
	// A range "outside every attached network" may be inside the one
	// whose address did not parse: that error says all there is.
	r.AttachedUnknown = !known
	for _, p := range c.AdditionalNetworks {
		r.Avoid = append(r.Avoid, validate.Network{Prefix: p.Masked(), What: "an additional workload network (backends)", Where: KeyAdditionalNetworks})
	}
	return r
}

// Check checks the network settings on their own: each static address
// is usable, each gateway is reachable, the NICs' subnets are distinct.
func (c Config) Check() finding.List {
	var fs finding.List
	var static []NIC
	for _, n := range c.NICs {
		if !n.Static() {
			if n.Gateway.IsValid() && !c.Invalid(n.Key) {
				fs = append(fs, finding.Warnf(n.GatewayKey, n.Gateway.String(),
					fmt.Sprintf("set %s too, or clear the gateway", n.Key),
					"is ignored: %s is empty, so the %s NIC uses DHCP", n.Key, n.Role))
			}
			continue
		}
		fs = append(fs, nic(n)...)
		static = append(static, n)
	}
	for i, a := range static {
		for _, b := range static[i+1:] {
			if a.Subnet().Overlaps(b.Subnet()) {
				fs = append(fs, finding.Errorf(b.Key, b.Addr.String(), "put each NIC on its own network",
					"the %s network %s overlaps the %s network %s (%s)", b.Role, b.Subnet(), a.Role, a.Subnet(), a.Key))
			}
		}
	}
	if len(c.AdditionalNetworks) > 0 {
		var wl NIC
		for _, n := range c.NICs {
			if n.Role == "workload" {
				wl = n
			}
		}
		if wl.Static() && !wl.Gateway.IsValid() {
			fs = append(fs, finding.Errorf(wl.GatewayKey, "", "set the workload gateway, or clear "+KeyAdditionalNetworks,
				"is empty, but the additional workload networks are reached through it"))
		}
		for _, p := range c.AdditionalNetworks {
			if m := p.Masked(); m != p {
				fs = append(fs, finding.Errorf(KeyAdditionalNetworks, p.String(), fmt.Sprintf("did you mean %s?", m),
					"%s has host bits set", p))
			}
		}
	}
	if len(c.ServiceRanges) == 0 && !c.Invalid(KeyServiceRanges) {
		fs = append(fs, finding.Warnf(KeyServiceRanges, "", "add the VIP ranges the control plane hands out, e.g. 192.168.30.128/26",
			"is empty: HAProxy cannot serve a virtual server until a range is added"))
	}
	fs = append(fs, overlappingNetworks(c.AdditionalNetworks)...)
	if fs.HasErrors() {
		// Which network a range lies in means little while the networks
		// themselves are wrong.
		return fs
	}
	return append(fs, c.wrongNetwork()...)
}

// overlappingNetworks warns about additional workload networks that
// overlap each other: the routes to them work, but one of the two is a
// typo or a leftover. Sorted, a network overlaps one before it only if
// one of the networks still open (containing it) does: O(n log n).
func overlappingNetworks(ps []netip.Prefix) finding.List {
	if len(ps) < 2 {
		return nil
	}
	type item struct {
		p   netip.Prefix
		pos int
	}
	items := make([]item, len(ps))
	for i, p := range ps {
		items[i] = item{p.Masked(), i + 1}
	}
	slices.SortStableFunc(items, func(a, b item) int {
		if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
			return c
		}
		return a.p.Bits() - b.p.Bits()
	})
	fs := finding.Bounded{Max: finding.DefaultMax}
	var open []item
	for _, it := range items {
		for len(open) > 0 && !open[len(open)-1].p.Contains(it.p.Addr()) {
			open = open[:len(open)-1]
		}
		if len(open) > 0 {
			o := open[len(open)-1]
			first, second := o, it
			if second.pos < first.pos {
				first, second = second, first
			}
			what := fmt.Sprintf("%s (item %d) overlaps %s (item %d)", second.p, second.pos, first.p, first.pos)
			if o.p == it.p {
				what = fmt.Sprintf("%s is listed twice (items %d and %d)", it.p, first.pos, second.pos)
			}
			fs.Add(finding.Warnf(KeyAdditionalNetworks, second.p.String(), "list each backend network once: keep the larger one, or make them disjoint",
				"%s", what).With(first.p.String(), KeyAdditionalNetworks))
		}
		open = append(open, it)
	}
	return fs.List()
}

// wrongNetwork warns about a VIP range inside a subnet where VIPs do not
// belong: the management network always; the workload network too when
// the appliance has a frontend NIC (the Frontend Network option, static or
// DHCP), where the VIPs belong on the frontend network. A range on the
// wrong network works until it does not (the control plane expects the
// VIPs where the deployment option puts them). The management and workload
// subnets are static and known however the frontend is addressed.
func (c Config) wrongNetwork() finding.List {
	var fs finding.List
	frontend := slices.ContainsFunc(c.NICs, func(n NIC) bool { return n.Role == "frontend" })
	for _, r := range c.ServiceRanges {
		for _, n := range c.NICs {
			if n.Role == "frontend" || !n.Static() || !n.Subnet().Overlaps(r) {
				continue
			}
			var hint, why string
			switch {
			case n.Role == "management" && frontend:
				hint = "move the range to the frontend network"
				why = "VIPs never belong on the management network; with the Frontend Network option they belong on the frontend network"
			case n.Role == "management":
				hint = "move the range to the workload network"
				why = "VIPs never belong on the management network; with the Default option they belong on the workload network"
			case frontend:
				hint = "give the frontend network's ranges, or deploy with the Default option (two NICs) to serve VIPs on the workload network"
				why = "with the Frontend Network option the VIPs belong on the frontend network"
			default:
				continue // the Default option: the workload network is where VIPs belong
			}
			fs = append(fs, finding.Warnf(KeyServiceRanges, r.String(), hint,
				"%s lies in the %s network %s (%s): %s", r, n.Role, n.Subnet(), n.Key, why).With(n.Subnet().String(), n.Key))
		}
	}
	return fs
}

// addrKeys are the keys that hold addresses the ranges must stay clear of.
var addrKeys = []string{
	KeyManagementIP, KeyManagementGateway, KeyWorkloadIP, KeyWorkloadGateway,
	KeyFrontendIP, KeyFrontendGateway, KeyNameservers,
}

// readInvalid reads what addresses it can from the address keys that did
// not parse. Each item is read as an address alone, or as what stands
// before its "/": the key's own error says what is wrong with it; this
// only keeps its address in the ranges' checks.
func readInvalid(p Properties, invalid map[string]bool) (map[string][]netip.Addr, map[string]bool) {
	var readable map[string][]netip.Addr
	var unreadable map[string]bool
	for _, k := range addrKeys {
		if !invalid[k] {
			continue
		}
		items := []string{p[k]}
		if k == KeyNameservers {
			items = SplitList(p[k])
		}
		for _, item := range items {
			bare, _, _ := strings.Cut(item, "/")
			a, err := netip.ParseAddr(strings.TrimSpace(bare))
			if err != nil || a.Zone() != "" {
				if unreadable == nil {
					unreadable = map[string]bool{}
				}
				unreadable[k] = true
				continue
			}
			if readable == nil {
				readable = map[string][]netip.Addr{}
			}
			readable[k] = append(readable[k], a.Unmap())
		}
	}
	return readable, unreadable
}

// whatAt names what an address key holds, as the ranges' findings say it.
func (c Config) whatAt(key string) string {
	if key == KeyNameservers {
		return "a name server"
	}
	for _, n := range c.NICs {
		switch key {
		case n.Key:
			return "the appliance's " + n.Role + " address"
		case n.GatewayKey:
			return "the " + n.Role + " gateway"
		}
	}
	return key
}

// Unchecked is a key whose value did not parse in a way that leaves a
// check of the VIP ranges undone, and what the ranges cannot be checked
// against.
type Unchecked struct{ Key, What string }

// Unchecked lists the keys that leave the ranges unchecked: an address
// key with an item no address reads from (a range might hold that gateway,
// name server or address of the appliance, and cut it off), or backend
// networks that did not parse (a range might overlap one). Any other error
// leaves every check of the ranges whole: an address without its prefix
// length is still kept out of them (Rules), and a network that is not
// known only costs the warnings about which network a range lies in.
func (c Config) Unchecked() []Unchecked {
	var out []Unchecked
	for _, k := range addrKeys {
		if !c.unreadable[k] {
			continue
		}
		what := c.whatAt(k)
		if k == KeyNameservers {
			what = "the name servers"
		}
		out = append(out, Unchecked{k, what})
	}
	if c.invalid[KeyAdditionalNetworks] {
		out = append(out, Unchecked{KeyAdditionalNetworks, "the additional workload networks"})
	}
	return out
}

func nic(n NIC) finding.List {
	var fs finding.List
	a, s := n.Addr.Addr(), n.Subnet()
	switch {
	case a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() || a.IsLinkLocalUnicast():
		fs = append(fs, finding.Errorf(n.Key, n.Addr.String(), "use the address the network administrator assigned to this NIC",
			"%s is not a usable interface address", a))
		return fs
	case n.Addr.Bits() == 0:
		fs = append(fs, finding.Errorf(n.Key, n.Addr.String(), "give the subnet's prefix length, e.g. /24",
			"has prefix length 0"))
		return fs
	}
	if a.Is4() && s.Bits() <= 30 {
		if a == s.Addr() {
			fs = append(fs, finding.Errorf(n.Key, n.Addr.String(), "use a host address of the subnet",
				"%s is the network address of %s", a, s))
		} else if a == netipx.PrefixLastIP(s) {
			fs = append(fs, finding.Errorf(n.Key, n.Addr.String(), "use a host address of the subnet",
				"%s is the broadcast address of %s", a, s))
		}
	}
	g := n.Gateway
	switch {
	case !g.IsValid():
		if n.Role == "management" {
			fs = append(fs, finding.Warnf(n.GatewayKey, "", "set it unless the appliance needs no default route",
				"is empty: the appliance will have no default gateway"))
		}
	case g.Is4() != a.Is4():
		fs = append(fs, finding.Errorf(n.GatewayKey, g.String(), fmt.Sprintf("give a gateway of the same family as %s", n.Addr),
			"%s and the %s address %s are of different IP versions", g, n.Role, n.Addr))
	case g == a:
		fs = append(fs, finding.Errorf(n.GatewayKey, g.String(), "give the router's address, not the appliance's",
			"is the appliance's own %s address", n.Role))
	case !s.Contains(g):
		fs = append(fs, finding.Errorf(n.GatewayKey, g.String(), fmt.Sprintf("give a gateway inside %s, or fix the prefix length of %s", s, n.Key),
			"%s is outside the %s subnet %s (%s)", g, n.Role, s, n.Key))
	}
	return fs
}

// Ranges are the wizard's VIP ranges as validate sees them.
func (c Config) Ranges() []validate.Range {
	out := make([]validate.Range, len(c.ServiceRanges))
	for i, p := range c.ServiceRanges {
		out[i] = validate.Range{Prefix: p, Where: KeyServiceRanges}
	}
	return out
}

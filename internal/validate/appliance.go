package validate

import (
	"fmt"
	"net/netip"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/ipx"
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
}

// HeldAddr is an address (or gateway) and the interface it is on.
type HeldAddr struct {
	Iface  string
	Prefix netip.Prefix // for gateways, a host prefix
}

// Rules builds the rules from the appliance configuration (which may be
// empty, for the route service) and the system's facts.
func RulesFor(c appliance.Config, f Facts) Rules {
	var r Rules
	for _, n := range c.NICs {
		if n.Gateway.IsValid() {
			r.Forbidden = append(r.Forbidden, Point{n.Gateway, "the " + n.Role + " gateway", n.GatewayKey})
		}
	}
	for _, a := range c.Nameservers {
		r.Forbidden = append(r.Forbidden, Point{a, "a name server", appliance.KeyNameservers})
	}
	for _, n := range c.NICs {
		if n.Static() {
			r.Forbidden = append(r.Forbidden, Point{n.Addr.Addr(), "the appliance's " + n.Role + " address", n.Key})
			r.Attached = append(r.Attached, Network{n.Subnet(), "the " + n.Role + " network", n.Key})
		}
	}
	for _, g := range f.Gateways {
		r.Forbidden = append(r.Forbidden, Point{g.Prefix.Addr(), "the current default gateway", "via " + g.Iface})
	}
	for _, a := range f.Nameservers {
		where := f.ResolvConf
		if where == "" {
			where = "/etc/resolv.conf"
		}
		r.Forbidden = append(r.Forbidden, Point{a, "a name server in use", where})
	}
	for _, a := range f.Addrs {
		r.Forbidden = append(r.Forbidden, Point{a.Prefix.Addr(), "an address already held", "on " + a.Iface})
		if !a.Prefix.Addr().IsLinkLocalUnicast() {
			r.Attached = append(r.Attached, Network{a.Prefix.Masked(), "a network", a.Iface})
		}
	}
	for _, p := range c.AdditionalNetworks {
		r.Avoid = append(r.Avoid, Network{p.Masked(), "an additional workload network (backends)", appliance.KeyAdditionalNetworks})
	}
	return r
}

// Appliance checks the network settings on their own: each static address
// is usable, each gateway is reachable, the NICs' subnets are distinct.
func Appliance(c appliance.Config) finding.List {
	var fs finding.List
	var static []appliance.NIC
	for _, n := range c.NICs {
		if !n.Static() {
			if n.Gateway.IsValid() {
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
		var wl appliance.NIC
		for _, n := range c.NICs {
			if n.Role == "workload" {
				wl = n
			}
		}
		if wl.Static() && !wl.Gateway.IsValid() {
			fs = append(fs, finding.Errorf(wl.GatewayKey, "", "set the workload gateway, or clear "+appliance.KeyAdditionalNetworks,
				"is empty, but the additional workload networks are reached through it"))
		}
		for _, p := range c.AdditionalNetworks {
			if m := p.Masked(); m != p {
				fs = append(fs, finding.Errorf(appliance.KeyAdditionalNetworks, p.String(), fmt.Sprintf("did you mean %s?", m),
					"%s has host bits set", p))
			}
		}
	}
	if len(c.ServiceRanges) == 0 {
		fs = append(fs, finding.Warnf(appliance.KeyServiceRanges, "", "add the VIP ranges the control plane hands out, e.g. 192.168.30.128/26",
			"is empty: HAProxy cannot serve a virtual server until a range is added"))
	}
	return fs
}

func nic(n appliance.NIC) finding.List {
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
		} else if a == ipx.Last(s) {
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

// Wizard returns the VIP ranges of the configuration as validate Ranges.
func Wizard(c appliance.Config) []Range {
	out := make([]Range, len(c.ServiceRanges))
	for i, p := range c.ServiceRanges {
		out[i] = Range{Prefix: p, Where: appliance.KeyServiceRanges}
	}
	return out
}

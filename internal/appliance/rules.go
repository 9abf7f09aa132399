package appliance

import (
	"fmt"
	"slices"

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
	if fs.HasErrors() {
		// Which network a range lies in means little while the networks
		// themselves are wrong.
		return fs
	}
	return append(fs, c.wrongNetwork()...)
}

// wrongNetwork warns about a VIP range inside the management or the
// workload subnet when the appliance has a frontend NIC: with the Frontend
// Network option the VIPs belong on the frontend network, and one of the
// other networks answering for them is a mistake that works until it
// does not (the control plane expects the frontend).
func (c Config) wrongNetwork() finding.List {
	var fs finding.List
	frontend := slices.ContainsFunc(c.NICs, func(n NIC) bool { return n.Role == "frontend" })
	if !frontend {
		return nil
	}
	for _, r := range c.ServiceRanges {
		for _, n := range c.NICs {
			if n.Role != "frontend" && n.Static() && n.Subnet().Overlaps(r) {
				fs = append(fs, finding.Warnf(KeyServiceRanges, r.String(),
					"give the frontend network's ranges, or deploy with the Default option (two NICs) to serve VIPs on the workload network",
					"%s lies in the %s network %s (%s): with the Frontend Network option the VIPs belong on the frontend network", r, n.Role, n.Subnet(), n.Key))
			}
		}
	}
	return fs
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

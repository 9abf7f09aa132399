// Package netconf turns the wizard's network settings into the appliance's
// network: systemd-networkd .network files for the NICs of each role, a
// route table each for the workload and the frontend network, and the
// policy rules that send replies from a VIP, and traffic to the backends,
// through the router of the network they belong to. It is pure: the
// configuration in, file names and bytes out. systemd-networkd applies
// them; first boot writes them and asks networkd to reload.
//
// The reply path is the one picture to keep in mind: a client in another
// subnet reaches a VIP through the frontend router, and the reply must
// leave through the frontend router too, not through the management
// default route (firewalls and uRPF drop the asymmetric flow). So:
//
//   - only the management gateway is a default route of the main table;
//   - the workload and the frontend network each have a table (Table*)
//     holding their link route and a default route via their gateway
//     (static, or the router of the DHCP lease);
//   - rules send traffic from the network's subnet (the NIC's address and
//     the VIPs inside it) and from every other VIP range that network
//     faces to its table, and traffic to each additional workload network
//     (the backends) to the workload table.
//
// Every rule carries a priority of ours (PriorityFirst..PriorityLast) and
// every file a name of ours (FilePrefix), so that what anyip made is told
// apart from what others made, and only that is ever removed.
package netconf

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The route tables of the networks that are not management, and their
// names in /etc/iproute2/rt_tables.d/anyip.conf. The numbers are the old
// appliance's (rtctl_workload 2, rtctl_frontend 3), so an upgraded
// appliance's tables keep their numbers.
const (
	TableWorkload = 2
	TableFrontend = 3
)

// Our rules' priorities, all before the main table's rule (32766). Rules
// to the backends come first, so a backend is always reached through the
// workload router; then the rules from each network's addresses; last,
// for a network whose address comes from DHCP, a rule that lets all
// traffic use that network's link route (networkd keeps a DHCP lease's
// routes in the lease's table only).
const (
	PriorityFirst     = 10100
	PriorityBackends  = 10100
	PriorityWorkload  = 10200
	PriorityFrontend  = 10300
	PriorityLinkRoute = 10400
	PriorityLast      = 10499
)

// FilePrefix starts the name of every networkd file anyip writes; a file
// with another name is never touched.
const FilePrefix = "10-anyip-"

// Roles, in the order the descriptor lists their NICs.
const (
	Management = "management"
	Workload   = "workload"
	Frontend   = "frontend"
)

// File is one file to write: its name in the networkd directory and its
// contents.
type File struct {
	Name string
	Data []byte
}

// NIC is one of the appliance's NICs as configured: its role, and its
// address and gateway (invalid for DHCP and for none).
type NIC struct {
	Role    string
	Addr    netip.Prefix
	Gateway netip.Addr
}

// Static reports whether the NIC has a configured address (not DHCP).
func (n NIC) Static() bool { return n.Addr.IsValid() }

// Subnet is the NIC's network, e.g. 10.0.0.5/24 → 10.0.0.0/24.
func (n NIC) Subnet() netip.Prefix { return n.Addr.Masked() }

// Network is what Render needs of the configuration.
type Network struct {
	NICs        []NIC // management, workload and, with the frontend option, frontend
	Nameservers []netip.Addr
	// Ranges are the VIP ranges (the wizard's and the operator's): each is
	// routed from the table of the network that faces it.
	Ranges []netip.Prefix
	// Backends are the additional workload networks.
	Backends []netip.Prefix
}

// table is the route table of a role; 0 for management (the main table).
func table(role string) int {
	switch role {
	case Workload:
		return TableWorkload
	case Frontend:
		return TableFrontend
	}
	return 0
}

// Facing returns the role whose network faces the VIP range p: the NIC
// whose static subnet holds it; else the frontend when the appliance has
// one, which is where VIPs belong; else the workload network.
func (n Network) Facing(p netip.Prefix) string {
	for _, nic := range n.NICs {
		if nic.Static() && nic.Subnet().Contains(p.Addr()) {
			return nic.Role
		}
	}
	if slices.ContainsFunc(n.NICs, func(nic NIC) bool { return nic.Role == Frontend }) {
		return Frontend
	}
	return Workload
}

// Render returns the .network file of each NIC, in role order.
func Render(n Network) []File {
	out := make([]File, 0, len(n.NICs))
	for _, nic := range n.NICs {
		out = append(out, File{Name: FilePrefix + nic.Role + ".network", Data: n.render(nic)})
	}
	return out
}

const header = `# Written by anyip-firstboot from the vApp properties network.*; rewritten
# at every boot. Change the properties in vCenter, not this file.
`

func (n Network) render(nic NIC) []byte {
	var b strings.Builder
	b.WriteString(header)
	fmt.Fprintf(&b, "\n[Match]\nName=%s\n", nic.Role)
	b.WriteString("\n[Network]\n")
	if nic.Static() {
		fmt.Fprintf(&b, "Address=%s\n", nic.Addr)
	} else {
		b.WriteString("DHCP=ipv4\n")
	}
	if nic.Role == Management {
		if nic.Static() && nic.Gateway.IsValid() {
			fmt.Fprintf(&b, "Gateway=%s\n", nic.Gateway)
		}
		for _, a := range n.Nameservers {
			fmt.Fprintf(&b, "DNS=%s\n", a)
		}
		return []byte(b.String())
	}

	t := table(nic.Role)
	if !nic.Static() {
		// The lease's routes, its default route included, go to the
		// network's table, never to the main one.
		fmt.Fprintf(&b, "\n[DHCPv4]\nRouteTable=%d\nUseDNS=no\n", t)
	} else {
		fmt.Fprintf(&b, "\n[Route]\nDestination=%s\nScope=link\nPreferredSource=%s\nTable=%d\n", nic.Subnet(), nic.Addr.Addr(), t)
		if nic.Gateway.IsValid() {
			fmt.Fprintf(&b, "\n[Route]\nGateway=%s\nTable=%d\n", nic.Gateway, t)
		}
	}
	prio := PriorityWorkload
	if nic.Role == Frontend {
		prio = PriorityFrontend
	}
	// From the subnet: the NIC's own address and every VIP inside it,
	// those an operator adds to the ranges file later included. A range
	// outside the subnet needs a rule of its own.
	if nic.Static() {
		rule(&b, "From", nic.Subnet(), t, prio)
	}
	for _, p := range n.Ranges {
		if n.Facing(p) == nic.Role && !(nic.Static() && nic.Subnet().Contains(p.Addr())) {
			rule(&b, "From", p.Masked(), t, prio)
		}
	}
	if nic.Role == Workload {
		for _, p := range n.Backends {
			rule(&b, "To", p.Masked(), t, PriorityBackends)
		}
	}
	if !nic.Static() {
		fmt.Fprintf(&b, "\n[RoutingPolicyRule]\nTable=%d\nSuppressPrefixLength=0\nPriority=%d\n", t, PriorityLinkRoute)
	}
	return []byte(b.String())
}

func rule(b *strings.Builder, dir string, p netip.Prefix, table, prio int) {
	fmt.Fprintf(b, "\n[RoutingPolicyRule]\n%s=%s\nTable=%d\nPriority=%d\n", dir, p, table, prio)
}

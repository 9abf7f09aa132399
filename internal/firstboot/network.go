package firstboot

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/netconf"
)

// Where the network parts write, under Options.Root.
const (
	NetworkDir   = "etc/systemd/network"
	HostnameFile = "etc/hostname"
	ResolverFile = "etc/resolv.conf"
)

// defaultHostname is the old appliance's, for an empty network.hostname.
const defaultHostname = "haproxy.local"

// nicPart is the part of a role's NIC.
func nicPart(role string) string { return "nic " + role }

// NetworkPlan is what the network parts would write.
type NetworkPlan struct {
	// Files are the .network files of the NICs whose parts are not
	// refused, by name.
	Files map[string][]byte
	// Keep are the names of refused NICs' files, left as they are.
	Keep []string
	// Hostname is the host name to set; empty when refused.
	Hostname string
	// Resolver is the resolv.conf to write; nil when refused.
	Resolver []byte
}

// PlanNetwork renders the network parts: each NIC's .network file, the
// host name and the resolver. ranges are the VIP ranges the rules are
// written for (the wizard's and the ranges file's).
func PlanNetwork(w *Wizard, ranges []netip.Prefix, refused map[string]bool) NetworkPlan {
	p := NetworkPlan{Files: map[string][]byte{}}
	n := netconf.Network{Nameservers: w.Config.Nameservers, Ranges: ranges, Backends: w.Config.AdditionalNetworks}
	for _, nic := range w.Config.NICs {
		n.NICs = append(n.NICs, netconf.NIC{Role: nic.Role, Addr: nic.Addr, Gateway: nic.Gateway})
	}
	for _, f := range netconf.Render(n) {
		role := strings.TrimSuffix(strings.TrimPrefix(f.Name, netconf.FilePrefix), ".network")
		if refused[nicPart(role)] {
			p.Keep = append(p.Keep, f.Name)
			continue
		}
		p.Files[f.Name] = f.Data
	}
	if !refused[PartHostname] {
		p.Hostname = w.Config.Hostname
		if p.Hostname == "" {
			p.Hostname = defaultHostname
		}
	}
	if !refused[PartResolver] {
		p.Resolver = resolvConf(w.Config.Nameservers)
	}
	return p
}

func resolvConf(ns []netip.Addr) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by anyip-firstboot from the vApp property network.nameservers.\n")
	for _, a := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	return b.Bytes()
}

// CheckNICs says which roles have no NIC of their name: first boot
// configures the NICs by role, and the image names them from the PCI slots
// the descriptor pins. The finding shows what the guest has, as the
// environment's ve:EthernetAdapterSection describes it.
func CheckNICs(w *Wizard, links []string) finding.List {
	var fs finding.List
	for _, nic := range w.Config.NICs {
		if slices.Contains(links, nic.Role) {
			continue
		}
		have := "the guest has no NIC of that name"
		if len(links) > 0 {
			have = "the guest's NICs are " + strings.Join(links, ", ")
		}
		var adapters []string
		for _, a := range w.Env.Adapters {
			adapters = append(adapters, fmt.Sprintf("%s on port group %q", a.MAC, a.Network))
		}
		if len(adapters) > 0 {
			have += "; vSphere attached " + strings.Join(adapters, ", ")
		}
		value := ""
		if nic.Static() {
			value = nic.Addr.String()
		}
		fs = append(fs, finding.Warnf(nic.Key, value,
			fmt.Sprintf("attach the %s NIC in the PCI slot the descriptor pins, or name it %q with a .link file", nic.Role, nic.Role),
			"no NIC is named %s (%s); its settings are written and apply when it appears", nic.Role, have))
	}
	return fs
}

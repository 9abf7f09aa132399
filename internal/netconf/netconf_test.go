package netconf

import (
	"net/netip"
	"strings"
	"testing"
)

func nic(role, addr, gw string) NIC {
	n := NIC{Role: role}
	if addr != "" {
		n.Addr = netip.MustParsePrefix(addr)
	}
	if gw != "" {
		n.Gateway = netip.MustParseAddr(gw)
	}
	return n
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func files(t *testing.T, n Network) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, f := range Render(n) {
		if !strings.HasPrefix(string(f.Data), header) {
			t.Errorf("%s lacks the header", f.Name)
		}
		m[f.Name] = strings.TrimPrefix(string(f.Data), header)
	}
	return m
}

// The 3-NIC example: static addresses everywhere; the VIP ranges lie in the
// frontend network, so replies from them use the frontend table; backends
// are reached through the workload table.
func TestRenderThreeStaticNICs(t *testing.T) {
	n := Network{
		NICs: []NIC{
			nic(Management, "10.40.10.5/24", "10.40.10.1"),
			nic(Workload, "10.40.20.5/24", "10.40.20.1"),
			nic(Frontend, "10.40.30.5/24", "10.40.30.1"),
		},
		Nameservers: []netip.Addr{netip.MustParseAddr("10.40.10.2"), netip.MustParseAddr("10.40.10.3")},
		Ranges:      prefixes("10.40.30.64/26", "10.40.30.128/26"),
		Backends:    prefixes("10.41.0.0/16", "10.42.0.0/16"),
	}
	want := map[string]string{
		"10-anyip-management.network": `
[Match]
Name=management

[Network]
Address=10.40.10.5/24
Gateway=10.40.10.1
DNS=10.40.10.2
DNS=10.40.10.3
`,
		"10-anyip-workload.network": `
[Match]
Name=workload

[Network]
Address=10.40.20.5/24

[Route]
Destination=10.40.20.0/24
Scope=link
PreferredSource=10.40.20.5
Table=2

[Route]
Gateway=10.40.20.1
Table=2

[RoutingPolicyRule]
From=10.40.20.0/24
Table=2
Priority=10200

[RoutingPolicyRule]
To=10.41.0.0/16
Table=2
Priority=10100

[RoutingPolicyRule]
To=10.42.0.0/16
Table=2
Priority=10100
`,
		"10-anyip-frontend.network": `
[Match]
Name=frontend

[Network]
Address=10.40.30.5/24

[Route]
Destination=10.40.30.0/24
Scope=link
PreferredSource=10.40.30.5
Table=3

[Route]
Gateway=10.40.30.1
Table=3

[RoutingPolicyRule]
From=10.40.30.0/24
Table=3
Priority=10300
`,
	}
	got := files(t, n)
	if len(got) != len(want) {
		t.Errorf("files %v, want %d", keys(got), len(want))
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got[name], w)
		}
	}
}

// Two NICs: the VIP ranges face the workload network, whose table carries
// the replies from them: the subnet's rule covers a range inside it, a
// range elsewhere has a rule of its own.
func TestRenderTwoNICsRangesFaceWorkload(t *testing.T) {
	n := Network{
		NICs:   []NIC{nic(Management, "10.40.10.5/24", "10.40.10.1"), nic(Workload, "10.40.20.5/24", "10.40.20.1")},
		Ranges: prefixes("10.40.20.128/26", "192.168.77.0/24"),
	}
	got := files(t, n)["10-anyip-workload.network"]
	for _, r := range []string{"10.40.20.0/24", "192.168.77.0/24"} {
		if !strings.Contains(got, "[RoutingPolicyRule]\nFrom="+r+"\nTable=2\nPriority=10200\n") {
			t.Errorf("no rule from %s to the workload table:\n%s", r, got)
		}
	}
	if strings.Contains(got, "From=10.40.20.128/26") {
		t.Errorf("a rule for a range the subnet's rule covers:\n%s", got)
	}
	if m := files(t, n)["10-anyip-management.network"]; strings.Contains(m, "RoutingPolicyRule") || strings.Contains(m, "Table=") {
		t.Errorf("management uses the main table only:\n%s", m)
	}
}

// DHCP on workload and frontend: the lease's routes (its default route
// among them) go to the network's table, never to the main table, and a
// rule lets all traffic use the lease's link route.
func TestRenderDHCP(t *testing.T) {
	n := Network{
		NICs:   []NIC{nic(Management, "", ""), nic(Workload, "", ""), nic(Frontend, "", "")},
		Ranges: prefixes("10.40.30.64/26"),
	}
	got := files(t, n)
	if want := "\n[Match]\nName=management\n\n[Network]\nDHCP=ipv4\n"; got["10-anyip-management.network"] != want {
		t.Errorf("management:\n%s\nwant:\n%s", got["10-anyip-management.network"], want)
	}
	want := `
[Match]
Name=frontend

[Network]
DHCP=ipv4

[DHCPv4]
RouteTable=3
UseDNS=no

[RoutingPolicyRule]
From=10.40.30.64/26
Table=3
Priority=10300

[RoutingPolicyRule]
Table=3
SuppressPrefixLength=0
Priority=10400
`
	if got["10-anyip-frontend.network"] != want {
		t.Errorf("frontend:\n%s\nwant:\n%s", got["10-anyip-frontend.network"], want)
	}
	if w := got["10-anyip-workload.network"]; !strings.Contains(w, "RouteTable=2\n") || strings.Contains(w, "From=") {
		t.Errorf("workload:\n%s", w)
	}
}

func TestFacing(t *testing.T) {
	three := Network{NICs: []NIC{nic(Management, "10.40.10.5/24", ""), nic(Workload, "10.40.20.5/24", ""), nic(Frontend, "", "")}}
	two := Network{NICs: three.NICs[:2]}
	for _, c := range []struct {
		n    Network
		r    string
		want string
	}{
		{three, "10.40.20.128/26", Workload},   // inside the workload subnet
		{three, "10.40.10.128/26", Management}, // inside the management subnet
		{three, "192.168.5.0/24", Frontend},    // nowhere known: VIPs belong on the frontend
		{two, "192.168.5.0/24", Workload},
	} {
		if got := c.n.Facing(netip.MustParsePrefix(c.r)); got != c.want {
			t.Errorf("Facing(%s) = %s, want %s", c.r, got, c.want)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// What Render writes, Parse reads back: addresses, gateways, tables, rules.
func TestParseReadsRender(t *testing.T) {
	n := Network{
		NICs:     []NIC{nic(Management, "10.40.10.5/24", "10.40.10.1"), nic(Workload, "10.40.20.5/24", "10.40.20.1"), nic(Frontend, "", "")},
		Ranges:   prefixes("10.40.30.64/26", "10.40.20.128/26"),
		Backends: prefixes("10.41.0.0/16"),
	}
	var ws []*Written
	for _, f := range Render(n) {
		w, err := Parse(f.Name, f.Data)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	m, wl, fe := ws[0], ws[1], ws[2]
	if m.Name != Management || m.Gateway != netip.MustParseAddr("10.40.10.1") || m.Table != 0 || len(m.Address) != 1 {
		t.Errorf("management: %+v", m)
	}
	if wl.Table != TableWorkload || wl.TableGW != netip.MustParseAddr("10.40.20.1") || len(wl.Backends) != 1 || wl.Backends[0] != netip.MustParsePrefix("10.41.0.0/16") {
		t.Errorf("workload: %+v", wl)
	}
	if !fe.DHCP || fe.Table != TableFrontend || fe.TableGW.IsValid() {
		t.Errorf("frontend: %+v", fe)
	}
	for _, c := range []struct {
		addr  string
		nic   string
		table int
	}{
		{"10.40.30.70", Frontend, TableFrontend},  // a range the frontend faces
		{"10.40.20.130", Workload, TableWorkload}, // inside the workload subnet
		{"10.40.10.9", "", 0},                     // management: the main table
	} {
		if nic, table := Facing(ws, netip.MustParseAddr(c.addr)); nic != c.nic || table != c.table {
			t.Errorf("Facing(%s) = %s %d, want %s %d", c.addr, nic, table, c.nic, c.table)
		}
	}
	if _, err := Parse("x.network", []byte("[Match]\nName=workload\n[RoutingPolicyRule]\nFrom=10.0.0.300/24\n")); err == nil || !strings.Contains(err.Error(), "x.network:4") {
		t.Errorf("a bad value: %v", err)
	}
}

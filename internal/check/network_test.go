package check

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/netconf"
)

type fakeKernel struct {
	links  map[string][]netip.Prefix
	routes map[netip.Addr][2]string // by source: device, gateway
}

func (k fakeKernel) Link(name string) (bool, bool, []netip.Prefix, error) {
	a, ok := k.links[name]
	return ok, ok, a, nil
}

func (k fakeKernel) Route(dst, src netip.Addr) (string, netip.Addr, error) {
	r, ok := k.routes[src]
	if !ok {
		return "", netip.Addr{}, errors.New("no route")
	}
	gw, _ := netip.ParseAddr(r[1])
	return r[0], gw, nil
}

// A NIC on DHCP passes with its lease: its network's table holds the
// lease's routes, and the check says that the lease's own traffic follows
// the main table (its subnet is not known when the rules are written). A
// NIC without its lease fails.
func TestNetworkDHCP(t *testing.T) {
	ws := []*netconf.Written{
		{Name: "management", Address: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/24")}, Gateway: netip.MustParseAddr("10.0.0.1")},
		{Name: "frontend", DHCP: true, Table: netconf.TableFrontend},
	}
	k := fakeKernel{
		links:  map[string][]netip.Prefix{"management": {netip.MustParsePrefix("10.0.0.5/24")}, "frontend": {netip.MustParsePrefix("10.3.0.110/24")}},
		routes: map[netip.Addr][2]string{netip.MustParseAddr("10.0.0.5"): {"management", "10.0.0.1"}, netip.MustParseAddr("10.3.0.110"): {"management", "10.0.0.1"}},
	}
	r := Network(ws, k)
	if r.Status != Pass || !strings.Contains(strings.Join(r.Details, "\n"), "frontend: 10.3.0.110/24 from DHCP; its routes are in table 3") {
		t.Errorf("%s %s\n%s", r.Status, r.Summary, strings.Join(r.Details, "\n"))
	}
	k.links["frontend"] = nil
	if r := Network(ws, k); r.Status != Fail || !strings.Contains(strings.Join(r.Details, "\n"), "frontend: no address from DHCP yet") {
		t.Errorf("without a lease: %s\n%s", r.Status, strings.Join(r.Details, "\n"))
	}
}

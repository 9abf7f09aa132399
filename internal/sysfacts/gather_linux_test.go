package sysfacts

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/netnstest"
	"github.com/anyip/anyip/internal/validate"
)

// TestGather reads the facts of a namespace: the addresses of its NICs
// (not lo's), the gateways of the main table's default routes (each path
// of a multipath one, with its device), and the name servers.
func TestGather(t *testing.T) {
	ns := netnstest.New(t)
	ns.Veth(t, "eth0", "198.51.100.5/24", ns, "eth0-peer", "")
	ns.Veth(t, "eth1", "2001:db8:5::5/64", ns, "eth1-peer", "")
	for _, args := range [][]string{
		{"addr", "add", "10.9.9.9/32", "dev", "lo"},                         // loopback: no fact
		{"addr", "add", "192.0.2.1", "peer", "192.0.2.2/32", "dev", "eth0"}, // point-to-point: the local end
		{"route", "add", "default", "via", "198.51.100.1", "dev", "eth0"},
		{"route", "add", "default", "via", "198.51.100.9", "table", "7"}, // not the main table
		{"route", "add", "203.0.113.0/24", "via", "198.51.100.8"},        // not a default route
		{"-6", "route", "add", "default", "nexthop", "via", "2001:db8:5::1", "dev", "eth1", "nexthop", "via", "2001:db8:5::2", "dev", "eth1"},
	} {
		ns.Run(t, "ip", args...)
	}
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var f validate.Facts
	if err := ns.Do(func() (err error) { f, err = Gather(resolv); return err }); err != nil {
		t.Fatal(err)
	}

	held := func(hs []validate.HeldAddr) []string {
		var out []string
		for _, h := range hs {
			if !h.Prefix.Addr().IsLinkLocalUnicast() { // IPv6 link-local comes and goes with the veths
				out = append(out, h.Iface+" "+h.Prefix.String())
			}
		}
		slices.Sort(out)
		return out
	}
	if got, want := held(f.Addrs), []string{"eth0 192.0.2.1/32", "eth0 198.51.100.5/24", "eth1 2001:db8:5::5/64"}; !slices.Equal(got, want) {
		t.Errorf("Addrs:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	if got, want := held(f.Gateways), []string{"eth0 198.51.100.1/32", "eth1 2001:db8:5::1/128", "eth1 2001:db8:5::2/128"}; !slices.Equal(got, want) {
		t.Errorf("Gateways:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	if want := []netip.Addr{netip.MustParseAddr("192.0.2.53")}; !slices.Equal(f.Nameservers, want) {
		t.Errorf("Nameservers = %v, want %v", f.Nameservers, want)
	}
}

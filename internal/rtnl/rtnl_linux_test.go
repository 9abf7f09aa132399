package rtnl

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/netnstest"
)

// TestRequests asks a namespace's kernel for links and routes.
func TestRequests(t *testing.T) {
	ns := netnstest.New(t)
	ns.Veth(t, "eth0", "198.51.100.5/24", ns, "eth0-peer", "")
	ns.Run(t, "ip", "route", "add", "203.0.113.0/24", "via", "198.51.100.1", "table", "7")
	ns.Run(t, "ip", "rule", "add", "from", "192.0.2.0/24", "lookup", "7")
	ns.Run(t, "ip", "route", "add", "local", "192.0.2.0/24", "dev", "lo") // the source must be ours
	c, err := Dial(netlink.Config{NetNS: int(ns.Handle)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if _, err := LinkByName(c, "eth9"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("LinkByName(eth9): %v, want ENODEV", err)
	}
	eth0, err := LinkByName(c, "eth0")
	if err != nil || eth0.Name != "eth0" || eth0.Flags&unix.IFF_UP == 0 {
		t.Fatalf("LinkByName(eth0) = %+v, %v", eth0, err)
	}
	if l, err := LinkByIndex(c, eth0.Index); err != nil || l.Name != "eth0" {
		t.Errorf("LinkByIndex(%d) = %+v, %v", eth0.Index, l, err)
	}

	dst := netip.MustParseAddr("203.0.113.9")
	if _, err := GetRoute(c, dst, netip.Addr{}); err == nil {
		t.Error("GetRoute without a route in the main table succeeded")
	}
	r, err := GetRoute(c, dst, netip.MustParseAddr("192.0.2.7")) // the rule sends it to table 7
	if err != nil {
		t.Fatal(err)
	}
	if r.OIF != eth0.Index || r.Gateway != netip.MustParseAddr("198.51.100.1") || r.Table != 7 {
		t.Errorf("GetRoute from 192.0.2.7 = %+v, want via 198.51.100.1 on eth0 (index %d) from table 7", r, eth0.Index)
	}
}

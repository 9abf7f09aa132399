package rtnl

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func TestRouteRoundTrip(t *testing.T) {
	a := netip.MustParseAddr
	for _, r := range []Route{
		{Family: unix.AF_INET, DstLen: 24, Table: unix.RT_TABLE_LOCAL, Protocol: 241, Scope: unix.RT_SCOPE_HOST, Type: unix.RTN_LOCAL, Dst: a("10.0.0.0"), OIF: 1},
		{Family: unix.AF_INET6, DstLen: 64, Table: unix.RT_TABLE_MAIN, Protocol: 4, Type: unix.RTN_UNICAST, Dst: a("2001:db8::"), Gateway: a("2001:db8::1"), OIF: 3, Priority: 1024},
		{Family: unix.AF_INET, DstLen: 32, SrcLen: 32, Dst: a("192.0.2.1"), Src: a("198.51.100.7"), Flags: unix.RTM_F_LOOKUP_TABLE},
		{Family: unix.AF_INET, Table: 1000, Type: unix.RTN_UNICAST, Gateway: a("192.0.2.254")},                                                                                 // a table id over 255: RTA_TABLE
		{Family: unix.AF_INET6, DstLen: 48, Table: 70000, Type: unix.RTN_UNICAST, Dst: a("2001:db8:7::"), Src: a("2001:db8:9::1"), Gateway: a("fe80::1"), OIF: 2, Priority: 7}, // every attribute
	} {
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		var got Route
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
	if _, err := (&Route{Family: unix.AF_INET, Dst: a("2001:db8::")}).MarshalBinary(); err == nil {
		t.Error("an IPv6 address in an IPv4 message encoded")
	}
}

// multipath builds an RTA_MULTIPATH value: per path a struct rtnexthop and
// its gateway attribute.
func multipath(family uint8, hops map[uint32]netip.Addr, order ...uint32) []byte {
	var b []byte
	for _, idx := range order {
		ae := netlink.NewAttributeEncoder()
		v, _ := addrBytes(family, hops[idx])
		ae.Bytes(unix.RTA_GATEWAY, v)
		attrs, _ := ae.Encode()
		hop := make([]byte, 8)
		ne.PutUint16(hop, uint16(8+len(attrs)))
		ne.PutUint32(hop[4:], idx)
		b = append(append(b, hop...), attrs...)
	}
	return b
}

func TestRouteNexthops(t *testing.T) {
	gw1, gw2 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	msg := func(mp []byte) []byte {
		b := []byte{unix.AF_INET6, 0, 0, 0, unix.RT_TABLE_MAIN, 3, 0, unix.RTN_UNICAST, 0, 0, 0, 0}
		ae := netlink.NewAttributeEncoder()
		ae.Bytes(unix.RTA_MULTIPATH, mp)
		attrs, _ := ae.Encode()
		return append(b, attrs...)
	}
	var r Route
	if err := r.UnmarshalBinary(msg(multipath(unix.AF_INET6, map[uint32]netip.Addr{4: gw1, 5: gw2}, 4, 5))); err != nil {
		t.Fatal(err)
	}
	if want := []Nexthop{{Index: 4, Gateway: gw1}, {Index: 5, Gateway: gw2}}; !reflect.DeepEqual(r.Nexthops, want) {
		t.Errorf("Nexthops = %+v, want %+v", r.Nexthops, want)
	}
	for name, mp := range map[string][]byte{
		"zero length": make([]byte, 8),
		"too long":    {200, 0, 0, 0, 1, 0, 0, 0},
		"cut short":   {8, 0, 0},
	} {
		if err := r.UnmarshalBinary(msg(mp)); err == nil {
			t.Errorf("%s: decoded %+v", name, r.Nexthops)
		}
	}
}

func TestAddrPrefix(t *testing.T) {
	local, peer := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	enc := func(family uint8, plen uint8, attrs map[uint16]netip.Addr) []byte {
		b := (&Addr{Family: family, PrefixLen: plen, Index: 9}).MarshalBinary()
		ae := netlink.NewAttributeEncoder()
		for _, typ := range []uint16{unix.IFA_ADDRESS, unix.IFA_LOCAL} {
			if v, ok := attrs[typ]; ok {
				raw, _ := addrBytes(family, v)
				ae.Bytes(typ, raw)
			}
		}
		a, _ := ae.Encode()
		return append(b, a...)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want netip.Prefix
	}{
		{"point-to-point: the local end", enc(unix.AF_INET, 32, map[uint16]netip.Addr{unix.IFA_ADDRESS: peer, unix.IFA_LOCAL: local}), netip.MustParsePrefix("192.0.2.1/32")},
		{"IPv6: the address", enc(unix.AF_INET6, 64, map[uint16]netip.Addr{unix.IFA_ADDRESS: netip.MustParseAddr("2001:db8::5")}), netip.MustParsePrefix("2001:db8::5/64")},
		{"no address", enc(unix.AF_INET, 24, nil), netip.Prefix{}},
	} {
		var a Addr
		if err := a.UnmarshalBinary(tc.b); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if a.Index != 9 || a.Prefix() != tc.want {
			t.Errorf("%s: index %d, prefix %v, want 9, %v", tc.name, a.Index, a.Prefix(), tc.want)
		}
	}
}

func TestLinkRoundTrip(t *testing.T) {
	for _, l := range []Link{{Name: "lo", Index: 1, Flags: unix.IFF_UP | unix.IFF_LOOPBACK}, {Index: 7}} {
		var got Link
		if err := got.UnmarshalBinary(l.MarshalBinary()); err != nil {
			t.Fatal(err)
		}
		if got != l {
			t.Errorf("round trip: got %+v, want %+v", got, l)
		}
	}
}

// addrBytes is a as an attribute of a message of the family.
func addrBytes(family uint8, a netip.Addr) ([]byte, error) {
	l, err := addrLen(family, a)
	if err != nil {
		return nil, err
	}
	if l == 4 {
		v := a.As4()
		return v[:], nil
	}
	v := a.As16()
	return v[:], nil
}

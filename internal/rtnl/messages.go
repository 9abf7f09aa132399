package rtnl

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

var errShort = errors.New("netlink: message too short for its header")

// Route is a struct rtmsg with the attributes anyip writes or reads.
type Route struct {
	Family              uint8
	DstLen, SrcLen, Tos uint8
	// Table is RTA_TABLE when present, else the header's byte (which
	// holds table ids up to 255).
	Table                 uint32
	Protocol, Scope, Type uint8
	Flags                 uint32

	Dst, Src, Gateway netip.Addr // RTA_DST, RTA_SRC, RTA_GATEWAY
	OIF               uint32     // RTA_OIF
	// Priority is RTA_PRIORITY, the metric. Written only when not 0: to
	// the kernel an absent metric and 0 are the same (IPv6 makes either
	// 1024 on an add, and matches any metric on a delete).
	Priority uint32
	Nexthops []Nexthop // RTA_MULTIPATH
}

// Nexthop is one path of a multipath route.
type Nexthop struct {
	Index   uint32 // the device
	Gateway netip.Addr
}

// MarshalBinary encodes the route as the payload of a route message. It
// is on the route writer's path for every change, so it packs its few
// attributes with the library's MarshalAttributes, in one allocation.
func (r *Route) MarshalBinary() ([]byte, error) {
	table := uint8(unix.RT_TABLE_COMPAT)
	if r.Table < 256 {
		table = uint8(r.Table)
	}
	var (
		attrs [7]netlink.Attribute
		addrs [3][16]byte
		u32s  [3][4]byte
		n, k  int // attributes, and u32s used
	)
	u32 := func(typ uint16, v uint32) {
		b := u32s[k][:]
		ne.PutUint32(b, v)
		attrs[n], n, k = netlink.Attribute{Type: typ, Data: b}, n+1, k+1
	}
	if r.Table >= 256 {
		u32(unix.RTA_TABLE, r.Table)
	}
	for i, a := range [...]struct {
		typ  uint16
		addr netip.Addr
	}{{unix.RTA_DST, r.Dst}, {unix.RTA_SRC, r.Src}, {unix.RTA_GATEWAY, r.Gateway}} {
		if !a.addr.IsValid() {
			continue
		}
		l, err := addrLen(r.Family, a.addr)
		if err != nil {
			return nil, err
		}
		addrs[i] = a.addr.As16()
		if l == 4 {
			v4 := a.addr.As4()
			copy(addrs[i][:], v4[:])
		}
		attrs[n], n = netlink.Attribute{Type: a.typ, Data: addrs[i][:l]}, n+1
	}
	if r.OIF != 0 {
		u32(unix.RTA_OIF, r.OIF)
	}
	if r.Priority != 0 {
		u32(unix.RTA_PRIORITY, r.Priority)
	}
	ab, err := netlink.MarshalAttributes(attrs[:n])
	if err != nil {
		return nil, err
	}
	b := make([]byte, unix.SizeofRtMsg, unix.SizeofRtMsg+len(ab))
	b[0], b[1], b[2], b[3] = r.Family, r.DstLen, r.SrcLen, r.Tos
	b[4], b[5], b[6], b[7] = table, r.Protocol, r.Scope, r.Type
	ne.PutUint32(b[8:], r.Flags)
	return append(b, ab...), nil
}

// UnmarshalBinary decodes the payload of a route message. An address
// whose size does not fit the family, or a malformed attribute, fails the
// whole message.
func (r *Route) UnmarshalBinary(b []byte) error {
	if len(b) < unix.SizeofRtMsg {
		return errShort
	}
	*r = Route{
		Family: b[0], DstLen: b[1], SrcLen: b[2], Tos: b[3],
		Table: uint32(b[4]), Protocol: b[5], Scope: b[6], Type: b[7],
		Flags: ne.Uint32(b[8:]),
	}
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofRtMsg:])
	if err != nil {
		return err
	}
	for ad.Next() && err == nil {
		switch ad.Type() {
		case unix.RTA_TABLE:
			r.Table = ad.Uint32()
		case unix.RTA_DST:
			err = decodeAddr(r.Family, ad.Bytes(), &r.Dst)
		case unix.RTA_SRC:
			err = decodeAddr(r.Family, ad.Bytes(), &r.Src)
		case unix.RTA_GATEWAY:
			err = decodeAddr(r.Family, ad.Bytes(), &r.Gateway)
		case unix.RTA_OIF:
			r.OIF = ad.Uint32()
		case unix.RTA_PRIORITY:
			r.Priority = ad.Uint32()
		case unix.RTA_MULTIPATH:
			err = r.decodeNexthops(ad.Bytes())
		}
	}
	return cmp.Or(err, ad.Err())
}

// decodeNexthops reads RTA_MULTIPATH: a run of struct rtnexthop (length,
// flags, hops, ifindex), each followed by its own attributes.
func (r *Route) decodeNexthops(b []byte) error {
	const sizeofRtNexthop = 8
	for len(b) > 0 {
		if len(b) < sizeofRtNexthop {
			return errShort
		}
		l := int(ne.Uint16(b))
		if l < sizeofRtNexthop || l > len(b) {
			return fmt.Errorf("netlink: nexthop of %d bytes in %d", l, len(b))
		}
		nh := Nexthop{Index: ne.Uint32(b[4:])}
		ad, err := netlink.NewAttributeDecoder(b[sizeofRtNexthop:l])
		if err != nil {
			return err
		}
		for ad.Next() && err == nil {
			if ad.Type() == unix.RTA_GATEWAY {
				err = decodeAddr(r.Family, ad.Bytes(), &nh.Gateway)
			}
		}
		if err := cmp.Or(err, ad.Err()); err != nil {
			return err
		}
		r.Nexthops = append(r.Nexthops, nh)
		b = b[min(int(align4(uint32(l))), len(b)):]
	}
	return nil
}

// Addr is a struct ifaddrmsg with its addresses.
type Addr struct {
	Family, PrefixLen, Flags, Scope uint8
	Index                           uint32     // the device
	Address, Local                  netip.Addr // IFA_ADDRESS, IFA_LOCAL
}

// Prefix is the address as the device holds it, with its prefix length:
// IFA_LOCAL when present (on a point-to-point link IFA_ADDRESS is the
// peer's), else IFA_ADDRESS. Invalid when the message has neither.
func (a Addr) Prefix() netip.Prefix {
	ip := a.Local
	if !ip.IsValid() {
		ip = a.Address
	}
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(ip, int(a.PrefixLen))
}

// MarshalBinary encodes the header of an address request (a dump: the
// whole struct, which strict checking requires).
func (a *Addr) MarshalBinary() []byte {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0], b[1], b[2], b[3] = a.Family, a.PrefixLen, a.Flags, a.Scope
	ne.PutUint32(b[4:], a.Index)
	return b
}

// UnmarshalBinary decodes the payload of an address message.
func (a *Addr) UnmarshalBinary(b []byte) error {
	if len(b) < unix.SizeofIfAddrmsg {
		return errShort
	}
	*a = Addr{Family: b[0], PrefixLen: b[1], Flags: b[2], Scope: b[3], Index: ne.Uint32(b[4:])}
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofIfAddrmsg:])
	if err != nil {
		return err
	}
	for ad.Next() && err == nil {
		switch ad.Type() {
		case unix.IFA_ADDRESS:
			err = decodeAddr(a.Family, ad.Bytes(), &a.Address)
		case unix.IFA_LOCAL:
			err = decodeAddr(a.Family, ad.Bytes(), &a.Local)
		}
	}
	return cmp.Or(err, ad.Err())
}

// Link is a struct ifinfomsg with the device's name.
type Link struct {
	Type   uint16
	Index  uint32
	Flags  uint32 // IFF_UP, IFF_LOOPBACK, ...
	Change uint32
	Name   string // IFLA_IFNAME
}

// MarshalBinary encodes a link request: by index, or by name.
func (l *Link) MarshalBinary() []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	ne.PutUint16(b[2:], l.Type)
	ne.PutUint32(b[4:], l.Index)
	ne.PutUint32(b[8:], l.Flags)
	ne.PutUint32(b[12:], l.Change)
	if l.Name == "" {
		return b
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, l.Name)
	attrs, _ := ae.Encode() // a string attribute always encodes
	return append(b, attrs...)
}

// UnmarshalBinary decodes the payload of a link message.
func (l *Link) UnmarshalBinary(b []byte) error {
	if len(b) < unix.SizeofIfInfomsg {
		return errShort
	}
	*l = Link{Type: ne.Uint16(b[2:]), Index: ne.Uint32(b[4:]), Flags: ne.Uint32(b[8:]), Change: ne.Uint32(b[12:])}
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofIfInfomsg:])
	if err != nil {
		return err
	}
	for ad.Next() {
		if ad.Type() == unix.IFLA_IFNAME {
			l.Name = ad.String()
		}
	}
	return ad.Err()
}

func familyOf(a netip.Addr) uint8 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// addrLen is the size of a as an attribute of a message of the family.
func addrLen(family uint8, a netip.Addr) (int, error) {
	switch {
	case family == unix.AF_INET && a.Is4():
		return 4, nil
	case family == unix.AF_INET6 && a.Is6():
		return 16, nil
	}
	return 0, fmt.Errorf("netlink: address %v in a message of family %d", a, family)
}

// decodeAddr reads an address of the family's size. Other families than
// IPv4 and IPv6 (MCTP, MPLS) have addresses of their own, left unread.
func decodeAddr(family uint8, b []byte, dst *netip.Addr) error {
	switch {
	case family != unix.AF_INET && family != unix.AF_INET6:
	case family == unix.AF_INET && len(b) == 4:
		*dst = netip.AddrFrom4([4]byte(b))
	case family == unix.AF_INET6 && len(b) == 16:
		*dst = netip.AddrFrom16([16]byte(b))
	default:
		return fmt.Errorf("netlink: address of %d bytes in a message of family %d", len(b), family)
	}
	return nil
}

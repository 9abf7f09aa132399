package check

import (
	"errors"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// SystemKernel asks the running kernel, over netlink.
type SystemKernel struct{}

func (SystemKernel) Link(name string) (exists, up bool, addrs []netip.Prefix, err error) {
	l, err := netlink.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return false, false, nil, nil
	}
	if err != nil {
		return false, false, nil, err
	}
	as, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return true, false, nil, err
	}
	for _, a := range as {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			ones, _ := a.Mask.Size()
			addrs = append(addrs, netip.PrefixFrom(ip.Unmap(), ones))
		}
	}
	return true, l.Attrs().Flags&net.FlagUp != 0, addrs, nil
}

func (SystemKernel) Route(dst, src netip.Addr) (string, netip.Addr, error) {
	var o netlink.RouteGetOptions
	if src.IsValid() {
		o.SrcAddr = src.AsSlice()
	}
	rs, err := netlink.RouteGetWithOptions(dst.AsSlice(), &o)
	if err != nil {
		return "", netip.Addr{}, err
	}
	if len(rs) == 0 {
		return "", netip.Addr{}, errors.New("no route")
	}
	var gw netip.Addr
	if g, ok := netip.AddrFromSlice(rs[0].Gw); ok {
		gw = g.Unmap()
	}
	l, err := netlink.LinkByIndex(rs[0].LinkIndex)
	if err != nil {
		return "", gw, err
	}
	return l.Attrs().Name, gw, nil
}

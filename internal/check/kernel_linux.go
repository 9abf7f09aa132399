package check

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/rtnl"
)

// SystemKernel asks the running kernel, over netlink.
type SystemKernel struct{}

func (SystemKernel) Link(name string) (exists, up bool, addrs []netip.Prefix, err error) {
	c, err := rtnl.Dial(netlink.Config{})
	if err != nil {
		return false, false, nil, fmt.Errorf("open netlink socket: %w", err)
	}
	defer c.Close()
	l, err := rtnl.LinkByName(c, name)
	if errors.Is(err, unix.ENODEV) {
		return false, false, nil, nil
	}
	if err != nil {
		return false, false, nil, fmt.Errorf("find link %s: %w", name, err)
	}
	as, err := rtnl.Addrs(c, unix.AF_UNSPEC)
	if err != nil {
		return true, false, nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range as {
		if p := a.Prefix(); a.Index == l.Index && p.IsValid() {
			addrs = append(addrs, p)
		}
	}
	return true, l.Flags&unix.IFF_UP != 0, addrs, nil
}

func (SystemKernel) Route(dst, src netip.Addr) (string, netip.Addr, error) {
	c, err := rtnl.Dial(netlink.Config{})
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("open netlink socket: %w", err)
	}
	defer c.Close()
	r, err := rtnl.GetRoute(c, dst, src)
	if err != nil {
		return "", netip.Addr{}, err
	}
	l, err := rtnl.LinkByIndex(c, r.OIF)
	if err != nil {
		return "", r.Gateway, err
	}
	return l.Name, r.Gateway, nil
}

// Package sysfacts reads what the running system shows that a VIP range
// must stay clear of: addresses on real interfaces, default gateways and
// the resolver's name servers. It is the I/O edge for package validate.
package sysfacts

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/textfile"
	"github.com/anyip/anyip/internal/validate"
)

// DefaultResolvConf is where the resolver's name servers are read from.
const DefaultResolvConf = "/etc/resolv.conf"

// Gather reads the facts of the current network namespace through netlink
// and the name servers from resolvConf (a missing file means none).
func Gather(resolvConf string) (validate.Facts, error) {
	f := validate.Facts{ResolvConf: resolvConf}
	links, err := netlink.LinkList()
	if err != nil {
		return f, fmt.Errorf("list interfaces: %w", err)
	}
	names := make(map[int]string, len(links))
	loopback := make(map[int]bool)
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		loopback[a.Index] = a.Flags&net.FlagLoopback != 0
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return f, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if loopback[a.LinkIndex] || a.IPNet == nil {
			continue
		}
		p, ok := prefix(a.IPNet)
		if !ok {
			continue
		}
		f.Addrs = append(f.Addrs, validate.HeldAddr{Iface: names[a.LinkIndex], Prefix: p})
	}
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return f, fmt.Errorf("list routes: %w", err)
		}
		for _, r := range routes {
			if !isDefault(r.Dst) {
				continue
			}
			for _, gw := range gateways(r) {
				f.Gateways = append(f.Gateways, validate.HeldAddr{Iface: names[r.LinkIndex], Prefix: netip.PrefixFrom(gw, gw.BitLen())})
			}
		}
	}
	ns, err := ReadNameservers(resolvConf)
	if err != nil {
		return f, err
	}
	f.Nameservers = ns
	return f, nil
}

func gateways(r netlink.Route) []netip.Addr {
	var out []netip.Addr
	if a, ok := netip.AddrFromSlice(r.Gw); ok && r.Gw != nil {
		out = append(out, a.Unmap())
	}
	for _, nh := range r.MultiPath {
		if a, ok := netip.AddrFromSlice(nh.Gw); ok && nh.Gw != nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

func isDefault(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0
}

func prefix(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones), true
}

// MaxResolvConf bounds what is read of a resolv.conf: the resolver reads
// three name servers, and real files are a few hundred bytes.
const MaxResolvConf = 1 << 20

// ReadNameservers returns the nameserver lines of a resolv.conf. A missing
// file means none; systemd-resolved's stub (127.0.0.53) is reported like
// any other and is harmless, since no range may be loopback anyway.
func ReadNameservers(path string) ([]netip.Addr, error) {
	data, err := textfile.ReadFile(path, MaxResolvConf)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseNameservers(data), nil
}

// ParseNameservers reads "nameserver ADDR" lines; zones and junk are skipped.
func ParseNameservers(data []byte) []netip.Addr {
	var out []netip.Addr
	for _, line := range textfile.Lines(data) {
		fields := strings.Fields(string(line))
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		out = append(out, a.WithZone("").Unmap())
	}
	return out
}

// Package sysfacts reads what the running system shows that a VIP range
// must stay clear of: addresses on real interfaces, default gateways and
// the resolver's name servers. It is the I/O edge for package validate.
package sysfacts

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/rtnl"
	"github.com/anyip/anyip/internal/textfile"
	"github.com/anyip/anyip/internal/validate"
)

// DefaultResolvConf is where the resolver's name servers are read from.
const DefaultResolvConf = "/etc/resolv.conf"

// Gather reads the facts of the current network namespace through netlink
// and the name servers from resolvConf (a missing file means none).
func Gather(resolvConf string) (validate.Facts, error) {
	f := validate.Facts{ResolvConf: resolvConf}
	c, err := rtnl.Dial(netlink.Config{})
	if err != nil {
		return f, fmt.Errorf("open netlink socket: %w", err)
	}
	defer c.Close()
	links, err := rtnl.Links(c)
	if err != nil {
		return f, fmt.Errorf("list interfaces: %w", err)
	}
	names := make(map[uint32]string, len(links))
	loopback := make(map[uint32]bool)
	for _, l := range links {
		names[l.Index] = l.Name
		loopback[l.Index] = l.Flags&unix.IFF_LOOPBACK != 0
	}
	addrs, err := rtnl.Addrs(c, unix.AF_UNSPEC)
	if err != nil {
		return f, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if loopback[a.Index] {
			continue
		}
		if p := a.Prefix(); p.IsValid() {
			f.Addrs = append(f.Addrs, validate.HeldAddr{Iface: names[a.Index], Prefix: p})
		}
	}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		routes, err := rtnl.Routes(c, rtnl.Route{Family: family, Table: unix.RT_TABLE_MAIN})
		if err != nil {
			return f, fmt.Errorf("list routes: %w", err)
		}
		for _, r := range routes {
			if r.Table != unix.RT_TABLE_MAIN || r.DstLen != 0 {
				continue // not a default route of the main table
			}
			for _, gw := range gateways(r) {
				f.Gateways = append(f.Gateways, validate.HeldAddr{Iface: names[gw.index], Prefix: netip.PrefixFrom(gw.addr, gw.addr.BitLen())})
			}
		}
	}
	ns, err := ReadNameservers(resolvConf)
	if err != nil {
		return f, err
	}
	f.Nameservers = ns
	if _, err := os.Lstat(resolvConf); errors.Is(err, fs.ErrNotExist) {
		f.ResolvConfMissing = true
	}
	return f, nil
}

type gateway struct {
	addr  netip.Addr
	index uint32 // the device it is reached through
}

// gateways are the route's gateway and those of its paths.
func gateways(r rtnl.Route) []gateway {
	var out []gateway
	if r.Gateway.IsValid() {
		out = append(out, gateway{r.Gateway, r.OIF})
	}
	for _, nh := range r.Nexthops {
		if nh.Gateway.IsValid() {
			out = append(out, gateway{nh.Gateway, nh.Index})
		}
	}
	return out
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

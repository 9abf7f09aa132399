package onlink

import (
	"fmt"
	"net"
	"net/netip"

	"go4.org/netipx"
	"golang.org/x/net/ipv6"

	"github.com/anyip/anyip/internal/ipx"
	"github.com/anyip/anyip/internal/nd"
)

// MaxGroups bounds the solicited-node groups joined on one NIC: enough
// for a /120 (256 addresses, 256 groups), few enough for the kernel's
// per-socket option memory and the switches' snooping tables.
const MaxGroups = 256

// Groups returns the solicited-node groups to join for the ranges: those
// of each range, in order, as long as all of them stay within max. A
// larger range is left to allmulticast alone (a /64 spans 2^24 groups).
func Groups(rs []netip.Prefix, max int) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, r := range newRanges(rs) {
		if !r.Addr().Is6() || r.Addr().BitLen()-r.Bits() > 24 || ipx.Size(r) > uint64(max-len(out)) {
			continue
		}
		for a, last := r.Addr(), netipx.PrefixLastIP(r); ; a = a.Next() {
			if g := nd.SolicitedNode(a); !seen[g] {
				seen[g] = true
				out = append(out, g)
			}
			if a == last {
				break
			}
		}
	}
	return out
}

// joiner holds one NIC's memberships of solicited-node groups through an
// IPv6 socket, so the kernel sends MLD reports for them: a switch that
// snoops MLD then forwards the solicitations for small ranges to the
// appliance. Like allmulticast, the memberships end with the socket.
type joiner struct {
	ifi    *net.Interface
	pc     *ipv6.PacketConn
	c      net.PacketConn
	joined map[netip.Addr]bool
}

func newJoiner(ifi *net.Interface) (*joiner, error) {
	c, err := net.ListenPacket("udp6", "[::]:0")
	if err != nil {
		return nil, fmt.Errorf("open a socket to join multicast groups: %w", err)
	}
	return &joiner{ifi: ifi, pc: ipv6.NewPacketConn(c), c: c, joined: map[netip.Addr]bool{}}, nil
}

// set joins the groups not yet joined and leaves those no longer wanted.
func (j *joiner) set(groups []netip.Addr) error {
	want := make(map[netip.Addr]bool, len(groups))
	var first error
	for _, g := range groups {
		want[g] = true
		if j.joined[g] {
			continue
		}
		if err := j.pc.JoinGroup(j.ifi, &net.UDPAddr{IP: g.AsSlice()}); err != nil {
			if first == nil {
				first = fmt.Errorf("join %s on %s: %w", g, j.ifi.Name, err)
			}
			continue
		}
		j.joined[g] = true
	}
	for g := range j.joined {
		if !want[g] {
			j.pc.LeaveGroup(j.ifi, &net.UDPAddr{IP: g.AsSlice()})
			delete(j.joined, g)
		}
	}
	return first
}

func (j *joiner) Close() error { return j.c.Close() }

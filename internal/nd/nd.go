// Package nd builds and reads the neighbour-discovery frames the appliance
// sends and listens for on a link: ARP (RFC 826, probes and announcements
// as RFC 5227 has them) through mdlayher/arp, and IPv6 neighbour
// solicitations and advertisements (RFC 4861) through mdlayher/ndp. Frames
// travel as the payload of an Ethernet frame over an AF_PACKET datagram
// socket (mdlayher/packet): the kernel adds and strips the Ethernet header,
// and hands over the sender's MAC.
//
// A packet socket rather than an ICMPv6 one, because the solicitations the
// responder must see are sent to solicited-node groups that no socket has
// joined: the IPv6 stack drops them before any ICMPv6 socket, a packet
// socket sees them first.
package nd

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// EtherType values of the two families.
const (
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86dd
)

// Broadcast is the Ethernet broadcast address.
var Broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// AllNodes is ff02::1, where advertisements nobody asked for go.
var AllNodes = netip.MustParseAddr("ff02::1")

// Conn is a link's packet socket as the probes, the responder and the
// announcer use it; tests give them a fake one.
type Conn interface {
	// ReadFrom reads one frame's payload and the sender's MAC.
	ReadFrom(b []byte) (int, net.HardwareAddr, error)
	// WriteTo sends one frame's payload to the MAC.
	WriteTo(b []byte, to net.HardwareAddr) error
	SetReadDeadline(t time.Time) error
	Close() error
}

// Kind says what a neighbour-discovery message is.
type Kind uint8

const (
	Solicitation Kind = iota + 1
	Advertisement
)

// Msg is an IPv6 neighbour solicitation or advertisement as read off the
// link, or to be sent.
type Msg struct {
	Kind     Kind
	Src, Dst netip.Addr // of the IPv6 header
	Target   netip.Addr
	// LinkAddr is the source (solicitation) or target (advertisement)
	// link-layer address option; nil when absent.
	LinkAddr  net.HardwareAddr
	Solicited bool // advertisement flags
	Override  bool
}

// ErrNotND is returned for a packet that is not a well-formed neighbour
// solicitation or advertisement.
var ErrNotND = errors.New("not a neighbour solicitation or advertisement")

// ParseNDP reads an IPv6 packet (the payload of an Ethernet frame). It
// applies the checks of RFC 4861 sections 7.1.1 and 7.1.2 that need no
// state: hop limit 255, code 0, no multicast target, a solicitation from
// :: only to a solicited-node group and without a link-layer option.
func ParseNDP(pkt []byte) (Msg, error) {
	h, err := ipv6.ParseHeader(pkt)
	if err != nil || h.NextHeader != 58 || h.HopLimit != 255 || h.PayloadLen > len(pkt)-ipv6.HeaderLen {
		return Msg{}, ErrNotND
	}
	body := pkt[ipv6.HeaderLen : ipv6.HeaderLen+h.PayloadLen]
	if len(body) < 4 || body[1] != 0 {
		return Msg{}, ErrNotND
	}
	src, _ := netip.AddrFromSlice(h.Src)
	dst, _ := netip.AddrFromSlice(h.Dst)
	m, err := ndp.ParseMessage(body)
	if err != nil {
		return Msg{}, ErrNotND
	}
	out := Msg{Src: src, Dst: dst}
	var opts []ndp.Option
	want := ndp.Source
	switch m := m.(type) {
	case *ndp.NeighborSolicitation:
		out.Kind, out.Target, opts = Solicitation, m.TargetAddress, m.Options
	case *ndp.NeighborAdvertisement:
		out.Kind, out.Target, opts = Advertisement, m.TargetAddress, m.Options
		out.Solicited, out.Override = m.Solicited, m.Override
		want = ndp.Target
		if m.Solicited && dst.IsMulticast() {
			return Msg{}, ErrNotND
		}
	default:
		return Msg{}, ErrNotND
	}
	if out.Target.IsMulticast() {
		return Msg{}, ErrNotND
	}
	for _, o := range opts {
		if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == want {
			out.LinkAddr = l.Addr
		}
	}
	if out.Kind == Solicitation && src.IsUnspecified() {
		sn, err := ndp.SolicitedNodeMulticast(out.Target)
		if err != nil || dst != sn || out.LinkAddr != nil {
			return Msg{}, ErrNotND
		}
	}
	return out, nil
}

// Marshal gives the IPv6 packet of m and the MAC it goes to: dstMAC for a
// unicast destination, the group's MAC (RFC 2464) for a multicast one.
func (m Msg) Marshal(ownMAC, dstMAC net.HardwareAddr) ([]byte, net.HardwareAddr, error) {
	var msg ndp.Message
	switch m.Kind {
	case Solicitation:
		ns := &ndp.NeighborSolicitation{TargetAddress: m.Target}
		if !m.Src.IsUnspecified() {
			ns.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ownMAC}}
		}
		msg = ns
	case Advertisement:
		msg = &ndp.NeighborAdvertisement{
			Solicited: m.Solicited, Override: m.Override, TargetAddress: m.Target,
			Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ownMAC}},
		}
	default:
		return nil, nil, errors.New("nd: nothing to marshal")
	}
	body, err := ndp.MarshalMessageChecksum(msg, m.Src, m.Dst)
	if err != nil {
		return nil, nil, err
	}
	// x/net/ipv6 reads headers but does not write them; forty bytes.
	b := make([]byte, ipv6.HeaderLen, ipv6.HeaderLen+len(body))
	b[0] = 6 << 4
	binary.BigEndian.PutUint16(b[4:], uint16(len(body)))
	b[6], b[7] = 58, 255
	s, d := m.Src.As16(), m.Dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	b = append(b, body...)
	if m.Dst.IsMulticast() {
		dstMAC = net.HardwareAddr{0x33, 0x33, d[12], d[13], d[14], d[15]}
	}
	return b, dstMAC, nil
}

// SolicitedNode is a's solicited-node multicast group (RFC 4291 2.7.1).
func SolicitedNode(a netip.Addr) netip.Addr {
	sn, err := ndp.SolicitedNodeMulticast(a)
	if err != nil {
		return netip.Addr{}
	}
	return sn
}

// DADProbe is the solicitation duplicate address detection sends for
// target (RFC 4862 5.4.2): from ::, to the target's solicited-node group.
// A holder answers to all nodes.
func DADProbe(target netip.Addr) Msg {
	return Msg{Kind: Solicitation, Src: netip.IPv6Unspecified(), Dst: SolicitedNode(target), Target: target}
}

// ARP is an ARP packet over Ethernet for IPv4.
type ARP = arp.Packet

// ParseARP reads an ARP packet (the payload of an Ethernet frame).
func ParseARP(pkt []byte) (*ARP, error) {
	p := new(arp.Packet)
	if err := p.UnmarshalBinary(pkt); err != nil {
		return nil, err
	}
	if p.HardwareType != 1 || p.ProtocolType != 0x0800 {
		return nil, errors.New("nd: not ARP for IPv4 over Ethernet")
	}
	return p, nil
}

// ARPProbe is an RFC 5227 probe for target: sender address 0.0.0.0, so no
// neighbour learns anything from it.
func ARPProbe(mac net.HardwareAddr, target netip.Addr) ([]byte, error) {
	p, err := arp.NewPacket(arp.OperationRequest, mac, netip.IPv4Unspecified(), net.HardwareAddr{0, 0, 0, 0, 0, 0}, target)
	if err != nil {
		return nil, err
	}
	return p.MarshalBinary()
}

// GratuitousARP is an RFC 5227 announcement of addr at mac: a request with
// sender and target address both addr, broadcast. Neighbours that already
// have an entry for addr take the new MAC at once.
func GratuitousARP(mac net.HardwareAddr, addr netip.Addr) ([]byte, error) {
	p, err := arp.NewPacket(arp.OperationRequest, mac, addr, net.HardwareAddr{0, 0, 0, 0, 0, 0}, addr)
	if err != nil {
		return nil, err
	}
	return p.MarshalBinary()
}

// ARPHolder reads an ARP packet as evidence that its sender holds an
// address: any request or reply with a sender address (not a probe).
func ARPHolder(p *ARP) (netip.Addr, net.HardwareAddr, bool) {
	if p.Operation != arp.OperationRequest && p.Operation != arp.OperationReply {
		return netip.Addr{}, nil, false
	}
	if !p.SenderIP.Is4() || p.SenderIP.IsUnspecified() {
		return netip.Addr{}, nil, false
	}
	return p.SenderIP, p.SenderHardwareAddr, true
}

// Package probe asks the network whether anyone else holds an address:
// ARP probes for IPv4 (RFC 5227: sender address 0.0.0.0, so no neighbour
// learns anything from them) and IPv6 neighbour solicitations in the form
// of duplicate address detection (RFC 4862: source ::, to the target's
// solicited-node multicast group). A host that holds the address answers
// with its MAC; silence means free, or at least not on this link.
//
// The probes go out through an AF_PACKET socket bound to one interface,
// paced to a rate, and every address is asked more than once so that one
// lost frame does not pass for a free address. The wait after the last
// probe is bounded, so a /24 takes about a second.
//
// The package also has the TCP connect probe that tells a VIP that is
// served from one that merely answers pings.
package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults for Options.
const (
	DefaultRate   = 2000 // probes a second
	DefaultRounds = 2    // times each address is asked
	DefaultWait   = time.Second
)

// Options tunes a probe run; zero values take the defaults.
type Options struct {
	// Rate bounds the probes sent per second on the link.
	Rate int
	// Rounds is how many times each address is asked.
	Rounds int
	// Wait is how long to listen after the last probe for late answers.
	Wait time.Duration
}

func (o Options) withDefaults() Options {
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Rounds <= 0 {
		o.Rounds = DefaultRounds
	}
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	return o
}

// Reply is an address some other host answered for.
type Reply struct {
	Addr  netip.Addr
	MACs  []net.HardwareAddr // every distinct MAC that answered, in order seen
	Iface string
}

func (r Reply) String() string {
	macs := make([]string, len(r.MACs))
	for i, m := range r.MACs {
		macs[i] = m.String()
	}
	return fmt.Sprintf("%s is at %s (on %s)", r.Addr, joinComma(macs), r.Iface)
}

func joinComma(ss []string) string {
	var b bytes.Buffer
	for i, s := range ss {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
	}
	return b.String()
}

// ARP sends RFC 5227 ARP probes for the IPv4 targets out of the interface
// and returns the addresses other hosts answered for, in target order.
// It needs CAP_NET_RAW.
func ARP(ctx context.Context, iface string, targets []netip.Addr, o Options) ([]Reply, error) {
	for _, t := range targets {
		if !t.Is4() {
			return nil, fmt.Errorf("probe: ARP is for IPv4 addresses, not %s", t)
		}
	}
	return run(ctx, iface, targets, o, arpProto{})
}

// NDP sends neighbour solicitations in the form of duplicate address
// detection for the IPv6 targets out of the interface and returns the
// addresses other hosts answered for, in target order. It needs
// CAP_NET_RAW.
func NDP(ctx context.Context, iface string, targets []netip.Addr, o Options) ([]Reply, error) {
	for _, t := range targets {
		if !t.Is6() || t.Is4In6() {
			return nil, fmt.Errorf("probe: neighbour solicitation is for IPv6 addresses, not %s", t)
		}
	}
	return run(ctx, iface, targets, o, ndpProto{})
}

// TCP connects to addr and closes the connection: it tells whether
// something accepts connections there, within timeout.
func TCP(ctx context.Context, addr netip.AddrPort, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return err
	}
	return c.Close()
}

// proto is what differs between ARP and neighbour discovery.
type proto interface {
	ethType() uint16
	// frame returns the payload (after the Ethernet header) of a probe
	// for target, and the destination MAC.
	frame(mac net.HardwareAddr, target netip.Addr) ([]byte, net.HardwareAddr)
	// answer reads a received payload: the address it shows held and by
	// which MAC (src is the frame's source MAC).
	answer(pkt []byte, src net.HardwareAddr) (netip.Addr, net.HardwareAddr, bool)
	filter() []unix.SockFilter
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func run(ctx context.Context, ifname string, targets []netip.Addr, o Options, p proto) ([]Reply, error) {
	o = o.withDefaults()
	if len(targets) == 0 {
		return nil, nil
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("probe: interface %s: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 || ifi.Flags&net.FlagLoopback != 0 {
		return nil, fmt.Errorf("probe: interface %s has no Ethernet address; probes need an Ethernet interface", ifname)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("probe: interface %s is down", ifname)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, int(htons(p.ethType())))
	if err != nil {
		return nil, fmt.Errorf("probe: open packet socket (needs CAP_NET_RAW): %w", err)
	}
	defer unix.Close(fd)
	if f := p.filter(); f != nil {
		prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return nil, fmt.Errorf("probe: attach packet filter: %w", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(p.ethType()), Ifindex: ifi.Index}); err != nil {
		return nil, fmt.Errorf("probe: bind packet socket to %s: %w", ifname, err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)

	want := make(map[netip.Addr]int, len(targets)) // address -> index in targets
	for i, t := range targets {
		if _, dup := want[t]; !dup {
			want[t] = i
		}
	}
	found := make(map[netip.Addr]*Reply)
	buf := make([]byte, 2048)
	recv := func() error {
		for {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("probe: receive on %s: %w", ifname, err)
			}
			ll, ok := from.(*unix.SockaddrLinklayer)
			if !ok || ll.Ifindex != ifi.Index || ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			src := net.HardwareAddr(slices.Clone(ll.Addr[:min(int(ll.Halen), len(ll.Addr))]))
			a, mac, ok := p.answer(buf[:n], src)
			if !ok || bytes.Equal(mac, ifi.HardwareAddr) {
				continue
			}
			if _, ok := want[a]; !ok {
				continue
			}
			r := found[a]
			if r == nil {
				r = &Reply{Addr: a, Iface: ifname}
				found[a] = r
			}
			if !slices.ContainsFunc(r.MACs, func(m net.HardwareAddr) bool { return bytes.Equal(m, mac) }) {
				r.MACs = append(r.MACs, mac)
			}
		}
	}

	interval := time.Second / time.Duration(o.Rate)
	total := len(targets) * o.Rounds
	start := time.Now()
	sent := 0
	var lastSend time.Time
	for {
		if err := ctx.Err(); err != nil {
			return collect(targets, found), err
		}
		now := time.Now()
		// Send what is due (a few at most, if we fell behind), skipping
		// addresses already answered for.
		for burst := 0; sent < total && burst < 16 && !now.Before(start.Add(interval*time.Duration(sent))); burst++ {
			t := targets[sent%len(targets)]
			sent++
			if found[t] != nil {
				continue
			}
			payload, dst := p.frame(ifi.HardwareAddr, t)
			to := &unix.SockaddrLinklayer{Protocol: htons(p.ethType()), Ifindex: ifi.Index, Halen: 6}
			copy(to.Addr[:], dst)
			if err := unix.Sendto(fd, payload, 0, to); err != nil {
				if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
					// The device queue is full: ask again for this one
					// a moment later.
					sent--
					start = start.Add(time.Millisecond)
					break
				}
				return collect(targets, found), fmt.Errorf("probe: send on %s: %w", ifname, err)
			}
			lastSend = time.Now()
		}
		var deadline time.Time
		if sent < total && len(found) < len(want) {
			deadline = start.Add(interval * time.Duration(sent))
		} else {
			if lastSend.IsZero() {
				lastSend = now
			}
			deadline = lastSend.Add(o.Wait)
			if len(found) == len(want) || !now.Before(deadline) {
				if err := recv(); err != nil {
					return collect(targets, found), err
				}
				return collect(targets, found), nil
			}
		}
		wait := max(time.Until(deadline), 0)
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, max(time.Until(dl), 0))
		}
		ts := unix.NsecToTimespec(wait.Nanoseconds())
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Ppoll(fds, &ts, nil); err != nil && !errors.Is(err, unix.EINTR) {
			return collect(targets, found), fmt.Errorf("probe: poll: %w", err)
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			if err := recv(); err != nil {
				return collect(targets, found), err
			}
		}
	}
}

// collect returns the replies in the order of the targets.
func collect(targets []netip.Addr, found map[netip.Addr]*Reply) []Reply {
	var out []Reply
	for _, t := range targets {
		if r := found[t]; r != nil {
			out = append(out, *r)
			delete(found, t) // a target listed twice is reported once
		}
	}
	return out
}

// arpProto: RFC 826 over Ethernet, probes as RFC 5227 section 2.1.1.
type arpProto struct{}

const (
	ethPARP  = 0x0806
	ethPIPv6 = 0x86dd
)

func (arpProto) ethType() uint16 { return ethPARP }

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func (arpProto) frame(mac net.HardwareAddr, target netip.Addr) ([]byte, net.HardwareAddr) {
	b := make([]byte, 28)
	binary.BigEndian.PutUint16(b[0:], 1)      // hardware: Ethernet
	binary.BigEndian.PutUint16(b[2:], 0x0800) // protocol: IPv4
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], 1) // request
	copy(b[8:14], mac)
	// sender protocol address 0.0.0.0 (b[14:18]); target hardware
	// address zero (b[18:24]).
	t := target.As4()
	copy(b[24:28], t[:])
	return b, broadcast
}

// answer: any ARP packet (reply, or a request or announcement) whose
// sender address is one we look for shows that address held by the
// sender MAC.
func (arpProto) answer(pkt []byte, _ net.HardwareAddr) (netip.Addr, net.HardwareAddr, bool) {
	if len(pkt) < 28 || binary.BigEndian.Uint16(pkt[0:]) != 1 || binary.BigEndian.Uint16(pkt[2:]) != 0x0800 || pkt[4] != 6 || pkt[5] != 4 {
		return netip.Addr{}, nil, false
	}
	if op := binary.BigEndian.Uint16(pkt[6:]); op != 1 && op != 2 {
		return netip.Addr{}, nil, false
	}
	spa := netip.AddrFrom4([4]byte(pkt[14:18]))
	if spa.IsUnspecified() {
		return netip.Addr{}, nil, false // someone else's probe
	}
	return spa, net.HardwareAddr(slices.Clone(pkt[8:14])), true
}

func (arpProto) filter() []unix.SockFilter { return nil }

// ndpProto: RFC 4861 neighbour solicitation with the unspecified source
// of duplicate address detection (RFC 4862 section 5.4.2): a holder
// answers with a neighbour advertisement to all nodes.
type ndpProto struct{}

const (
	icmp6NS = 135
	icmp6NA = 136
)

func (ndpProto) ethType() uint16 { return ethPIPv6 }

// SolicitedNode returns the solicited-node multicast group of a (RFC 4291
// section 2.7.1): ff02::1:ffXX:XXXX with a's last three bytes.
func SolicitedNode(a netip.Addr) netip.Addr {
	t := a.As16()
	b := [16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]}
	return netip.AddrFrom16(b)
}

func (ndpProto) frame(_ net.HardwareAddr, target netip.Addr) ([]byte, net.HardwareAddr) {
	dst := SolicitedNode(target)
	b := make([]byte, 40+24)
	b[0] = 0x60                           // version 6
	binary.BigEndian.PutUint16(b[4:], 24) // payload length
	b[6] = 58                             // next header: ICMPv6
	b[7] = 255                            // hop limit, as RFC 4861 demands
	d := dst.As16()                       // source :: (b[8:24])
	copy(b[24:40], d[:])
	icmp := b[40:]
	icmp[0] = icmp6NS
	t := target.As16()
	copy(icmp[8:24], t[:])
	binary.BigEndian.PutUint16(icmp[2:], checksum6(netip.IPv6Unspecified(), dst, icmp))
	mac := net.HardwareAddr{0x33, 0x33, d[12], d[13], d[14], d[15]}
	return b, mac
}

// answer: a neighbour advertisement for a target we look for, or a
// solicitation sent from one (its holder resolving someone else).
func (ndpProto) answer(pkt []byte, src net.HardwareAddr) (netip.Addr, net.HardwareAddr, bool) {
	if len(pkt) < 40+24 || pkt[0]>>4 != 6 || pkt[6] != 58 || pkt[7] != 255 {
		return netip.Addr{}, nil, false
	}
	plen := int(binary.BigEndian.Uint16(pkt[4:]))
	if plen < 24 || 40+plen > len(pkt) {
		return netip.Addr{}, nil, false
	}
	icmp := pkt[40 : 40+plen]
	s, d := netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
	if icmp[1] != 0 || checksum6(s, d, icmp) != 0 {
		return netip.Addr{}, nil, false
	}
	var held netip.Addr
	var optType byte
	switch icmp[0] {
	case icmp6NA:
		held, optType = netip.AddrFrom16([16]byte(icmp[8:24])), 2 // target link-layer address
	case icmp6NS:
		if s.IsUnspecified() {
			return netip.Addr{}, nil, false // someone's DAD
		}
		held, optType = s, 1 // source link-layer address
	default:
		return netip.Addr{}, nil, false
	}
	mac := src
	for opts := icmp[24:]; len(opts) >= 8; {
		l := int(opts[1]) * 8
		if l == 0 || l > len(opts) {
			break
		}
		if opts[0] == optType && l >= 8 {
			mac = net.HardwareAddr(slices.Clone(opts[2:8]))
			break
		}
		opts = opts[l:]
	}
	return held, mac, true
}

// filter passes ICMPv6 neighbour solicitations and advertisements (no
// extension headers, as NDP packets have none) so that a busy link's
// other IPv6 traffic never reaches us.
func (ndpProto) filter() []unix.SockFilter {
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 6},                 // 0: next header
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 4, K: 58}, // 1: ICMPv6?
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 40},                // 2: ICMPv6 type
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 0, K: icmp6NS},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: icmp6NA},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffff}, // 5: accept
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},      // 6: drop
	}
}

// checksum6 is the ICMPv6 checksum over the pseudo-header and msg (whose
// checksum field is either zero, when computing, or filled, when
// verifying: then the result is zero).
func checksum6(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:], uint32(len(msg)))
	l[7] = 58
	add(l[:])
	add(msg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

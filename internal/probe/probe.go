// Package probe asks the network whether anyone else holds an address:
// ARP probes for IPv4 (RFC 5227: sender address 0.0.0.0, so no neighbour
// learns anything from them) and IPv6 neighbour solicitations in the form
// of duplicate address detection (RFC 4862: source ::, to the target's
// solicited-node multicast group). A host that holds the address answers
// with its MAC; silence means free, or at least not on this link.
//
// The probes go out through a packet socket bound to one interface (the
// frames and the socket are package nd's, on mdlayher/arp, mdlayher/ndp
// and mdlayher/packet), paced to a rate, and every address is asked more
// than once so that one lost frame does not pass for a free address. The
// wait after the last probe is bounded, so a /24 takes about a second.
//
// The package also has the TCP connect probe that tells a VIP that is
// served from one that merely answers pings.
package probe

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/anyip/anyip/internal/nd"
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
	return open(ctx, iface, targets, o, arpProto{})
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
	return open(ctx, iface, targets, o, ndpProto{})
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
	listen(ifi *net.Interface) (nd.Conn, error)
	// frame returns the payload (after the Ethernet header) of a probe
	// for target, and the destination MAC.
	frame(mac net.HardwareAddr, target netip.Addr) ([]byte, net.HardwareAddr, error)
	// answer reads a received payload: the address it shows held and by
	// which MAC (src is the frame's source MAC).
	answer(pkt []byte, src net.HardwareAddr) (netip.Addr, net.HardwareAddr, bool)
}

func open(ctx context.Context, ifname string, targets []netip.Addr, o Options, p proto) ([]Reply, error) {
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
	c, err := p.listen(ifi)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	defer c.Close()
	return run(ctx, c, ifname, ifi.HardwareAddr, targets, o, p)
}

// received is one frame off the link.
type received struct {
	pkt []byte
	src net.HardwareAddr
	err error
}

// run probes the targets over c from mac: paced to o.Rate, o.Rounds
// times each (an address already answered for is not asked again), then
// listens o.Wait after the last probe. It stops early when every target
// has been answered for.
func run(ctx context.Context, c nd.Conn, ifname string, mac net.HardwareAddr, targets []netip.Addr, o Options, p proto) ([]Reply, error) {
	o = o.withDefaults()
	if len(targets) == 0 {
		return nil, nil
	}
	want := make(map[netip.Addr]bool, len(targets))
	for _, t := range targets {
		want[t] = true
	}
	// The reader hands frames over on a channel, so the pacing below
	// needs one select and no second clock.
	frames := make(chan received, 256)
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 2048)
		for {
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, src, err := c.ReadFrom(buf)
			if err != nil && nd.IsTimeout(err) {
				err = nil
				n = 0
			}
			if n == 0 && err == nil {
				select {
				case <-stop:
					return
				default:
					continue
				}
			}
			select {
			case frames <- received{bytes.Clone(buf[:n]), src, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-readerDone }()

	found := make(map[netip.Addr]*Reply)
	take := func(r received) error {
		if r.err != nil {
			return fmt.Errorf("probe: receive on %s: %w", ifname, r.err)
		}
		a, hw, ok := p.answer(r.pkt, r.src)
		if !ok || bytes.Equal(hw, mac) || !want[a] {
			return nil
		}
		rep := found[a]
		if rep == nil {
			rep = &Reply{Addr: a, Iface: ifname}
			found[a] = rep
		}
		if !slices.ContainsFunc(rep.MACs, func(m net.HardwareAddr) bool { return bytes.Equal(m, hw) }) {
			rep.MACs = append(rep.MACs, slices.Clone(hw))
		}
		return nil
	}

	interval := time.Second / time.Duration(o.Rate)
	total := len(targets) * o.Rounds
	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
	var lastSend time.Time
	for sent := 0; ; {
		if err := ctx.Err(); err != nil {
			return collect(targets, found), err
		}
		if sent >= total || len(found) == len(want) {
			break
		}
		// Send what is due (a few at most, if we fell behind), skipping
		// addresses already answered for.
		for burst := 0; sent < total && burst < 16 && !time.Now().Before(start.Add(interval*time.Duration(sent))); burst++ {
			t := targets[sent%len(targets)]
			sent++
			if found[t] != nil {
				continue
			}
			b, dst, err := p.frame(mac, t)
			if err != nil {
				return collect(targets, found), fmt.Errorf("probe: %s: %w", t, err)
			}
			if err := c.WriteTo(b, dst); err != nil {
				if isFull(err) {
					// The device queue is full: ask again for this
					// one a moment later.
					sent--
					start = start.Add(time.Millisecond)
					break
				}
				return collect(targets, found), fmt.Errorf("probe: send on %s: %w", ifname, err)
			}
			lastSend = time.Now()
		}
		timer.Reset(max(time.Until(start.Add(interval*time.Duration(sent))), 0))
		select {
		case <-ctx.Done():
			return collect(targets, found), ctx.Err()
		case r := <-frames:
			if err := take(r); err != nil {
				return collect(targets, found), err
			}
		case <-timer.C:
		}
	}
	if lastSend.IsZero() {
		lastSend = time.Now()
	}
	timer.Reset(max(time.Until(lastSend.Add(o.Wait)), 0))
	for len(found) < len(want) {
		select {
		case <-ctx.Done():
			return collect(targets, found), ctx.Err()
		case r := <-frames:
			if err := take(r); err != nil {
				return collect(targets, found), err
			}
		case <-timer.C:
			return collect(targets, found), nil
		}
	}
	return collect(targets, found), nil
}

func isFull(err error) bool {
	s := err.Error()
	return bytes.Contains([]byte(s), []byte("no buffer space")) || bytes.Contains([]byte(s), []byte("resource temporarily unavailable"))
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

// arpProto: RFC 5227 probes (sender 0.0.0.0); any ARP packet with a
// sender address we look for shows it held.
type arpProto struct{}

func (arpProto) listen(ifi *net.Interface) (nd.Conn, error) { return nd.ListenARP(ifi) }

func (arpProto) frame(mac net.HardwareAddr, target netip.Addr) ([]byte, net.HardwareAddr, error) {
	b, err := nd.ARPProbe(mac, target)
	return b, nd.Broadcast, err
}

func (arpProto) answer(pkt []byte, _ net.HardwareAddr) (netip.Addr, net.HardwareAddr, bool) {
	p, err := nd.ParseARP(pkt)
	if err != nil {
		return netip.Addr{}, nil, false
	}
	return nd.ARPHolder(p)
}

// ndpProto: solicitations in the form of duplicate address detection
// (RFC 4862 5.4.2): a holder answers to all nodes, which every interface
// receives.
type ndpProto struct{}

func (ndpProto) listen(ifi *net.Interface) (nd.Conn, error) { return nd.ListenNDP(ifi, false) }

func (ndpProto) frame(mac net.HardwareAddr, target netip.Addr) ([]byte, net.HardwareAddr, error) {
	return nd.DADProbe(target).Marshal(mac, nil)
}

// answer: a neighbour advertisement for a target we look for, or a
// solicitation sent from one (its holder resolving someone else).
func (ndpProto) answer(pkt []byte, src net.HardwareAddr) (netip.Addr, net.HardwareAddr, bool) {
	m, err := nd.ParseNDP(pkt)
	if err != nil {
		return netip.Addr{}, nil, false
	}
	held := m.Target
	if m.Kind == nd.Solicitation {
		if m.Src.IsUnspecified() {
			return netip.Addr{}, nil, false // someone's DAD
		}
		held = m.Src
	}
	mac := m.LinkAddr
	if mac == nil {
		mac = src
	}
	return held, mac, true
}

// SolicitedNode returns the solicited-node multicast group of a (RFC 4291
// section 2.7.1).
func SolicitedNode(a netip.Addr) netip.Addr { return nd.SolicitedNode(a) }

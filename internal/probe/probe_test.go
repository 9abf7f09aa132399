package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/nd"
	"github.com/anyip/anyip/internal/netnstest"
)

var (
	ourMAC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x05}
	theirMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
)

func TestARPFrame(t *testing.T) {
	b, dst, err := arpProto{}.frame(ourMAC, netip.MustParseAddr("10.20.0.150"))
	if err != nil {
		t.Fatal(err)
	}
	want := "0001" + "0800" + "06" + "04" + "0001" + // Ethernet/IPv4 request
		"020000000005" + "00000000" + // sender: our MAC, 0.0.0.0 (RFC 5227)
		"000000000000" + "0a140096" // target: unknown MAC, 10.20.0.150
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("probe\n got %s\nwant %s", got, want)
	}
	if !bytes.Equal(dst, nd.Broadcast) {
		t.Errorf("destination %v, want broadcast", dst)
	}
}

func arpPacket(op uint16, sha net.HardwareAddr, spa string, tpa string) []byte {
	b := make([]byte, 28)
	binary.BigEndian.PutUint16(b[0:], 1)
	binary.BigEndian.PutUint16(b[2:], 0x0800)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], op)
	copy(b[8:], sha)
	s, d := netip.MustParseAddr(spa).As4(), netip.MustParseAddr(tpa).As4()
	copy(b[14:], s[:])
	copy(b[24:], d[:])
	return b
}

func TestARPAnswer(t *testing.T) {
	for _, c := range []struct {
		name string
		pkt  []byte
		want string // "addr mac" or "" for no answer
	}{
		{"reply to a probe", arpPacket(2, theirMAC, "10.20.0.150", "0.0.0.0"), "10.20.0.150 02:00:00:00:00:99"},
		{"request from the holder", arpPacket(1, theirMAC, "10.20.0.150", "10.20.0.1"), "10.20.0.150 02:00:00:00:00:99"},
		{"someone else's probe", arpPacket(1, theirMAC, "0.0.0.0", "10.20.0.150"), ""},
		{"other opcode", arpPacket(3, theirMAC, "10.20.0.150", "0.0.0.0"), ""},
		{"short", arpPacket(2, theirMAC, "10.20.0.150", "0.0.0.0")[:27], ""},
	} {
		a, mac, ok := arpProto{}.answer(c.pkt, nil)
		got := ""
		if ok {
			got = a.String() + " " + mac.String()
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestSolicitedNode(t *testing.T) {
	if got := SolicitedNode(netip.MustParseAddr("fd00:20::1:2345:6789")); got != netip.MustParseAddr("ff02::1:ff45:6789") {
		t.Errorf("SolicitedNode = %s", got)
	}
}

func TestNSFrame(t *testing.T) {
	target := netip.MustParseAddr("fd00:20::150")
	b, dst, err := ndpProto{}.frame(ourMAC, target)
	if err != nil {
		t.Fatal(err)
	}
	if dst.String() != "33:33:ff:00:01:50" {
		t.Errorf("destination MAC %s", dst)
	}
	// Duplicate address detection's form: no link-layer option.
	if len(b) != 64 || b[0] != 0x60 || b[6] != 58 || b[7] != 255 {
		t.Fatalf("IPv6 header % x", b[:40])
	}
	src, d := netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
	if !src.IsUnspecified() || d != netip.MustParseAddr("ff02::1:ff00:150") {
		t.Errorf("source %s destination %s, want :: and ff02::1:ff00:150", src, d)
	}
	icmp := b[40:]
	if icmp[0] != 135 || netip.AddrFrom16([16]byte(icmp[8:24])) != target {
		t.Errorf("ICMPv6 % x", icmp)
	}
	if binary.BigEndian.Uint16(icmp[2:]) == 0 {
		t.Error("checksum missing")
	}
}

// na builds a neighbour advertisement from src for target, with a target
// link-layer address option when mac is not nil.
func na(src, target string, mac net.HardwareAddr) []byte {
	m := nd.Msg{Kind: nd.Advertisement, Src: netip.MustParseAddr(src), Dst: nd.AllNodes, Target: netip.MustParseAddr(target), Override: true}
	own := mac
	if own == nil {
		own = ourMAC
	}
	b, _, err := m.Marshal(own, nil)
	if err != nil {
		panic(err)
	}
	if mac == nil { // drop the option
		b = b[:len(b)-8]
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	}
	return b
}

func TestNDPAnswer(t *testing.T) {
	frameMAC := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x77}
	good := na("fe80::99", "fd00:20::150", theirMAC)
	lowHop := bytes.Clone(good)
	lowHop[7] = 64
	for _, c := range []struct {
		name string
		pkt  []byte
		want string
	}{
		{"advertisement with option", good, "fd00:20::150 02:00:00:00:00:99"},
		{"advertisement without option", na("fe80::99", "fd00:20::150", nil), "fd00:20::150 02:00:00:00:00:77"},
		{"solicitation from the holder", func() []byte {
			b, _, _ := nd.Msg{Kind: nd.Solicitation, Src: netip.MustParseAddr("fd00:20::150"), Dst: nd.SolicitedNode(netip.MustParseAddr("fd00:20::1")), Target: netip.MustParseAddr("fd00:20::1")}.Marshal(theirMAC, nil)
			return b
		}(), "fd00:20::150 02:00:00:00:00:99"},
		{"someone's duplicate address detection", func() []byte {
			b, _, _ := nd.DADProbe(netip.MustParseAddr("fd00:20::150")).Marshal(theirMAC, nil)
			return b
		}(), ""},
		{"hop limit below 255", lowHop, ""},
		{"truncated", good[:60], ""},
	} {
		a, mac, ok := ndpProto{}.answer(c.pkt, frameMAC)
		got := ""
		if ok {
			got = a.String() + " " + mac.String()
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// fakeLink is a link without root: it records the probes written, and a
// holder answers those for its address.
type fakeLink struct {
	mu      sync.Mutex
	probes  map[netip.Addr]int
	holder  netip.Addr
	replies chan []byte
	dl      time.Time
	closed  chan struct{}
}

func (f *fakeLink) WriteTo(b []byte, to net.HardwareAddr) error {
	p, err := nd.ParseARP(b)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.probes[p.TargetIP]++
	f.mu.Unlock()
	if p.TargetIP == f.holder {
		r, _ := nd.GratuitousARP(theirMAC, f.holder)
		f.replies <- r
	}
	return nil
}

func (f *fakeLink) ReadFrom(b []byte) (int, net.HardwareAddr, error) {
	f.mu.Lock()
	dl := f.dl
	f.mu.Unlock()
	select {
	case r := <-f.replies:
		return copy(b, r), theirMAC, nil
	case <-time.After(time.Until(dl)):
		return 0, nil, os.ErrDeadlineExceeded
	case <-f.closed:
		return 0, nil, errors.New("closed")
	}
}

func (f *fakeLink) SetReadDeadline(t time.Time) error {
	f.mu.Lock()
	f.dl = t
	f.mu.Unlock()
	return nil
}

func (f *fakeLink) Close() error { close(f.closed); return nil }

// The pacing over a fake link: every free address is asked Rounds
// times, the held one no more once answered, and the answer names it
// with the holder's MAC.
func TestRunOverFakeLink(t *testing.T) {
	targets := addrs("10.20.0.148", 4)
	f := &fakeLink{probes: map[netip.Addr]int{}, holder: netip.MustParseAddr("10.20.0.150"), replies: make(chan []byte, 8), closed: make(chan struct{})}
	defer f.Close()
	got, err := run(context.Background(), f, "eth0", ourMAC, targets, Options{Rate: 1000, Rounds: 3, Wait: 50 * time.Millisecond}, arpProto{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Addr != f.holder || len(got[0].MACs) != 1 || !bytes.Equal(got[0].MACs[0], theirMAC) {
		t.Fatalf("replies %v, want %s at %s", got, f.holder, theirMAC)
	}
	f.mu.Lock()
	for _, a := range targets {
		n := f.probes[a]
		if a == f.holder {
			if n < 1 || n > 3 {
				t.Errorf("%s (held) probed %d times", a, n)
			}
			continue
		}
		if n != 3 {
			t.Errorf("%s probed %d times, want 3 rounds", a, n)
		}
	}
	f.mu.Unlock()
	// A cancelled context ends the run with its error, before it sends
	// anything.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.mu.Lock()
	clear(f.probes)
	f.mu.Unlock()
	if _, err := run(ctx, f, "eth0", ourMAC, targets, Options{Rate: 1e6}, arpProto{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	f.mu.Lock()
	if len(f.probes) != 0 {
		t.Errorf("a cancelled run sent probes: %v", f.probes)
	}
	f.mu.Unlock()
}

func TestFamilies(t *testing.T) {
	ctx := context.Background()
	if _, err := ARP(ctx, "lo", []netip.Addr{netip.MustParseAddr("fd00::1")}, Options{}); err == nil || !strings.Contains(err.Error(), "IPv4") {
		t.Errorf("ARP of an IPv6 address: %v", err)
	}
	if _, err := NDP(ctx, "lo", []netip.Addr{netip.MustParseAddr("10.0.0.1")}, Options{}); err == nil || !strings.Contains(err.Error(), "IPv6") {
		t.Errorf("NDP of an IPv4 address: %v", err)
	}
	if r, err := ARP(ctx, "no-such-if", nil, Options{}); r != nil || err != nil {
		t.Errorf("nothing to probe: %v %v", r, err)
	}
}

// link is an appliance namespace joined by a veth pair to a namespace
// standing for the rest of the network: a gateway, and another VM holding
// 10.20.0.150 and fd00:20::150.
type link struct {
	app, net *netnstest.NS
	peerMAC  string
}

func newLink(t *testing.T) link {
	t.Helper()
	app, lan := netnstest.New(t), netnstest.New(t)
	app.Veth(t, "eth0", "10.20.0.5/24", lan, "lan0", "10.20.0.1/24")
	app.Run(t, "ip", "addr", "add", "fd00:20::5/64", "dev", "eth0", "nodad")
	lan.Run(t, "ip", "addr", "add", "10.20.0.150/24", "dev", "lan0")
	lan.Run(t, "ip", "addr", "add", "fd00:20::1/64", "dev", "lan0", "nodad")
	lan.Run(t, "ip", "addr", "add", "fd00:20::150/64", "dev", "lan0", "nodad")
	var mac string
	if err := lan.Do(func() error {
		ifi, err := net.InterfaceByName("lan0")
		if err == nil {
			mac = ifi.HardwareAddr.String()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return link{app, lan, mac}
}

func addrs(first string, n int) []netip.Addr {
	a := netip.MustParseAddr(first)
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = a
		a = a.Next()
	}
	return out
}

func TestARPInNamespace(t *testing.T) {
	l := newLink(t)
	ctx := context.Background()
	// A /24's worth: finds the other VM and the gateway, with the MAC of
	// their interface; nothing else answers.
	var got []Reply
	start := time.Now()
	err := l.app.Do(func() (err error) {
		got, err = ARP(ctx, "eth0", addrs("10.20.0.0", 256), Options{})
		return err
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ARP probe of 256 addresses took %v", elapsed)
	if len(got) != 2 || got[0].Addr != netip.MustParseAddr("10.20.0.1") || got[1].Addr != netip.MustParseAddr("10.20.0.150") {
		t.Fatalf("replies %v, want 10.20.0.1 and 10.20.0.150", got)
	}
	for _, r := range got {
		if len(r.MACs) != 1 || r.MACs[0].String() != l.peerMAC || r.Iface != "eth0" {
			t.Errorf("%v: want MAC %s on eth0", r, l.peerMAC)
		}
	}
	if elapsed > 30*time.Second {
		t.Errorf("a /24 took %v", elapsed)
	}

	// A free range: nobody answers.
	err = l.app.Do(func() (err error) {
		got, err = ARP(ctx, "eth0", addrs("10.20.0.192", 32), Options{Wait: 200 * time.Millisecond})
		return err
	})
	if err != nil || len(got) != 0 {
		t.Errorf("free range: %v %v", got, err)
	}
}

func TestNDPInNamespace(t *testing.T) {
	l := newLink(t)
	var got []Reply
	err := l.app.Do(func() (err error) {
		got, err = NDP(context.Background(), "eth0", addrs("fd00:20::100", 256), Options{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Addr != netip.MustParseAddr("fd00:20::150") || len(got[0].MACs) != 1 || got[0].MACs[0].String() != l.peerMAC {
		t.Fatalf("replies %v, want fd00:20::150 at %s", got, l.peerMAC)
	}
	err = l.app.Do(func() (err error) {
		got, err = NDP(context.Background(), "eth0", addrs("fd00:20::200", 16), Options{Wait: 200 * time.Millisecond})
		return err
	})
	if err != nil || len(got) != 0 {
		t.Errorf("free range: %v %v", got, err)
	}
}

func TestProbeErrors(t *testing.T) {
	l := newLink(t)
	ctx := context.Background()
	one := addrs("10.20.0.150", 1)
	for _, c := range []struct{ iface, msg string }{
		{"lo", "no Ethernet address"},
		{"nonesuch", "interface nonesuch"},
	} {
		err := l.app.Do(func() error {
			_, err := ARP(ctx, c.iface, one, Options{})
			return err
		})
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %q", c.iface, err, c.msg)
		}
	}
	l.app.Run(t, "ip", "link", "set", "eth0", "down")
	err := l.app.Do(func() error { _, err := ARP(ctx, "eth0", one, Options{}); return err })
	if err == nil || !strings.Contains(err.Error(), "down") {
		t.Errorf("interface down: %v", err)
	}
	// A cancelled context stops the run.
	l.app.Run(t, "ip", "link", "set", "eth0", "up")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = l.app.Do(func() error { _, err := ARP(cctx, "eth0", one, Options{}); return err })
	if err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}
}

func TestTCP(t *testing.T) {
	l := newLink(t)
	ln, err := l.app.Listen("tcp", "10.20.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ap := netip.MustParseAddrPort(ln.Addr().String())
	err = l.app.Do(func() error { return TCP(context.Background(), ap, 5*time.Second) })
	if err != nil {
		t.Errorf("listening port: %v", err)
	}
	closed := netip.AddrPortFrom(ap.Addr(), 1)
	err = l.app.Do(func() error { return TCP(context.Background(), closed, 5*time.Second) })
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("closed port: %v", err)
	}
}

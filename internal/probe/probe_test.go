package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/netnstest"
)

var (
	ourMAC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x05}
	theirMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
)

func TestARPFrame(t *testing.T) {
	b, dst := arpProto{}.frame(ourMAC, netip.MustParseAddr("10.20.0.150"))
	want := "0001" + "0800" + "06" + "04" + "0001" + // Ethernet/IPv4 request
		"020000000005" + "00000000" + // sender: our MAC, 0.0.0.0 (RFC 5227)
		"000000000000" + "0a140096" // target: unknown MAC, 10.20.0.150
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("probe\n got %s\nwant %s", got, want)
	}
	if !bytes.Equal(dst, broadcast) {
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
	b, dst := ndpProto{}.frame(ourMAC, target)
	if dst.String() != "33:33:ff:00:01:50" {
		t.Errorf("destination MAC %s", dst)
	}
	if len(b) != 64 || b[0] != 0x60 || b[6] != 58 || b[7] != 255 {
		t.Fatalf("IPv6 header % x", b[:40])
	}
	src, d := netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
	if !src.IsUnspecified() || d != netip.MustParseAddr("ff02::1:ff00:150") {
		t.Errorf("source %s destination %s, want :: and ff02::1:ff00:150", src, d)
	}
	icmp := b[40:]
	if icmp[0] != icmp6NS || netip.AddrFrom16([16]byte(icmp[8:24])) != target {
		t.Errorf("ICMPv6 % x", icmp)
	}
	// The namespace test shows the kernel accepting it; here, that the
	// checksum is filled in and verifies.
	if binary.BigEndian.Uint16(icmp[2:]) == 0 || checksum6(src, d, icmp) != 0 {
		t.Error("checksum missing or wrong")
	}
}

// na builds a neighbour advertisement from src for target, with a target
// link-layer address option when mac is not nil.
func na(src, target string, mac net.HardwareAddr) []byte {
	s, tg := netip.MustParseAddr(src), netip.MustParseAddr(target)
	d := netip.MustParseAddr("ff02::1")
	icmp := make([]byte, 24)
	icmp[0] = icmp6NA
	t16 := tg.As16()
	copy(icmp[8:], t16[:])
	if mac != nil {
		icmp = append(icmp, 2, 1)
		icmp = append(icmp, mac...)
	}
	binary.BigEndian.PutUint16(icmp[2:], checksum6(s, d, icmp))
	h := make([]byte, 40)
	h[0], h[6], h[7] = 0x60, 58, 255
	binary.BigEndian.PutUint16(h[4:], uint16(len(icmp)))
	s16, d16 := s.As16(), d.As16()
	copy(h[8:], s16[:])
	copy(h[24:], d16[:])
	return append(h, icmp...)
}

func TestNDPAnswer(t *testing.T) {
	frameMAC := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x77}
	good := na("fe80::99", "fd00:20::150", theirMAC)
	badSum := bytes.Clone(good)
	badSum[42] ^= 0xff
	lowHop := bytes.Clone(good)
	lowHop[7] = 64
	for _, c := range []struct {
		name string
		pkt  []byte
		want string
	}{
		{"advertisement with option", good, "fd00:20::150 02:00:00:00:00:99"},
		{"advertisement without option", na("fe80::99", "fd00:20::150", nil), "fd00:20::150 02:00:00:00:00:77"},
		{"bad checksum", badSum, ""},
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

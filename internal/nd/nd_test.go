package nd

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb}
)

func TestNDPRoundTrip(t *testing.T) {
	src, tgt := netip.MustParseAddr("fd00::9"), netip.MustParseAddr("fd00::1:5")
	for _, m := range []Msg{
		{Kind: Solicitation, Src: src, Dst: SolicitedNode(tgt), Target: tgt},
		DADProbe(tgt),
		{Kind: Advertisement, Src: netip.MustParseAddr("fe80::1"), Dst: src, Target: tgt, Solicited: true, Override: true},
		{Kind: Advertisement, Src: netip.MustParseAddr("fe80::1"), Dst: AllNodes, Target: tgt, Override: true},
	} {
		b, mac, err := m.Marshal(macA, macB)
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		got, err := ParseNDP(b)
		if err != nil {
			t.Fatalf("%+v: parse: %v", m, err)
		}
		wantLink := macA
		if m.Kind == Solicitation && m.Src.IsUnspecified() {
			wantLink = nil // DAD carries no link-layer option
		}
		if got.Kind != m.Kind || got.Src != m.Src || got.Dst != m.Dst || got.Target != m.Target ||
			got.Solicited != m.Solicited || got.Override != m.Override || !bytes.Equal(got.LinkAddr, wantLink) {
			t.Errorf("round trip of %+v gave %+v", m, got)
		}
		wantMAC := macB
		if m.Dst.IsMulticast() {
			d := m.Dst.As16()
			wantMAC = net.HardwareAddr{0x33, 0x33, d[12], d[13], d[14], d[15]}
		}
		if !bytes.Equal(mac, wantMAC) {
			t.Errorf("%+v goes to %s, want %s", m, mac, wantMAC)
		}
	}
}

func TestParseNDPRefuses(t *testing.T) {
	tgt := netip.MustParseAddr("fd00::1:5")
	good, _, _ := Msg{Kind: Solicitation, Src: netip.MustParseAddr("fd00::9"), Dst: SolicitedNode(tgt), Target: tgt}.Marshal(macA, nil)
	hop := bytes.Clone(good)
	hop[7] = 64 // forwarded by a router: RFC 4861 7.1.1
	code := bytes.Clone(good)
	code[41] = 1
	short := good[:50]
	dadWrongDst, _, _ := Msg{Kind: Solicitation, Src: netip.IPv6Unspecified(), Dst: AllNodes, Target: tgt}.Marshal(macA, nil)
	solicitedToAll, _, _ := Msg{Kind: Advertisement, Src: netip.MustParseAddr("fe80::1"), Dst: AllNodes, Target: tgt, Solicited: true}.Marshal(macA, nil)
	for name, b := range map[string][]byte{"hop limit 64": hop, "code 1": code, "truncated": short,
		"DAD not to the solicited-node group": dadWrongDst, "solicited advertisement to a group": solicitedToAll} {
		if m, err := ParseNDP(b); err == nil {
			t.Errorf("%s: parsed as %+v", name, m)
		}
	}
	if _, err := ParseNDP(good); err != nil {
		t.Errorf("the good one: %v", err)
	}
}

func TestARPFrames(t *testing.T) {
	vip := netip.MustParseAddr("10.0.0.7")
	b, err := ARPProbe(macA, vip)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseARP(b)
	if err != nil {
		t.Fatal(err)
	}
	if !p.SenderIP.IsUnspecified() || p.TargetIP != vip || !bytes.Equal(p.SenderHardwareAddr, macA) {
		t.Errorf("probe: %+v", p)
	}
	if _, _, ok := ARPHolder(p); ok {
		t.Error("a probe counts as a holder's answer")
	}
	b, err = GratuitousARP(macA, vip)
	if err != nil {
		t.Fatal(err)
	}
	p, err = ParseARP(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.SenderIP != vip || p.TargetIP != vip {
		t.Errorf("gratuitous ARP: %+v", p)
	}
	if a, mac, ok := ARPHolder(p); !ok || a != vip || !bytes.Equal(mac, macA) {
		t.Errorf("gratuitous ARP read as %v %v %v", a, mac, ok)
	}
}

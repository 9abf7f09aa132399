package onlink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/nd"
	"github.com/anyip/anyip/internal/validate"
)

var (
	ours   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	theirs = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	other  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x03}
	t0     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

func heldAt(iface, p string) validate.HeldAddr {
	return validate.HeldAddr{Iface: iface, Prefix: pfx(p)}
}

func TestAssign(t *testing.T) {
	facts := validate.Facts{Addrs: []validate.HeldAddr{
		heldAt("eth0", "10.0.0.5/24"), heldAt("eth0", "fd00:30::5/56"), heldAt("eth0", "fe80::1/64"),
		heldAt("eth1", "fd00:30:0:10::5/64"), // a longer subnet inside eth0's
		heldAt("eth2", "fd00:40::5/64"),
	}}
	plan := Assign([]netip.Prefix{
		pfx("fd00:30::1:0/120"),  // eth0's /56
		pfx("fd00:30:0:10::/64"), // eth1's /64 is the longest holder
		pfx("fd00:30::/48"),      // larger than every subnet
		pfx("fd00:99::/64"),      // on no link
		pfx("10.0.0.64/26"),      // eth0's IPv4 subnet
		pfx("fe80::/120"),        // link-local subnets hold nothing
	}, facts)
	if len(plan.V6) != 2 || plan.V6[0].Iface != "eth0" || plan.V6[1].Iface != "eth1" {
		t.Fatalf("V6 = %+v", plan.V6)
	}
	if !slices.Equal(plan.V6[0].Ranges, []netip.Prefix{pfx("fd00:30::1:0/120")}) || plan.V6[0].Source != ip("fe80::1") {
		t.Errorf("eth0 serves %v from %v", plan.V6[0].Ranges, plan.V6[0].Source)
	}
	if !slices.Equal(plan.V6[1].Ranges, []netip.Prefix{pfx("fd00:30:0:10::/64")}) || plan.V6[1].Source.IsValid() {
		t.Errorf("eth1 serves %v from %v", plan.V6[1].Ranges, plan.V6[1].Source)
	}
	if len(plan.V4) != 1 || plan.V4[0].Iface != "eth0" || !slices.Equal(plan.V4[0].Ranges, []netip.Prefix{pfx("10.0.0.64/26")}) {
		t.Errorf("V4 = %+v", plan.V4)
	}
	if want := []netip.Prefix{pfx("fd00:30::/48"), pfx("fd00:99::/64"), pfx("fe80::/120")}; !slices.Equal(plan.Unserved, want) {
		t.Errorf("unserved %v, want %v", plan.Unserved, want)
	}
}

func TestRangesLookup(t *testing.T) {
	rs := newRanges([]netip.Prefix{pfx("fd00::1:0/120"), pfx("fd00::/120"), pfx("fd00:1::/64")})
	for a, want := range map[string]string{
		"fd00::5": "fd00::/120", "fd00::1:ff": "fd00::1:0/120", "fd00::2:0": "", "fd00:1::ffff": "fd00:1::/64",
		"fc00::": "", "fd00:2::": "",
	} {
		got, ok := rs.lookup(ip(a))
		if (want == "") == ok || (ok && got != pfx(want)) {
			t.Errorf("lookup(%s) = %v %v, want %q", a, got, ok, want)
		}
	}
}

func TestBucket(t *testing.T) {
	b := Bucket{Rate: 10, Burst: 3}
	n := 0
	for b.Allow(t0) {
		n++
	}
	if n != 3 {
		t.Errorf("a full bucket gave %d tokens, want the burst 3", n)
	}
	if b.Allow(t0.Add(50 * time.Millisecond)) {
		t.Error("a token after half its interval")
	}
	if !b.Allow(t0.Add(100 * time.Millisecond)) {
		t.Error("no token after its interval")
	}
	if next := b.Next(t0.Add(100 * time.Millisecond)); !next.Equal(t0.Add(200 * time.Millisecond)) {
		t.Errorf("next token at %v", next.Sub(t0))
	}
	if got := b.Tokens(t0.Add(time.Hour)); got != 3 {
		t.Errorf("after an hour %v tokens saved, want the burst", got)
	}
}

func TestTargets(t *testing.T) {
	rs := []netip.Prefix{pfx("10.0.0.64/30"), pfx("fd00::/120")}
	binds := []netip.Addr{ip("fd00::50"), ip("10.9.9.9"), ip("10.0.0.66"), ip("fd00::50")}
	got := Targets(rs, binds, 2, 100)
	want := []netip.Addr{ip("fd00::50"), ip("10.0.0.66"), ip("10.0.0.64"), ip("10.0.0.65"), ip("fd00::"), ip("fd00::1")}
	if !slices.Equal(got, want) {
		t.Errorf("Targets = %v, want %v", got, want)
	}
	if got := Targets(rs, binds, 16, 3); len(got) != 3 || got[0] != ip("fd00::50") {
		t.Errorf("bounded: %v", got)
	}
	if got := Targets([]netip.Prefix{pfx("10.0.0.64/31")}, nil, 16, 100); len(got) != 2 {
		t.Errorf("a range smaller than perRange: %v", got)
	}
}

// engine is an Engine on fd00::1:0/120 with a requester at fd00::9.
func engine(t *testing.T, cfg EngineConfig) *Engine {
	t.Helper()
	e := NewEngine(ours, ip("fe80::1"), cfg)
	e.SetRanges([]netip.Prefix{pfx("fd00::1:0/120")})
	return e
}

func ns(src, target string) nd.Msg {
	m := nd.Msg{Kind: nd.Solicitation, Src: ip(src), Target: ip(target), Dst: nd.SolicitedNode(ip(target))}
	if !m.Src.IsUnspecified() {
		m.LinkAddr = theirs
	}
	return m
}

func na(target string, mac net.HardwareAddr) nd.Msg {
	return nd.Msg{Kind: nd.Advertisement, Src: ip("fe80::2"), Dst: nd.AllNodes, Target: ip(target), LinkAddr: mac, Override: true}
}

func isProbe(s Send, target string) bool {
	p := nd.DADProbe(ip(target))
	return s.Msg.Kind == p.Kind && s.Msg.Src == p.Src && s.Msg.Dst == p.Dst && s.Msg.Target == p.Target && s.DstMAC == nil
}

func drain(t *testing.T, e *Engine) ([]Send, []Conflict) {
	t.Helper()
	return e.Drain()
}

func TestEngineProbesThenAnswers(t *testing.T) {
	e := engine(t, EngineConfig{})
	e.Handle(t0, ns("fd00::9", "fd00::1:5"), theirs)
	out, _ := drain(t, e)
	if len(out) != 1 || !isProbe(out[0], "fd00::1:5") {
		t.Fatalf("first solicitation: sent %+v, want only the duplicate-address probe", out)
	}
	e.Tick(t0.Add(DefaultDADWait / 2))
	if out, _ := drain(t, e); len(out) != 0 {
		t.Fatalf("answered before the probe's wait was over: %+v", out)
	}
	next := e.Tick(t0.Add(DefaultDADWait))
	out, _ = drain(t, e)
	if len(out) != 1 {
		t.Fatalf("after the wait: sent %+v, want one answer", out)
	}
	a := out[0]
	if a.Msg.Kind != nd.Advertisement || a.Msg.Target != ip("fd00::1:5") || a.Msg.Dst != ip("fd00::9") ||
		a.Msg.Src != ip("fe80::1") || !a.Msg.Solicited || !a.Msg.Override || !bytes.Equal(a.DstMAC, theirs) {
		t.Errorf("answer %+v", a)
	}
	if !next.IsZero() {
		t.Errorf("nothing left to do, but wants a tick at %v", next.Sub(t0))
	}
	// Verified now: the next solicitation is answered at once.
	e.Handle(t0.Add(time.Second), ns("fd00::9", "fd00::1:5"), theirs)
	if out, _ := drain(t, e); len(out) != 1 || !out[0].Msg.Solicited {
		t.Errorf("verified address: sent %+v, want the answer", out)
	}
}

func TestEngineAnswersOnlyItsRanges(t *testing.T) {
	e := engine(t, EngineConfig{})
	for _, m := range []nd.Msg{ns("fd00::9", "fd00::2:5"), ns("fd00::9", "fd00::"), ns("::", "fd00::1:5")} {
		e.Handle(t0, m, theirs)
	}
	e.Handle(t0, ns("fd00::9", "fd00::1:7"), ours) // our own, looped back
	e.Tick(t0.Add(time.Minute))
	if out, _ := drain(t, e); len(out) != 0 {
		t.Errorf("sent %+v for solicitations outside the ranges, someone's DAD and our own", out)
	}

	// A verified address whose range goes away is not answered.
	e.Handle(t0, ns("fd00::9", "fd00::1:5"), theirs)
	e.Tick(t0.Add(time.Second))
	drain(t, e)
	e.SetRanges([]netip.Prefix{pfx("fd00::2:0/120")})
	e.Handle(t0.Add(2*time.Second), ns("fd00::9", "fd00::1:5"), theirs)
	e.Tick(t0.Add(3 * time.Second))
	if out, _ := drain(t, e); len(out) != 0 {
		t.Errorf("answered %+v for a removed range", out)
	}
}

func TestEngineConflicts(t *testing.T) {
	e := engine(t, EngineConfig{})
	// A holder answers the probe: no answer, one conflict.
	e.Handle(t0, ns("fd00::9", "fd00::1:5"), theirs)
	e.Handle(t0.Add(time.Millisecond), na("fd00::1:5", other), other)
	e.Tick(t0.Add(time.Second))
	out, cs := drain(t, e)
	if len(out) != 1 || out[0].Msg.Kind != nd.Solicitation {
		t.Errorf("sent %+v, want only the probe", out)
	}
	if len(cs) != 1 || cs[0].Addr != ip("fd00::1:5") || !bytes.Equal(cs[0].MAC, other) || cs[0].Range != pfx("fd00::1:0/120") {
		t.Fatalf("conflicts %+v", cs)
	}
	// Asked again: no probe, no answer, the conflict not logged twice.
	e.Handle(t0.Add(2*time.Second), ns("fd00::9", "fd00::1:5"), theirs)
	e.Handle(t0.Add(2*time.Second), na("fd00::1:5", other), other)
	e.Tick(t0.Add(3 * time.Second))
	if out, cs := drain(t, e); len(out) != 0 || len(cs) != 0 {
		t.Errorf("a held address: sent %+v, conflicts %+v", out, cs)
	}
	// The holder gone for Hold: probed again.
	e.Handle(t0.Add(2*time.Second+DefaultHold), ns("fd00::9", "fd00::1:5"), theirs)
	if out, _ := drain(t, e); len(out) != 1 || out[0].Msg.Kind != nd.Solicitation {
		t.Errorf("after the hold: sent %+v, want a new probe", out)
	}

	// A verified address: a solicitation from it (its holder resolving
	// someone) takes it away at once.
	e.Handle(t0, ns("fd00::9", "fd00::1:6"), theirs)
	e.Tick(t0.Add(time.Second))
	drain(t, e)
	e.Handle(t0.Add(time.Second), ns("fd00::1:6", "fd00::9"), other)
	e.Handle(t0.Add(time.Second), ns("fd00::9", "fd00::1:6"), theirs)
	out, cs = drain(t, e)
	if len(out) != 0 || len(cs) != 1 || cs[0].How != "solicits from it" {
		t.Errorf("solicitation from a verified address: sent %+v, conflicts %+v", out, cs)
	}
}

func TestEngineDefendsVerified(t *testing.T) {
	e := engine(t, EngineConfig{})
	e.Handle(t0, ns("fd00::9", "fd00::1:5"), theirs)
	e.Tick(t0.Add(time.Second))
	drain(t, e)
	e.Handle(t0.Add(time.Second), ns("::", "fd00::1:5"), other)
	e.Handle(t0.Add(time.Second), ns("::", "fd00::1:8"), other) // not ours yet: left alone
	out, _ := drain(t, e)
	if len(out) != 1 || out[0].Msg.Dst != nd.AllNodes || out[0].Msg.Target != ip("fd00::1:5") || out[0].Msg.Solicited {
		t.Errorf("another host's DAD: sent %+v, want one defence of fd00::1:5 to all nodes", out)
	}
}

func TestEngineRateLimit(t *testing.T) {
	e := engine(t, EngineConfig{Rate: 10, Burst: 5, MaxPending: 3})
	// Five distinct addresses at once: three probes (MaxPending), the
	// rest refused.
	for i := 1; i <= 5; i++ {
		e.Handle(t0, ns("fd00::9", netip.AddrFrom16([16]byte{0xfd, 15: byte(i)}).String()), theirs)
	}
	if out, _ := drain(t, e); len(out) != 0 {
		t.Fatalf("outside the range: %+v", out)
	}
	for i := 1; i <= 5; i++ {
		e.Handle(t0, ns("fd00::9", "fd00::1:"+string(rune('0'+i))), theirs)
	}
	out, _ := drain(t, e)
	if len(out) != 3 || e.Stats().Limited != 2 {
		t.Errorf("sent %d probes with %d limited, want 3 and 2", len(out), e.Stats().Limited)
	}
	// A flood for one verified address: the burst, then the rate.
	e.Tick(t0.Add(time.Second))
	drain(t, e)
	for i := 0; i < 100; i++ {
		e.Handle(t0.Add(time.Second), ns("fd00::9", "fd00::1:1"), theirs)
	}
	out, _ = drain(t, e)
	if len(out) > 5 {
		t.Errorf("a flood got %d answers at once, over the burst 5", len(out))
	}
}

func TestEngineAnnounces(t *testing.T) {
	e := engine(t, EngineConfig{})
	if n := e.Announce([]netip.Addr{ip("fd00::1:5"), ip("fd00::1:6"), ip("fd00::2:1"), ip("fd00::1:5")}); n != 2 {
		t.Errorf("queued %d, want 2 (one outside the range, one twice)", n)
	}
	e.Tick(t0)
	out, _ := drain(t, e)
	if len(out) != 2 || !isProbe(out[0], "fd00::1:5") || !isProbe(out[1], "fd00::1:6") {
		t.Fatalf("announcement starts with %+v, want the probes in order", out)
	}
	e.Handle(t0.Add(time.Millisecond), na("fd00::1:6", other), other) // held by another host
	next := e.Tick(t0.Add(DefaultDADWait))
	out, cs := drain(t, e)
	if len(out) != 1 || out[0].Msg.Target != ip("fd00::1:5") || out[0].Msg.Dst != nd.AllNodes || out[0].Msg.Solicited || !out[0].Msg.Override {
		t.Fatalf("announced %+v, want fd00::1:5 alone, unsolicited, override set", out)
	}
	if len(cs) != 1 || cs[0].Addr != ip("fd00::1:6") {
		t.Errorf("conflicts %+v", cs)
	}
	if !next.Equal(t0.Add(DefaultDADWait + DefaultRepeat)) {
		t.Errorf("next tick at %v, want the repetition", next.Sub(t0))
	}
	e.Tick(next)
	if out, _ := drain(t, e); len(out) != 1 || out[0].Msg.Target != ip("fd00::1:5") {
		t.Errorf("repetition: %+v", out)
	}
}

// fakeConn is a link: what is written is recorded; a holder answers ARP
// probes for its addresses.
type fakeConn struct {
	mu      sync.Mutex
	written [][]byte
	holders map[netip.Addr]net.HardwareAddr
	replies chan []byte
	closed  chan struct{}
	dl      time.Time
}

func newFakeConn(holders map[netip.Addr]net.HardwareAddr) *fakeConn {
	return &fakeConn{holders: holders, replies: make(chan []byte, 64), closed: make(chan struct{})}
}

func (f *fakeConn) WriteTo(b []byte, to net.HardwareAddr) error {
	f.mu.Lock()
	f.written = append(f.written, bytes.Clone(b))
	f.mu.Unlock()
	p, err := nd.ParseARP(b)
	if err == nil && p.SenderIP.IsUnspecified() {
		if mac := f.holders[p.TargetIP]; mac != nil {
			r, _ := nd.GratuitousARP(mac, p.TargetIP) // any packet from it will do
			f.replies <- r
		}
	}
	return nil
}

func (f *fakeConn) ReadFrom(b []byte) (int, net.HardwareAddr, error) {
	f.mu.Lock()
	dl := f.dl
	f.mu.Unlock()
	select {
	case r := <-f.replies:
		return copy(b, r), nil, nil
	case <-time.After(time.Until(dl)):
		return 0, nil, os.ErrDeadlineExceeded
	case <-f.closed:
		return 0, nil, errors.New("closed")
	}
}

func (f *fakeConn) SetReadDeadline(t time.Time) error {
	f.mu.Lock()
	f.dl = t
	f.mu.Unlock()
	return nil
}

func (f *fakeConn) Close() error { close(f.closed); return nil }

func TestAnnounceARP(t *testing.T) {
	vip, taken, free := ip("10.0.0.70"), ip("10.0.0.71"), ip("10.0.0.72")
	conn := newFakeConn(map[netip.Addr]net.HardwareAddr{taken: other})
	defer conn.Close()
	var sleeps []time.Duration
	var mu sync.Mutex
	o := ARPOptions{Rate: 100, Wait: 200 * time.Millisecond, Repeat: time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			sleeps = append(sleeps, d)
			mu.Unlock()
			if d >= 200*time.Millisecond {
				// The wait for holders: let the reader take the replies.
				time.Sleep(20 * time.Millisecond)
			}
			return nil
		}}
	done, heldBy, err := AnnounceARP(context.Background(), conn, ours, []netip.Addr{vip, taken, free}, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done, []netip.Addr{vip, free}) {
		t.Errorf("announced %v, want %v and %v", done, vip, free)
	}
	if len(heldBy) != 1 || heldBy[0].Addr != taken || !bytes.Equal(heldBy[0].MAC, other) {
		t.Errorf("held %+v", heldBy)
	}
	var kinds []string
	for _, b := range conn.written {
		p, err := nd.ParseARP(b)
		if err != nil {
			t.Fatal(err)
		}
		k := "garp " + p.TargetIP.String()
		if p.SenderIP.IsUnspecified() {
			k = "probe " + p.TargetIP.String()
		}
		if !bytes.Equal(p.SenderHardwareAddr, ours) {
			t.Errorf("frame from %s", p.SenderHardwareAddr)
		}
		kinds = append(kinds, k)
	}
	want := []string{"probe 10.0.0.70", "probe 10.0.0.71", "probe 10.0.0.72", "garp 10.0.0.70", "garp 10.0.0.72", "garp 10.0.0.70", "garp 10.0.0.72"}
	if !slices.Equal(kinds, want) {
		t.Errorf("frames %q, want %q", kinds, want)
	}
	// Paced: a gap of 1/Rate between frames of a round, the wait, the
	// repetition's gap.
	gap := 10 * time.Millisecond
	wantSleeps := []time.Duration{gap, gap, 200 * time.Millisecond, gap, time.Second, gap}
	if !slices.Equal(sleeps, wantSleeps) {
		t.Errorf("sleeps %v, want %v", sleeps, wantSleeps)
	}
}

func TestGroups(t *testing.T) {
	// A /120 is 256 groups; a /64 is too many and left to allmulticast;
	// an IPv4 range has none.
	g := Groups([]netip.Prefix{pfx("fd00::1:0/120"), pfx("fd00:1::/64"), pfx("10.0.0.0/24")}, MaxGroups)
	if len(g) != 256 || g[0] != ip("ff02::1:ff01:0") || g[255] != ip("ff02::1:ff01:ff") {
		t.Errorf("%d groups, %v..%v", len(g), g[0], g[len(g)-1])
	}
	// Two /120s: the first fits, the second would pass the bound.
	if g := Groups([]netip.Prefix{pfx("fd00::2:0/120"), pfx("fd00::1:0/120")}, MaxGroups); len(g) != 256 || g[0] != ip("ff02::1:ff01:0") {
		t.Errorf("two /120s: %d groups from %v", len(g), g[0])
	}
	// Ranges whose addresses share groups count them once.
	if g := Groups([]netip.Prefix{pfx("fd00::1:0/126"), pfx("fd01::1:0/126")}, MaxGroups); len(g) != 4 {
		t.Errorf("shared groups: %v", g)
	}
}

// ndpLink is a fake link for the responder loop: frames to read come in
// on a channel, written ones go out on another.
type ndpLink struct {
	in      chan []byte
	out     chan []byte
	mu      sync.Mutex
	dl      time.Time
	failing chan struct{}
}

func (l *ndpLink) ReadFrom(b []byte) (int, net.HardwareAddr, error) {
	l.mu.Lock()
	dl := l.dl
	l.mu.Unlock()
	select {
	case f := <-l.in:
		return copy(b, f), theirs, nil
	case <-l.failing:
		return 0, nil, errors.New("network is down")
	case <-time.After(time.Until(dl)):
		return 0, nil, os.ErrDeadlineExceeded
	}
}

func (l *ndpLink) WriteTo(b []byte, to net.HardwareAddr) error {
	l.out <- bytes.Clone(b)
	return nil
}

func (l *ndpLink) SetReadDeadline(t time.Time) error {
	l.mu.Lock()
	l.dl = t
	l.mu.Unlock()
	return nil
}

func (l *ndpLink) Close() error { return nil }

// The loop over a link: a solicitation is probed and then answered, a
// range taken away stops being answered, and a failing socket ends the
// loop. It waits for frames, never for a time.
func TestResponderLoop(t *testing.T) {
	l := &ndpLink{in: make(chan []byte, 8), out: make(chan []byte, 64), failing: make(chan struct{})}
	r := newResponder("eth0", ours, l, slog.New(slog.DiscardHandler))
	e := NewEngine(ours, ip("fe80::1"), EngineConfig{DADWait: time.Millisecond})
	r.set([]netip.Prefix{pfx("fd00::1:0/120")}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.run(ctx, e)

	solicit := func(target string) {
		b, _, err := ns("fd00::9", target).Marshal(theirs, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.in <- b
	}
	next := func() nd.Msg {
		t.Helper()
		select {
		case b := <-l.out:
			m, err := nd.ParseNDP(b)
			if err != nil {
				t.Fatal(err)
			}
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("nothing sent")
		}
		return nd.Msg{}
	}
	solicit("fd00::1:5")
	if m := next(); m.Kind != nd.Solicitation || !m.Src.IsUnspecified() || m.Target != ip("fd00::1:5") {
		t.Fatalf("first frame %+v, want the probe", m)
	}
	if m := next(); m.Kind != nd.Advertisement || !m.Solicited || m.Dst != ip("fd00::9") || m.Target != ip("fd00::1:5") {
		t.Fatalf("second frame %+v, want the answer", m)
	}

	// Taken away: a solicitation after the change goes unanswered; one
	// for the new range is answered, and is the next frame out.
	r.set([]netip.Prefix{pfx("fd00::2:0/120")}, nil)
	for deadline := time.Now().Add(10 * time.Second); ; {
		r.mu.Lock()
		taken := !r.changed
		r.mu.Unlock()
		if taken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the loop never took the new ranges")
		}
		time.Sleep(time.Millisecond)
	}
	solicit("fd00::1:5")
	solicit("fd00::2:5")
	if m := next(); m.Target != ip("fd00::2:5") {
		t.Errorf("after the change, sent %+v first; want the probe for fd00::2:5 (fd00::1:5 is no longer ours)", m)
	}

	close(l.failing)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("a failing socket did not end the loop")
	}
	if !r.exited() {
		t.Error("exited() is false after the loop ended")
	}
}

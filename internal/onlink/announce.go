package onlink

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/anyip/anyip/internal/nd"
)

// Bounds of an announcement.
const (
	// PerRange is how many addresses of a range are announced beyond
	// those HAProxy binds in it; MaxAnnounced bounds one NIC's
	// announcement of one family in all.
	PerRange     = 16
	MaxAnnounced = 1024
)

// Targets picks the addresses to announce for ranges: first every bind
// address inside one of them (in the order given), then up to perRange
// addresses of each range from its start, at most max in all.
func Targets(rs []netip.Prefix, binds []netip.Addr, perRange, max int) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	add := func(a netip.Addr) {
		if !seen[a] && len(out) < max {
			seen[a] = true
			out = append(out, a)
		}
	}
	set := newRanges(rs)
	for _, b := range binds {
		if set.contains(b) {
			add(b)
		}
	}
	for _, r := range set {
		a := r.Addr()
		for i := 0; i < perRange && len(out) < max && r.Contains(a); i++ {
			add(a)
			a = a.Next()
		}
	}
	return out
}

// ARPOptions tune an IPv4 announcement; zero values take the defaults.
type ARPOptions struct {
	Rate   float64       // frames a second
	Wait   time.Duration // for a holder to answer the probes
	Repeat time.Duration // between the announcement and its repetition
	// Sleep waits (tests give a fake); nil: the real clock.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o ARPOptions) withDefaults() ARPOptions {
	if o.Rate <= 0 {
		o.Rate = 1000
	}
	if o.Wait <= 0 {
		o.Wait = 200 * time.Millisecond
	}
	if o.Repeat <= 0 {
		o.Repeat = DefaultRepeat
	}
	if o.Sleep == nil {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	return o
}

// Held is an address another host answered for.
type Held struct {
	Addr netip.Addr
	MAC  net.HardwareAddr
}

// AnnounceARP announces the IPv4 targets at mac over conn: an RFC 5227
// probe for each, then, for those no other host answered for, a
// gratuitous ARP, repeated once. The kernel answers ARP for AnyIP
// addresses itself, so an address another host holds is a conflict
// already; announcing it would take it from that host in every cache.
// It returns the addresses announced and those held by others.
func AnnounceARP(ctx context.Context, conn nd.Conn, mac net.HardwareAddr, targets []netip.Addr, o ARPOptions) ([]netip.Addr, []Held, error) {
	o = o.withDefaults()
	if len(targets) == 0 {
		return nil, nil, nil
	}
	want := map[netip.Addr]bool{}
	for _, t := range targets {
		want[t] = true
	}
	var mu sync.Mutex
	holders := map[netip.Addr]net.HardwareAddr{}
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 1500)
		for {
			select {
			case <-stop:
				return
			default:
			}
			conn.SetReadDeadline(time.Now().Add(tick))
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				if nd.IsTimeout(err) {
					continue
				}
				return
			}
			p, err := nd.ParseARP(buf[:n])
			if err != nil {
				continue
			}
			a, hw, ok := nd.ARPHolder(p)
			if !ok || !want[a] || bytes.Equal(hw, mac) {
				continue
			}
			mu.Lock()
			if holders[a] == nil {
				holders[a] = hw
			}
			mu.Unlock()
		}
	}()
	defer func() { close(stop); <-readerDone }()

	gap := time.Duration(float64(time.Second) / o.Rate)
	paced := func(frame func(a netip.Addr) ([]byte, error), list []netip.Addr) error {
		for i, a := range list {
			if i > 0 {
				if err := o.Sleep(ctx, gap); err != nil {
					return err
				}
			}
			b, err := frame(a)
			if err != nil {
				return err
			}
			if err := conn.WriteTo(b, nd.Broadcast); err != nil {
				return err
			}
		}
		return nil
	}
	probe := func(a netip.Addr) ([]byte, error) { return nd.ARPProbe(mac, a) }
	garp := func(a netip.Addr) ([]byte, error) { return nd.GratuitousARP(mac, a) }
	if err := paced(probe, targets); err != nil {
		return nil, nil, err
	}
	if err := o.Sleep(ctx, o.Wait); err != nil {
		return nil, nil, err
	}
	mu.Lock()
	var free []netip.Addr
	var held []Held
	for _, t := range targets {
		if hw := holders[t]; hw != nil {
			held = append(held, Held{t, hw})
		} else {
			free = append(free, t)
		}
	}
	mu.Unlock()
	if err := paced(garp, free); err != nil {
		return nil, held, err
	}
	if err := o.Sleep(ctx, o.Repeat); err != nil {
		return free, held, err
	}
	// A host that answered only now still keeps its address.
	mu.Lock()
	again := slices.DeleteFunc(slices.Clone(free), func(a netip.Addr) bool { return holders[a] != nil })
	mu.Unlock()
	return free, held, paced(garp, again)
}

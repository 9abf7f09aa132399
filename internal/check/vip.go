package check

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/haproxycfg"
)

// VIPTarget is one address and port the VIP check connects to, and why.
type VIPTarget struct {
	AddrPort netip.AddrPort
	Range    netip.Prefix
	Frontend string // "frontend web (/etc/haproxy/haproxy.cfg:12)"
}

// maxVIPTargets bounds the connections one check makes.
const maxVIPTargets = 256

// PlanVIPs picks what to connect to: every TCP bind address inside a
// range, on its (first) port; for a range no such address is in, the
// first usable address of the range on the port of a wildcard bind of
// its family, when there is one. It also returns the ranges nothing binds
// in. It never picks an address avoid reports (a gateway, a name server:
// a range holding one is the safety check's to report, and a connection
// to it proves nothing about HAProxy); avoid may be nil.
func PlanVIPs(hc *haproxycfg.Config, ranges []netip.Prefix, avoid func(netip.Addr) bool) (targets []VIPTarget, idle []netip.Prefix) {
	if avoid == nil {
		avoid = func(netip.Addr) bool { return false }
	}
	seen := map[netip.AddrPort]bool{}
	covered := map[netip.Prefix]bool{}
	type wild struct {
		port uint16
		fe   string
	}
	var wild4, wild6 *wild
	for _, b := range hc.Binds {
		if b.Err != nil || b.Namespace != "" {
			continue
		}
		fe := fmt.Sprintf("%s (%s:%d)", b.Section, hc.Path, b.Line)
		for _, a := range b.Addrs {
			if a.Transport != "tcp" {
				continue
			}
			switch a.Kind {
			case haproxycfg.Wildcard:
				w := &wild{a.FirstPort, fe}
				if a.IP.Is4() {
					if wild4 == nil {
						wild4 = w
					}
				} else {
					if wild6 == nil {
						wild6 = w
					}
					// An IPv6 wildcard takes IPv4 too, unless v6only.
					if wild4 == nil && !b.V6Only {
						wild4 = w
					}
				}
			case haproxycfg.IP:
				if avoid(a.IP) {
					continue
				}
				for _, p := range ranges {
					if !p.Contains(a.IP) {
						continue
					}
					ap := netip.AddrPortFrom(a.IP, a.FirstPort)
					covered[p] = true
					if !seen[ap] && len(targets) < maxVIPTargets {
						seen[ap] = true
						targets = append(targets, VIPTarget{ap, p, fe})
					}
					break
				}
			}
		}
	}
	for _, p := range ranges {
		if covered[p] {
			continue
		}
		w := wild6
		if p.Addr().Is4() {
			w = wild4
		}
		a, ok := sampleAvoiding(p, avoid)
		if w == nil || !ok || len(targets) >= maxVIPTargets {
			idle = append(idle, p)
			continue
		}
		targets = append(targets, VIPTarget{netip.AddrPortFrom(a, w.port), p, w.fe})
	}
	return targets, idle
}

// sample is the first address of a range that a client would use: not
// the first of a larger block (an IPv4 network address, the IPv6
// subnet-router anycast address).
func sample(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	if p.Addr().BitLen()-p.Bits() >= 2 {
		return a.Next()
	}
	return a
}

// sampleAvoiding is sample, or the next address that avoid does not
// report, looking at 256 addresses at most.
func sampleAvoiding(p netip.Prefix, avoid func(netip.Addr) bool) (netip.Addr, bool) {
	a := sample(p)
	for i := 0; i < 256 && a.IsValid() && p.Contains(a); i, a = i+1, a.Next() {
		if !avoid(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// Servable returns the ranges the vip check may connect to: those the
// safety check accepts and whose local route on lo is in place. A
// connection to any other leaves the NIC toward whatever host holds the
// address, and its failure only repeats the safety or routes item. left
// is one detail line naming the ranges left out and why ("" when none
// is). refused and routed are nil when they could not be learnt: then no
// range is known to be either, and none is connected to.
func Servable(ranges []netip.Prefix, refused, routed func(netip.Prefix) bool) (keep []netip.Prefix, left string) {
	var out []string
	n := 0
	for _, p := range ranges {
		var why []string
		switch {
		case refused == nil:
			why = append(why, "the safety check could not run")
		case refused(p):
			why = append(why, "refused by the safety check")
		}
		switch {
		case routed == nil:
			why = append(why, "table local could not be read")
		case !routed(p):
			why = append(why, "no local route on lo")
		}
		if len(why) == 0 {
			keep = append(keep, p)
			continue
		}
		if n++; n <= maxLeftOut {
			out = append(out, fmt.Sprintf("%s (%s)", p, strings.Join(why, ", ")))
		}
	}
	if n == 0 {
		return keep, ""
	}
	left = fmt.Sprintf("not connected to %s, whose traffic would leave the NIC: %s", cli.Plural(n, "range"), strings.Join(out, "; "))
	if n > maxLeftOut {
		left += fmt.Sprintf("; and %d more", n-maxLeftOut)
	}
	return keep, left
}

// maxLeftOut bounds the ranges the left-out line names.
const maxLeftOut = 8

// Dialer connects to a VIP; probe.TCP in production.
type Dialer func(ctx context.Context, ap netip.AddrPort, timeout time.Duration) error

// VIP is check 8: a TCP connection to a VIP of each range that HAProxy
// serves succeeds. An address that answers pings but not HAProxy's port
// is not served. left is Servable's line on the ranges left out.
func VIP(ctx context.Context, targets []VIPTarget, idle []netip.Prefix, left string, dial Dialer, timeout time.Duration) Result {
	r := Result{Name: NameVIP}
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = dial(ctx, t.AddrPort, timeout)
		}()
	}
	wg.Wait()
	var failed []string
	ok := 0
	for i, t := range targets {
		if errs[i] != nil {
			failed = append(failed, fmt.Sprintf("%s (range %s, %s): %v", t.AddrPort, t.Range, t.Frontend, shortErr(errs[i])))
		} else {
			ok++
		}
	}
	var notes []string
	for _, p := range idle {
		notes = append(notes, fmt.Sprintf("%s: no frontend binds in it, nothing to connect to", p))
	}
	r.Details = failed
	if left != "" {
		r.Details = append(r.Details, left)
	}
	r.Details = append(r.Details, notes...)
	switch {
	case len(failed) > 0:
		r.Status = Fail
		r.Summary = fmt.Sprintf("%s of %d did not accept a TCP connection within %v", cli.Plural(len(failed), "VIP"), len(targets), timeout)
		r.Hint = "is HAProxy running (systemctl status haproxy)? Are the routes in place (routes check)? A VIP that answers ping but not its port is not served"
	case len(targets) == 0 && left != "":
		r.Status, r.Summary = Skip, "no frontend binds inside a range that is accepted and routed: nothing to connect to"
	case len(targets) == 0:
		r.Status, r.Summary = Skip, "no frontend binds inside a range: nothing to connect to"
	default:
		r.Status = Pass
		r.Summary = fmt.Sprintf("%s accepted a TCP connection", cli.Plural(ok, "VIP"))
		if len(targets) == 1 {
			r.Summary = fmt.Sprintf("%s accepted a TCP connection", targets[0].AddrPort)
		}
	}
	return r
}

// shortErr drops the "dial tcp 1.2.3.4:80: " prefix the address already
// says.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.HasPrefix(s, "dial ") {
		return s[i+2:]
	}
	return s
}

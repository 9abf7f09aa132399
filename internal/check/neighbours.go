package check

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"go4.org/netipx"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/ipx"
	"github.com/anyip/anyip/internal/onlink"
	"github.com/anyip/anyip/internal/probe"
	"github.com/anyip/anyip/internal/validate"
)

// The probe's brakes. DefaultProbeLimit is how many addresses of each
// range are probed unless --probe-limit says otherwise; MaxProbeLimit is
// the most it may say: a whole /16, the largest range accepted by
// default. MaxProbeTotal bounds the addresses of one run, all ranges
// together: about a minute of probes on one link at the default pace
// (probe.DefaultRate probes a second, each address asked twice), and a
// plan of a couple of megabytes.
const (
	DefaultProbeLimit = 1024
	MaxProbeLimit     = 1 << 16
	MaxProbeTotal     = 1 << 16
)

// ProbeTarget is one range's share of a probe run.
type ProbeTarget struct {
	Range netip.Prefix
	Iface string // "" when no interface faces the range
	Addrs []netip.Addr
	// Truncated: the range has more addresses than it was given, by
	// --probe-limit or, when OverBudget, by what was left of MaxProbeTotal.
	Truncated, OverBudget bool
	// Skip says why the range is not probed at all ("" when it is).
	Skip string
}

// Why a range is not probed.
const (
	skipUnsafe = "it fails the safety check: probing would ask the link about addresses the appliance must not claim"
	skipBudget = "the run's probes (at most %d) went to the ranges before it"
)

// PlanProbes picks, for each range, the interface that faces it (the one
// whose subnet holds the whole range, as the route service places it;
// else the one whose subnet overlaps it, the longest such subnet first; else
// the interface of the family's default route) and up to limit of its
// addresses (at most MaxProbeLimit), leaving out this system's own. A
// range unsafe reports true for (one the safety check fails: a /8,
// 0.0.0.0/0, loopback, multicast) is not probed, and the whole plan holds
// at most MaxProbeTotal addresses, given to the ranges in order.
func PlanProbes(ranges []netip.Prefix, facts validate.Facts, limit int, unsafe func(netip.Prefix) bool) []ProbeTarget {
	limit = min(max(limit, 1), MaxProbeLimit)
	own := make(map[netip.Addr]bool, len(facts.Addrs))
	for _, a := range facts.Addrs {
		own[a.Prefix.Addr()] = true
	}
	budget := MaxProbeTotal
	var out []ProbeTarget
	for _, p := range ranges {
		t := ProbeTarget{Range: p, Iface: facing(p, facts)}
		switch {
		case unsafe != nil && unsafe(p):
			t.Skip = skipUnsafe
		case t.Iface == "":
			// Probe says so; nothing to send.
		case budget == 0:
			t.Skip = fmt.Sprintf(skipBudget, MaxProbeTotal)
		default:
			n := min(limit, budget)
			a := p.Masked().Addr()
			last := netipx.PrefixLastIP(p)
			for {
				if !own[a] {
					if len(t.Addrs) == n {
						t.Truncated, t.OverBudget = true, n < limit
						break
					}
					t.Addrs = append(t.Addrs, a)
				}
				if a == last {
					break
				}
				a = a.Next()
			}
			budget -= len(t.Addrs)
		}
		out = append(out, t)
	}
	return out
}

func facing(p netip.Prefix, facts validate.Facts) string {
	// The service's rule first: the NIC whose subnet holds the range is
	// the one that answers for it, so the one to ask on.
	if plan := onlink.Assign([]netip.Prefix{p}, facts); len(plan.V4)+len(plan.V6) > 0 {
		return slices.Concat(plan.V4, plan.V6)[0].Iface
	}
	best, bits := "", -1
	for _, a := range facts.Addrs {
		s := a.Prefix.Masked()
		if s.Addr().Is4() != p.Addr().Is4() || s.Addr().IsLinkLocalUnicast() || !s.Overlaps(p) {
			continue
		}
		if s.Bits() > bits {
			best, bits = a.Iface, s.Bits()
		}
	}
	if best != "" {
		return best
	}
	for _, g := range facts.Gateways {
		if g.Prefix.Addr().Is4() == p.Addr().Is4() && g.Iface != "" {
			return g.Iface
		}
	}
	return ""
}

// Prober sends the probes; probe.ARP and probe.NDP in production.
type Prober struct {
	ARP, NDP func(ctx context.Context, iface string, targets []netip.Addr, o probe.Options) ([]probe.Reply, error)
	Options  probe.Options
}

// Probe is check 7: ask the link whether another host answers for an
// address of a range. Any answer means two machines claim the address.
func Probe(ctx context.Context, plan []ProbeTarget, pr Prober) Result {
	r := Result{Name: NameProbe}
	start := time.Now()
	type group struct {
		iface string
		v4    bool
	}
	var order []group
	targets := map[group][]netip.Addr{}
	rangeOf := map[netip.Addr]netip.Prefix{}
	var notes, errs, held []string
	probed, ifaces := 0, map[string]bool{}
	unprobed, unsafe, budget := 0, 0, 0
	for _, t := range plan {
		switch {
		case t.Skip != "":
			notes = append(notes, fmt.Sprintf("%s: not probed: %s", t.Range, t.Skip))
			unprobed++
			switch t.Skip {
			case skipUnsafe:
				unsafe++
			default:
				budget++
			}
			continue
		case t.Iface == "":
			notes = append(notes, fmt.Sprintf("%s: not probed: no interface faces it and there is no default route of its family", t.Range))
			unprobed++
			continue
		case t.OverBudget:
			notes = append(notes, fmt.Sprintf("%s: probed the first %d of its %s addresses (a run probes at most %d)", t.Range, len(t.Addrs), size(t.Range), MaxProbeTotal))
		case t.Truncated:
			notes = append(notes, fmt.Sprintf("%s: probed the first %d of its %s addresses (--probe-limit)", t.Range, len(t.Addrs), size(t.Range)))
		}
		g := group{t.Iface, t.Range.Addr().Is4()}
		if _, ok := targets[g]; !ok {
			order = append(order, g)
		}
		targets[g] = append(targets[g], t.Addrs...)
		for _, a := range t.Addrs {
			rangeOf[a] = t.Range
		}
		probed += len(t.Addrs)
		ifaces[t.Iface] = true
	}
	// The groups run at once, each interface's rate split between its
	// families, so a link never sees more than the rate and the run takes
	// as long as its largest group.
	perIface := map[string]int{}
	for _, g := range order {
		perIface[g.iface]++
	}
	type outcome struct {
		replies []probe.Reply
		err     error
	}
	outcomes := make([]outcome, len(order))
	var wg sync.WaitGroup
	for i, g := range order {
		send := pr.NDP
		if g.v4 {
			send = pr.ARP
		}
		o := pr.Options
		o.Rate = max(1, cmp.Or(o.Rate, probe.DefaultRate)/perIface[g.iface])
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies, err := send(ctx, g.iface, targets[g], o)
			outcomes[i] = outcome{replies, err}
		}()
	}
	wg.Wait()
	interrupted := ctx.Err() != nil
	for i, g := range order {
		for _, rep := range outcomes[i].replies {
			macs := make([]string, len(rep.MACs))
			for i, m := range rep.MACs {
				macs[i] = m.String()
			}
			how := "answered ARP"
			if !g.v4 {
				how = "answered neighbour solicitation"
			}
			held = append(held, fmt.Sprintf("%s (range %s) is held by %s: %s on %s", rep.Addr, rangeOf[rep.Addr], strings.Join(macs, ", "), how, rep.Iface))
		}
		if err := outcomes[i].err; err != nil && !interrupted {
			errs = append(errs, fmt.Sprintf("%s: %v", g.iface, err))
		}
	}
	elapsed := time.Since(start).Round(10 * time.Millisecond)
	names := make([]string, 0, len(ifaces))
	for n := range ifaces {
		names = append(names, n)
	}
	slices.Sort(names)
	r.Details = slices.Concat(held, errs, notes)
	on := strings.Join(names, ", ")
	switch {
	case len(held) > 0:
		r.Status = Fail
		r.Summary = fmt.Sprintf("%s of the ranges answered from another host (%d probed on %s in %v)", cli.Plural(len(held), "address"), probed, on, elapsed)
		if interrupted {
			r.Summary = fmt.Sprintf("%s of the ranges answered from another host before the probe was interrupted after %v", cli.Plural(len(held), "address"), elapsed)
		}
		r.Hint = "take these addresses out of the ranges (split the range), or free them: find the host by its MAC (switch or vCenter), and keep DHCP pools and static assignments out of the VIP ranges"
	case interrupted:
		r.Status = Error
		r.Summary = fmt.Sprintf("interrupted after %v, before every probe of %s on %s was sent and answered: no other host had answered yet", elapsed, cli.Plural(probed, "address"), on)
		r.Hint = "run the check again and let the probe finish (--probe-limit probes fewer addresses of each range)"
	case len(errs) > 0:
		r.Status = Error
		r.Summary = "could not probe: " + errs[0]
		r.Hint = "run the check as root (probes need CAP_NET_RAW)"
	case probed == 0 && unsafe > 0:
		r.Status = Warn
		r.Summary = "nothing probed: the ranges fail the safety check"
		if unsafe < len(plan) {
			r.Summary = fmt.Sprintf("nothing probed: %d of %d ranges fail the safety check, and no interface faces the others", unsafe, len(plan))
		}
		r.Hint = "fix the ranges the safety check names, then probe again"
	case probed == 0 && unprobed > 0:
		r.Status = Warn
		r.Summary = "nothing probed: no interface faces the ranges"
		r.Hint = "add a default route or an interface on the VIP network"
	case probed == 0:
		r.Status, r.Summary = Pass, "no ranges to probe"
	case unprobed > 0:
		r.Status = Warn
		r.Summary = fmt.Sprintf("no other host answered for %s on %s in %v, but not every range was probed (%d of %d were not)",
			cli.Plural(probed, "address"), on, elapsed, unprobed, len(plan))
		var todo []string
		if unsafe > 0 {
			todo = append(todo, "fix the ranges the safety check names")
		}
		if unprobed-unsafe-budget > 0 {
			todo = append(todo, "add a default route or an interface on the VIP network")
		}
		if budget > 0 {
			todo = append(todo, fmt.Sprintf("a run probes at most %d addresses: lower --probe-limit to reach every range", MaxProbeTotal))
		}
		r.Hint = strings.Join(todo, "; ")
	default:
		r.Status = Pass
		r.Summary = fmt.Sprintf("no other host answered for %s on %s in %v", cli.Plural(probed, "address"), on, elapsed)
	}
	return r
}

// size is a range's address count for messages: exact up to 2^63.
func size(p netip.Prefix) string {
	if n := ipx.Size(p); n < addrCap {
		return fmt.Sprint(n)
	}
	return "2^63 or more"
}

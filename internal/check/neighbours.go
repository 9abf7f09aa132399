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

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/ipx"
	"github.com/anyip/anyip/internal/probe"
	"github.com/anyip/anyip/internal/validate"
)

// DefaultProbeLimit is how many addresses of each range are probed.
const DefaultProbeLimit = 1024

// ProbeTarget is one range's share of a probe run.
type ProbeTarget struct {
	Range     netip.Prefix
	Iface     string // "" when no interface faces the range
	Addrs     []netip.Addr
	Truncated bool // the range has more addresses than the limit
}

// PlanProbes picks, for each range, the interface that faces it (the one
// whose subnet holds or overlaps it, the longest such subnet first; else
// the interface of the family's default route) and up to limit of its
// addresses, leaving out this system's own.
func PlanProbes(ranges []netip.Prefix, facts validate.Facts, limit int) []ProbeTarget {
	own := make(map[netip.Addr]bool, len(facts.Addrs))
	for _, a := range facts.Addrs {
		own[a.Prefix.Addr()] = true
	}
	var out []ProbeTarget
	for _, p := range ranges {
		t := ProbeTarget{Range: p, Iface: facing(p, facts)}
		a := p.Masked().Addr()
		last := ipx.Last(p)
		for n := 0; ; a = a.Next() {
			if !own[a] {
				if n == limit {
					t.Truncated = true
					break
				}
				t.Addrs = append(t.Addrs, a)
				n++
			}
			if a == last {
				break
			}
		}
		out = append(out, t)
	}
	return out
}

func facing(p netip.Prefix, facts validate.Facts) string {
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
	for _, t := range plan {
		if t.Iface == "" {
			notes = append(notes, fmt.Sprintf("%s: not probed: no interface faces it and there is no default route of its family", t.Range))
			continue
		}
		if t.Truncated {
			notes = append(notes, fmt.Sprintf("%s: probed the first %d of its %d addresses (--probe-limit)", t.Range, len(t.Addrs), ipx.Size(t.Range)))
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
		if err := outcomes[i].err; err != nil {
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
		r.Hint = "take these addresses out of the ranges (split the range), or free them: find the host by its MAC (switch or vCenter), and keep DHCP pools and static assignments out of the VIP ranges"
	case len(errs) > 0:
		r.Status = Error
		r.Summary = "could not probe: " + errs[0]
		r.Hint = "run the check as root (probes need CAP_NET_RAW)"
	case probed == 0 && len(notes) > 0:
		r.Status = Warn
		r.Summary = "nothing probed: no interface faces the ranges"
		r.Hint = "add a default route or an interface on the VIP network"
	case probed == 0:
		r.Status, r.Summary = Pass, "no ranges to probe"
	case len(notes) > 0 && slices.ContainsFunc(plan, func(t ProbeTarget) bool { return t.Iface == "" }):
		r.Status = Warn
		r.Summary = fmt.Sprintf("no other host answered for %s on %s in %v, but some ranges were not probed", cli.Plural(probed, "address"), on, elapsed)
		r.Hint = "add a default route or an interface on the VIP network"
	default:
		r.Status = Pass
		r.Summary = fmt.Sprintf("no other host answered for %s on %s in %v", cli.Plural(probed, "address"), on, elapsed)
	}
	return r
}

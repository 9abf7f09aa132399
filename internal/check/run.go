package check

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/haproxycfg"
	"github.com/anyip/anyip/internal/probe"
	"github.com/anyip/anyip/internal/routes"
	"github.com/anyip/anyip/internal/state"
	"github.com/anyip/anyip/internal/sysfacts"
	"github.com/anyip/anyip/internal/textfile"
	"github.com/anyip/anyip/internal/validate"
)

// Options are the inputs of a whole run.
type Options struct {
	Config     string // the ranges file
	ResolvConf string // name servers no range may contain
	// MinBits4 and MinBits6 bound range sizes as the service does.
	MinBits4, MinBits6 int

	// HAProxyConfig is the HAProxy configuration to check; "" for none.
	// When HAProxyOptional is set a missing file is a skip rather than an
	// error (the default path, on a machine without HAProxy).
	HAProxyConfig   string
	HAProxyOptional bool

	// ControlPlane are the control plane's VIP ranges; nil to skip.
	ControlPlane []Span

	// Probe asks the link about up to ProbeLimit addresses of each range.
	Probe        bool
	ProbeLimit   int
	ProbeOptions probe.Options

	Service ServiceOptions

	// DialTimeout bounds each TCP connection of the VIP check.
	DialTimeout time.Duration

	// NetworkDir holds first boot's networkd files, whose NICs, reply path
	// and backends the network checks compare with the kernel; "" skips
	// them. Kernel answers them (SystemKernel when nil).
	NetworkDir string
	Kernel     Kernel

	// StateDir holds first boot's record of its last applied run
	// (state.DefaultDir when empty).
	StateDir string
}

// Run runs the checklist on the running system.
func Run(ctx context.Context, o Options) *Report {
	if o.ProbeLimit <= 0 {
		o.ProbeLimit = DefaultProbeLimit
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 3 * time.Second
	}
	var rs []Result

	// 1. The file.
	data, err := textfile.ReadFile(o.Config, cfgfile.MaxSize)
	res, f := Config(o.Config, data, err)
	rs = append(rs, res)
	fileOK := res.Status == Pass || res.Status == Warn
	ranges := f.Prefixes()

	// 3. The safety net, first: a file it refuses is one the service
	// refuses whole, which the routes check's hint must know.
	facts, factsErr := sysfacts.Gather(o.ResolvConf)
	var unsafe func(netip.Prefix) bool
	var safe Result
	if factsErr != nil {
		safe = Result{Name: NameSafety, Status: Error, Summary: "cannot read the system's addresses, routes and name servers: " + factsErr.Error()}
	} else {
		safe, unsafe = safety(f, facts, o.MinBits4, o.MinBits6)
	}

	// 2. The table.
	cur, tableErr := listTable()
	if tableErr != nil {
		rs = append(rs, Result{Name: NameRoutes, Status: Error, Summary: "cannot read table local: " + tableErr.Error(),
			Hint: "run the check as root, on the appliance"})
	} else {
		res := Routes(f, cur, fileOK)
		if fileOK && safe.Status == Fail && res.Status == Fail {
			res.Hint = "the safety check refuses the file, and the service applies nothing from a refused file: fix the ranges it names; then `anyip-routes up --dry-run` says what `up` would do"
		}
		rs = append(rs, res)
	}
	rs = append(rs, safe)

	// 3b. Which NIC answers for which range on its link.
	if factsErr != nil {
		rs = append(rs, Result{Name: NameOnLink, Status: Error, Summary: "cannot read the interfaces' subnets: " + factsErr.Error()})
	} else {
		rs = append(rs, OnLink(ranges, facts))
	}

	// 4. HAProxy's binds.
	hc, res := readHAProxy(o)
	if hc != nil {
		sys := system(cur, tableErr == nil)
		sys.Unparsed, sys.Config = f.Unparsed, o.Config
		res = HAProxy(hc, ranges, sys)
	}
	rs = append(rs, res)

	// 5. The control plane.
	if o.ControlPlane == nil {
		rs = append(rs, Result{Name: NameControlPlane, Status: Skip, Summary: "not given (--control-plane-ranges)"})
	} else {
		rs = append(rs, ControlPlane(o.ControlPlane, f))
	}

	// 6. The service.
	rs = append(rs, unlessInterrupted(ctx, NameService, func() Result { return Service(ctx, o.Service) }))
	fo := o.Service.unit(FirstbootUnit, NameFirstboot, "the last first boot failed or refused the wizard's settings (its journal says which)", true)
	rs = append(rs, unlessInterrupted(ctx, NameFirstboot, func() Result {
		r := Service(ctx, fo)
		dir := o.StateDir
		if dir == "" {
			dir = state.DefaultDir
		}
		rec, err := state.Load(dir)
		if err != nil {
			r.Details = append(r.Details, "cannot read the record of the last run: "+err.Error())
			return r
		}
		return FirstbootRecord(r, rec, f, dir)
	}))
	ho := o.Service.unit(HAProxyUnit, NameHAProxyService, "no VIP is served", false)
	rs = append(rs, unlessInterrupted(ctx, NameHAProxyService, func() Result { return Service(ctx, ho) }))
	rs = append(rs, unlessInterrupted(ctx, NameJournal, func() Result { return Journal(ctx, o.Service) }))

	// 7. The neighbours. Probe says itself when it was interrupted, with
	// what it had heard by then.
	switch {
	case ctx.Err() != nil:
		rs = append(rs, interrupted(NameProbe))
	case !o.Probe:
		rs = append(rs, Result{Name: NameProbe, Status: Skip, Summary: "not asked for (--probe asks the link whether another host holds a range address)"})
	case factsErr != nil:
		rs = append(rs, Result{Name: NameProbe, Status: Error, Summary: "cannot pick the interfaces to probe on: " + factsErr.Error()})
	default:
		plan := PlanProbes(ranges, facts, o.ProbeLimit, unsafe)
		rs = append(rs, Probe(ctx, plan, Prober{ARP: probe.ARP, NDP: probe.NDP, Options: o.ProbeOptions}))
	}

	// 8. A VIP answers.
	if hc == nil {
		rs = append(rs, Result{Name: NameVIP, Status: Skip, Summary: "no HAProxy configuration to say which VIPs and ports to connect to"})
	} else {
		var routed func(netip.Prefix) bool
		if tableErr == nil {
			in := map[netip.Prefix]bool{}
			for _, p := range cur.Ours {
				in[p] = true
			}
			for _, r := range cur.Foreign {
				in[r.Prefix] = true
			}
			routed = func(p netip.Prefix) bool { return in[p] }
		}
		servable, left := Servable(ranges, unsafe, routed)
		targets, idle := PlanVIPs(hc, servable, avoidFor(facts))
		rs = append(rs, unlessInterrupted(ctx, NameVIP, func() Result { return VIP(ctx, targets, idle, left, probe.TCP, o.DialTimeout) }))
	}

	// 9-11. The network first boot wrote.
	rs = append(rs, networkChecks(o, ranges)...)
	return NewReport(rs)
}

func networkChecks(o Options, ranges []netip.Prefix) []Result {
	names := []string{NameNetwork, NameReplyPath, NameBackends}
	if o.NetworkDir == "" {
		var rs []Result
		for _, n := range names {
			rs = append(rs, Result{Name: n, Status: Skip, Summary: "not asked for"})
		}
		return rs
	}
	ws, err := ReadNetwork(o.NetworkDir)
	var rs []Result
	for _, n := range names {
		switch {
		case err != nil:
			rs = append(rs, Result{Name: n, Status: Error, Summary: "cannot read first boot's network files: " + err.Error()})
		case len(ws) == 0:
			rs = append(rs, skipNetwork(n, o.NetworkDir))
		}
	}
	if rs != nil {
		return rs
	}
	k := o.Kernel
	if k == nil {
		k = SystemKernel{}
	}
	return []Result{Network(ws, k), ReplyPath(ws, ranges, k), Backends(ws, k)}
}

// unlessInterrupted runs a check that talks to the system, unless the run
// was interrupted (Ctrl-C, SIGTERM) before it or while it ran: a systemctl
// or a connection cut short says nothing about the appliance.
func unlessInterrupted(ctx context.Context, name string, check func() Result) Result {
	if ctx.Err() != nil {
		return interrupted(name)
	}
	r := check()
	if ctx.Err() != nil {
		return interrupted(name)
	}
	return r
}

func interrupted(name string) Result {
	return Result{Name: name, Status: Error, Summary: "not run to the end: the check was interrupted",
		Hint: "run the check again and let it finish"}
}

// avoidFor reports the addresses the vip check never connects to: the
// default gateways and the name servers in use.
func avoidFor(f validate.Facts) func(netip.Addr) bool {
	var avoid []netip.Addr
	for _, g := range f.Gateways {
		avoid = append(avoid, g.Prefix.Addr())
	}
	avoid = append(avoid, f.Nameservers...)
	return func(a netip.Addr) bool { return slices.Contains(avoid, a) }
}

func listTable() (routes.Current, error) {
	t, err := routes.Open()
	if err != nil {
		return routes.Current{}, err
	}
	defer t.Close()
	return t.List()
}

// readHAProxy reads and parses the HAProxy configuration, or says why the
// check is skipped or failed.
func readHAProxy(o Options) (*haproxycfg.Config, Result) {
	r := Result{Name: NameHAProxy}
	if o.HAProxyConfig == "" {
		r.Status, r.Summary = Skip, "no HAProxy configuration given (--haproxy-config)"
		return nil, r
	}
	data, err := textfile.ReadFile(o.HAProxyConfig, haproxycfg.MaxSize)
	switch {
	case errors.Is(err, fs.ErrNotExist) && o.HAProxyOptional:
		r.Status, r.Summary = Skip, fmt.Sprintf("not configured: %s does not exist (--haproxy-config names another)", o.HAProxyConfig)
		return nil, r
	case errors.Is(err, textfile.ErrNotRegular) || errors.Is(err, textfile.ErrTooLarge):
		r.Status, r.Summary = Fail, err.Error()
		r.Hint = fmt.Sprintf("give HAProxy's configuration file, a regular file of at most %d MiB, with --haproxy-config", haproxycfg.MaxSize>>20)
		return nil, r
	case err != nil:
		r.Status, r.Summary = Error, fmt.Sprintf("cannot read the HAProxy configuration: %v", err)
		r.Hint = "give the right path with --haproxy-config, and run the check as root"
		return nil, r
	}
	hc, err := haproxycfg.Parse(o.HAProxyConfig, data)
	if err != nil {
		r.Status, r.Summary = Fail, err.Error()
		r.Hint = "give HAProxy's configuration file with --haproxy-config"
		return nil, r
	}
	return hc, r
}

// system describes what the host holds: addresses on every interface
// (loopback too) and the local routes on lo (AnyIP ranges, 127.0.0.0/8).
func system(cur routes.Current, haveTable bool) System {
	var assigned []netip.Addr
	if ifaces, err := net.Interfaces(); err == nil {
		for _, ifi := range ifaces {
			addrs, err := ifi.Addrs()
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						assigned = append(assigned, ip.Unmap())
					}
				}
			}
		}
	}
	s := System{
		Assigned:      func(a netip.Addr) bool { return slices.Contains(assigned, a.WithZone("")) },
		NonlocalBind4: sysctlOn("/proc/sys/net/ipv4/ip_nonlocal_bind"),
		NonlocalBind6: sysctlOn("/proc/sys/net/ipv6/ip_nonlocal_bind"),
	}
	if haveTable {
		routed := slices.Clone(cur.Ours)
		for _, r := range cur.Foreign {
			routed = append(routed, r.Prefix)
		}
		s.Routed = func(a netip.Addr) bool { return inside(routed, a) }
	}
	return s
}

func sysctlOn(path string) bool {
	b, err := textfile.ReadFile(path, 64)
	return err == nil && strings.TrimSpace(string(b)) != "0"
}

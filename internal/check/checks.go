package check

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strings"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/haproxycfg"
	"github.com/anyip/anyip/internal/ipx"
	"github.com/anyip/anyip/internal/routes"
	"github.com/anyip/anyip/internal/textfile"
	"github.com/anyip/anyip/internal/validate"
	"go4.org/netipx"
)

// Config is check 1: the ranges file reads and parses. data and readErr
// are what reading path gave. It returns the parsed file (empty when it
// could not be read) for the checks that follow.
func Config(path string, data []byte, readErr error) (Result, *cfgfile.File) {
	r := Result{Name: NameConfig}
	empty := &cfgfile.File{Path: path}
	switch {
	case errors.Is(readErr, fs.ErrNotExist):
		r.Status, r.Summary = Fail, path+" does not exist"
		r.Hint = cfgfile.MissingHint
		return r, empty
	case errors.Is(readErr, textfile.ErrNotRegular) || errors.Is(readErr, textfile.ErrTooLarge):
		r.Status, r.Summary = Fail, readErr.Error()
		r.Hint = fmt.Sprintf("make it a regular file of at most %d MiB with one range (CIDR) a line; a symlink must point at one", cfgfile.MaxSize>>20)
		return r, empty
	case readErr != nil:
		r.Status, r.Summary = Error, fmt.Sprintf("cannot read %s: %v", path, readErr)
		r.Hint = "run the check as root"
		return r, empty
	}
	f, fs := cfgfile.Parse(path, data)
	r.Details, r.More = findingDetails(fs)
	v4, v6 := 0, 0
	for _, p := range f.Prefixes() {
		if p.Addr().Is4() {
			v4++
		} else {
			v6++
		}
	}
	count := fmt.Sprintf("%s (%d IPv4, %d IPv6)", cli.Plural(v4+v6, "range"), v4, v6)
	errs, warns := fs.Count()
	switch {
	case errs > 0:
		r.Status = Fail
		r.Summary = fmt.Sprintf("%s: %s do not parse", path, cli.Plural(errs, "line"))
		if errs == 1 {
			r.Summary = path + ": 1 line does not parse"
		}
		if warns > 0 {
			r.Summary += fmt.Sprintf(", and %s (listed after the errors)", cli.Plural(warns, "warning"))
		}
		r.Hint = "fix or delete the lines above: until then the service applies nothing from the file"
	case warns > 0:
		r.Status, r.Summary = Warn, fmt.Sprintf("%s: %s, %s", path, count, cli.Plural(warns, "warning"))
		r.Hint = "tidy the lines above"
	case v4+v6 == 0:
		r.Status, r.Summary = Warn, path+": no ranges: HAProxy can bind no VIP"
		r.Hint = "add the VIP ranges, one CIDR a line"
	default:
		r.Status, r.Summary = Pass, path+": "+count
	}
	return r, f
}

// Routes is check 2: every range of the file is a local route on lo in
// table local, and no route of ours is left that the file no longer has.
// A range present as a route of another protocol (left by the old shell
// service) or as a kernel route counts as present; the details say which.
// fileOK is false when the file has errors, which the service refuses
// whole.
func Routes(f *cfgfile.File, cur routes.Current, fileOK bool) Result {
	r := Result{Name: NameRoutes}
	plan := routes.Diff(f.Prefixes(), cur)
	line := make(map[netip.Prefix]int, len(f.Entries))
	for _, e := range f.Entries {
		line[e.Prefix] = e.Line
	}
	where := func(p netip.Prefix) string {
		if n := line[p]; n > 0 {
			return fmt.Sprintf("%s (%s)", p, f.Where(n))
		}
		return p.String()
	}
	proto := func(p netip.Prefix) string {
		for _, fr := range cur.Foreign {
			if fr.Prefix == p {
				return routes.ProtoString(fr.Protocol)
			}
		}
		return "?"
	}
	for _, p := range plan.Add {
		r.Details = append(r.Details, where(p)+": no local route on lo in table local: its addresses are not answered")
	}
	for _, p := range plan.Delete {
		r.Details = append(r.Details, fmt.Sprintf("%s: a route of ours (proto %s) that the file no longer has: the appliance still answers for it", p, routes.ProtocolName))
	}
	for _, p := range plan.Adopt {
		r.Details = append(r.Details, fmt.Sprintf("%s: present as proto %s (left by the old service or added by hand), not yet ours; `anyip-routes up` adopts it", where(p), proto(p)))
	}
	for _, p := range plan.Kernel {
		r.Details = append(r.Details, fmt.Sprintf("%s: present as a kernel route (an address on lo)", where(p)))
	}
	// Local routes on lo the file does not list make the appliance answer
	// for their addresses too, silently: worth a warning, not a failure
	// (127.0.0.0/8 and the kernel's own are not counted).
	listed := make(map[netip.Prefix]bool, len(f.Entries))
	for _, e := range f.Entries {
		listed[e.Prefix] = true
	}
	var strays []string
	for _, fr := range cur.Foreign {
		if fr.Protocol == routes.ProtoKernel || listed[fr.Prefix] || fr.Prefix.Addr().IsLoopback() {
			continue
		}
		strays = append(strays, fr.Prefix.String())
		r.Details = append(r.Details, fmt.Sprintf("%s: a local route on lo (proto %s) that the file does not list: the appliance answers for its addresses", fr.Prefix, routes.ProtoString(fr.Protocol)))
	}
	strayHint := ""
	if len(strays) > 0 {
		strayHint = fmt.Sprintf("if the appliance should not answer for %s, remove the route (`ip route del local %s dev lo table local`); if it should, add it to the ranges file", strings.Join(strays, ", "), strays[0])
	}
	present := len(plan.Keep) + len(plan.Adopt) + len(plan.Kernel)
	total := present + len(plan.Add)
	var how []string
	for _, c := range []struct {
		n    int
		what string
	}{{len(plan.Keep), "proto " + routes.ProtocolName}, {len(plan.Adopt), "another protocol"}, {len(plan.Kernel), "kernel"}} {
		if c.n > 0 {
			how = append(how, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	if len(plan.Add) == 0 && len(plan.Delete) == 0 {
		r.Status = Pass
		r.Summary = fmt.Sprintf("%d of %s in table local", present, cli.Plural(total, "range"))
		if len(how) > 0 {
			r.Summary += " (" + strings.Join(how, ", ") + ")"
		}
		if len(strays) > 0 {
			r.Status, r.Hint = Warn, strayHint
			r.Summary += fmt.Sprintf("; %s on lo not in the file", cli.Plural(len(strays), "local route"))
		}
		return r
	}
	r.Status = Fail
	var what []string
	if n := len(plan.Add); n > 0 {
		what = append(what, fmt.Sprintf("%d of %s missing from table local", n, cli.Plural(total, "range")))
	}
	if n := len(plan.Delete); n > 0 {
		what = append(what, fmt.Sprintf("%s of ours no longer in the file", cli.Plural(n, "route")))
	}
	r.Summary = strings.Join(what, ", ")
	r.Hint = "run `anyip-routes up` to bring the table in line with the file, and see why the service did not (service check, journalctl -u anyip-routes.service)"
	if !fileOK {
		r.Hint = "fix the file first (config check): the service applies nothing from a file with errors; then run `anyip-routes up`"
	}
	return r
}

// Safety is check 3, the safety net first boot and the service apply
// too: no range holds a default gateway, a name server in use or an
// address on a non-loopback interface, no ranges overlap, and none is
// special-use space or absurdly large.
func Safety(f *cfgfile.File, facts validate.Facts, minBits4, minBits6 int) Result {
	r, _ := safety(f, facts, minBits4, minBits6)
	return r
}

// safety is Safety, and also reports which ranges it refuses: those are
// never probed.
func safety(f *cfgfile.File, facts validate.Facts, minBits4, minBits6 int) (Result, func(netip.Prefix) bool) {
	r := Result{Name: NameSafety}
	fs := validate.Against{Facts: facts, MinBits4: minBits4, MinBits6: minBits6}.File(f)
	at := make(map[string]netip.Prefix, len(f.Entries))
	for _, e := range f.Entries {
		at[f.Where(e.Line)] = e.Prefix
	}
	refused := map[netip.Prefix]bool{}
	for _, x := range fs {
		if p, ok := at[x.Where]; ok && x.Severity == finding.Error {
			refused[p] = true
		}
	}
	unsafe := func(p netip.Prefix) bool { return refused[p] }
	r.Details, r.More = findingDetails(fs)
	errs, warns := fs.Count()
	against := fmt.Sprintf("%s, %s, %s",
		cli.Plural(len(facts.Gateways), "default gateway"), cli.Plural(len(facts.Nameservers), "name server"),
		cli.Plural(len(facts.Addrs), "interface address"))
	switch {
	case errs > 0:
		r.Status = Fail
		r.Summary = fmt.Sprintf("%s: a range takes addresses the network needs (checked against %s)", counted(errs, warns), against)
		r.Hint = "shrink or split the range so it leaves these addresses out: an appliance answering for a gateway, a name server or another host's address takes it off the network"
	case warns > 0:
		r.Status = Warn
		r.Summary = fmt.Sprintf("no range holds a gateway, name server or interface address; %s", cli.Plural(warns, "warning"))
		r.Hint = "see the warnings above"
	default:
		r.Status = Pass
		r.Summary = fmt.Sprintf("no range holds a gateway, name server or interface address, none overlap (checked against %s)", against)
	}
	return r, unsafe
}

// System is what the HAProxy check needs to know about the host.
type System struct {
	// Assigned reports whether an address is on an interface (loopback
	// included): binding it always works.
	Assigned func(netip.Addr) bool
	// Routed reports whether a local route on lo covers an address (an
	// AnyIP range, 127.0.0.0/8); nil when the table could not be read.
	// IPv4 binds such an address; IPv6 does not, unless non-local binds
	// are allowed.
	Routed func(netip.Addr) bool
	// NonlocalBind4 and NonlocalBind6 are net.ipv4.ip_nonlocal_bind and
	// net.ipv6.ip_nonlocal_bind: binding any address succeeds.
	NonlocalBind4, NonlocalBind6 bool
	// Unparsed are the ranges file's lines that do not parse but name a
	// range, and Config the file: an address inside one is named with
	// its line rather than as "outside every range".
	Unparsed []cfgfile.Unparsed
	Config   string
}

// HAProxy is check 4: every bind address of every frontend and listen
// section lies inside a range of the file, is held by the system, or is a
// wildcard, and HAProxy can bind it. Two kernel rules decide the last
// part: an IPv4 address inside a local route binds, an IPv6 one binds only
// when assigned to an interface, or with net.ipv6.ip_nonlocal_bind=1 or
// the bind option `transparent`. Addresses outside every range that bind
// only thanks to `transparent` or ip_nonlocal_bind warn: HAProxy starts,
// but no traffic for them arrives.
func HAProxy(hc *haproxycfg.Config, ranges []netip.Prefix, sys System) Result {
	r := Result{Name: NameHAProxy}
	var fails, warns []string
	// What failed, for a hint that speaks of these failures only.
	var malformed, outside, unparsed, ipv6Bind bool
	failing := map[string]bool{} // frontends that would not bind
	var failOrder []string
	nAddrs, nSockets := 0, 0
	for _, b := range hc.Binds {
		section := finding.Clip(b.Section.String())
		fe := fmt.Sprintf("%s (%s:%d)", section, hc.Path, b.Line)
		fail := func(msg string) {
			fails = append(fails, fe+": "+msg)
			if !failing[section] {
				failing[section] = true
				failOrder = append(failOrder, section)
			}
		}
		if b.Err != nil {
			malformed = true
			fail(fmt.Sprintf("%q: %v", finding.Clip(b.Text), b.Err))
			continue
		}
		for _, a := range b.Addrs {
			nAddrs++
			switch a.Kind {
			case haproxycfg.Socket:
				nSockets++
				continue
			case haproxycfg.Invalid:
				malformed = true
				fail(fmt.Sprintf("bind %v", a.Err))
				continue
			case haproxycfg.Unresolved:
				warns = append(warns, fmt.Sprintf("%s: cannot check %q, an %s resolved only when HAProxy starts: make sure it is inside a range", fe, finding.Clip(a.Text), a.Reason))
				continue
			case haproxycfg.Wildcard:
				continue
			}
			if b.Namespace != "" {
				warns = append(warns, fmt.Sprintf("%s: %s binds in network namespace %q, which this check does not see", fe, a.Text, finding.Clip(b.Namespace)))
				continue
			}
			ap := addrPort(a)
			if sys.Assigned != nil && sys.Assigned(a.IP) {
				continue
			}
			v6 := a.IP.Is6()
			nonlocal, knob := sys.NonlocalBind4, "net.ipv4.ip_nonlocal_bind=1"
			if v6 {
				nonlocal, knob = sys.NonlocalBind6, "net.ipv6.ip_nonlocal_bind=1"
			}
			freebind := nonlocal || b.Transparent
			inRange := inside(ranges, a.IP)
			routed := sys.Routed != nil && sys.Routed(a.IP)
			switch {
			case inRange && v6 && !freebind:
				ipv6Bind = true
				fail(fmt.Sprintf("%s is inside a range, but the kernel binds an IPv6 address only when it is assigned to an interface, not when it is routed to lo (AnyIP): cannot bind", ap))
			case inRange && sys.Routed != nil && !routed:
				warns = append(warns, fmt.Sprintf("%s: %s is inside a range whose route is missing (routes check): HAProxy cannot bind it until the route is back", fe, ap))
			case inRange:
				// AnyIP: binds, and traffic arrives.
			case routed && !v6:
				// Inside another local route on lo (127.0.0.0/8, a
				// route added by hand): binds.
			case b.Transparent:
				warns = append(warns, fmt.Sprintf("%s: %s is outside every range; HAProxy will bind it (option transparent) but no traffic for it arrives here", fe, ap))
			case nonlocal:
				warns = append(warns, fmt.Sprintf("%s: %s is outside every range; HAProxy will bind it (%s) but no traffic for it arrives here", fe, ap, knob))
			default:
				if e, ok := holding(sys.Unparsed, a.IP); ok {
					unparsed = true
					fail(fmt.Sprintf("%s is inside %s, the range of %s:%d, which does not parse (config check): cannot bind until that line is fixed", ap, e, sys.Config, e.Line))
					continue
				}
				outside = true
				fail(fmt.Sprintf("%s is outside every range and not held by this system: cannot bind", ap))
			}
		}
	}
	r.Details = append(fails, warns...)
	frontends := len(hc.Sections)
	switch {
	case nAddrs == 0 && len(fails) == 0:
		r.Status = Pass
		r.Summary = fmt.Sprintf("%s: no frontend or listen section binds an address", hc.Path)
	case len(fails) > 0:
		r.Status = Fail
		r.Summary = fmt.Sprintf("%s of %d would fail to bind, so HAProxy will not start: %s",
			cli.Plural(len(failOrder), "frontend"), frontends, strings.Join(failOrder, ", "))
		var todo []string
		if unparsed {
			todo = append(todo, "fix the ranges file's lines named above (config check)")
		}
		if outside {
			todo = append(todo, "add a range holding the addresses outside every range to the ranges file, or move those frontends to a VIP inside a range")
		}
		if malformed {
			todo = append(todo, "fix or remove the malformed bind lines")
		}
		if ipv6Bind {
			todo = append(todo, "for the IPv6 VIPs inside a range set net.ipv6.ip_nonlocal_bind=1 (a file in /etc/sysctl.d/), or add `transparent` to their bind lines")
		}
		r.Hint = strings.Join(todo, "; ")
	case len(warns) > 0:
		r.Status = Warn
		r.Summary = fmt.Sprintf("%s: %s to look at", hc.Path, cli.Plural(len(warns), "bind address"))
		r.Hint = "put these frontends on VIPs inside a range (or add a range), so traffic for them reaches this appliance"
	default:
		r.Status = Pass
		r.Summary = fmt.Sprintf("%s: %s in %s bind inside a range, on a held address or a wildcard",
			hc.Path, cli.Plural(nAddrs-nSockets, "address"), cli.Plural(frontends, "frontend"))
		if nSockets > 0 {
			r.Summary += fmt.Sprintf(" (%s not IP, skipped)", cli.Plural(nSockets, "socket"))
		}
	}
	return r
}

// counted says how many errors and warnings a list holds, and that
// errors come first (findingDetails) when there are both.
func counted(errs, warns int) string {
	if warns == 0 {
		return cli.Plural(errs, "error")
	}
	return fmt.Sprintf("%s, %s (errors first)", cli.Plural(errs, "error"), cli.Plural(warns, "warning"))
}

// holding returns the first line whose range holds a.
func holding(es []cfgfile.Unparsed, a netip.Addr) (cfgfile.Unparsed, bool) {
	for _, e := range es {
		if e.Meant.Contains(a) {
			return e, true
		}
	}
	return cfgfile.Unparsed{}, false
}

func addrPort(a haproxycfg.Addr) string {
	ap := netip.AddrPortFrom(a.IP, a.FirstPort).String()
	if a.LastPort != a.FirstPort {
		ap += fmt.Sprintf("-%d", a.LastPort)
	}
	return ap
}

// inside reports whether a range holds a.
func inside(ranges []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(ranges, func(p netip.Prefix) bool { return p.Contains(a) })
}

// Span is one entry of the control plane's "IP Address Ranges for Virtual
// Servers": a CIDR or first-last.
type Span struct {
	Range netipx.IPRange
	Text  string // as given
}

// ParseSpans reads a comma-separated list of CIDRs, first-last ranges
// and single addresses.
func ParseSpans(s string) ([]Span, error) {
	var out []Span
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		sp := Span{Text: part}
		shown := finding.Clip(part)
		switch {
		case strings.Contains(part, "/"):
			// The ranges file's reader, so a mistake reads the same here.
			p, err := ipx.Syntax{Masked: true}.Parse(part)
			if err != nil {
				return nil, fmt.Errorf("%q %v", shown, err)
			}
			sp.Range = netipx.RangeOfPrefix(p)
		case strings.Contains(part, "-"):
			from, to, err := ipx.ParseRange(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not a range: %s", shown, finding.Clip(err.Error()))
			}
			if from.Zone() != "" || to.Zone() != "" {
				return nil, fmt.Errorf("%q: addresses with a zone are not VIPs", shown)
			}
			sp.Range = netipx.IPRangeFrom(from.Unmap(), to.Unmap())
		default:
			a, err := netip.ParseAddr(part)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is neither a CIDR, a first-last range nor an address", shown)
			}
			sp.Range = netipx.IPRangeFrom(a.Unmap(), a.Unmap())
		}
		if !sp.Range.IsValid() {
			return nil, fmt.Errorf("%q is not a range of one address family", shown)
		}
		out = append(out, sp)
	}
	if len(out) == 0 {
		return nil, errors.New("the list is empty")
	}
	return out, nil
}

// Outside returns the parts of r that no prefix of ranges holds, in order.
func Outside(r netipx.IPRange, ranges []netip.Prefix) []netipx.IPRange {
	var b netipx.IPSetBuilder
	b.AddRange(r)
	for _, p := range ranges {
		b.RemovePrefix(p.Masked())
	}
	s, err := b.IPSet()
	if err != nil {
		// Only an invalid prefix makes the builder complain; the file's
		// prefixes are parsed, so this is a bug, not input.
		panic(err)
	}
	return s.Ranges()
}

// addrCap is where address counts saturate: 2^63, so sums of
// ipx.Size stay exact below it and never wrap.
const addrCap = uint64(1) << 63

func addAddrs(a, b uint64) uint64 {
	if a >= addrCap-min(b, addrCap) {
		return addrCap
	}
	return a + b
}

// ControlPlane is check 5: every address the control plane may hand out as
// a VIP lies inside a range of the file; otherwise the first virtual server
// on one makes HAProxy fail to bind.
func ControlPlane(spans []Span, f *cfgfile.File) Result {
	r := Result{Name: NameControlPlane}
	ranges := f.Prefixes()
	var missing []netip.Prefix
	total := 0
	var addrs uint64
	for _, s := range spans {
		for _, gap := range Outside(s.Range, ranges) {
			cover := gap.Prefixes()
			missing = append(missing, cover...)
			total++
			for _, p := range cover {
				addrs = addAddrs(addrs, ipx.Size(p))
			}
			d := fmt.Sprintf("%s: %s is outside every range", finding.Clip(s.Text), spanString(gap))
			if len(cover) <= 4 {
				d += " (" + ipx.FormatPrefixes(cover) + ")"
			} else {
				d += fmt.Sprintf(" (%s and %d more prefixes)", ipx.FormatPrefixes(cover[:4]), len(cover)-4)
			}
			r.Details = append(r.Details, d)
		}
	}
	if total == 0 {
		r.Status = Pass
		r.Summary = fmt.Sprintf("%s of the control plane inside the file's ranges", cli.Plural(len(spans), "range"))
		return r
	}
	r.Status = Fail
	n := fmt.Sprint(addrs)
	if addrs >= addrCap {
		n = "2^63 or more"
	}
	if addrs == 1 {
		r.Summary = "1 address the control plane may hand out as a VIP lies outside the file's ranges: HAProxy cannot bind it"
	} else {
		r.Summary = n + " addresses the control plane may hand out as VIPs lie outside the file's ranges: HAProxy cannot bind them"
	}
	if len(missing) <= 8 {
		r.Hint = "add " + ipx.FormatPrefixes(missing) + " to the ranges file (and to the appliance's vApp ranges), or shrink the control plane's ranges to the file's"
	} else {
		r.Hint = "add the prefixes above to the ranges file (and to the appliance's vApp ranges), or shrink the control plane's ranges to the file's"
	}
	return r
}

func spanString(r netipx.IPRange) string {
	if r.From() == r.To() {
		return r.From().String()
	}
	return r.String()
}

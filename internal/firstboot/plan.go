package firstboot

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/validate"
)

// Plan is what a run would do, decided without touching anything.
type Plan struct {
	// Findings are every problem found; an error refuses the parts that
	// read its key (Refused), and the others go on.
	Findings finding.List
	Refused  map[string]bool
	// RangesWhy says why the ranges are refused when a NIC's or the name
	// servers' key leaves them unchecked (parts.go, refused).
	RangesWhy string
	// Hash identifies the non-secret properties (never a secret: a hash
	// of a short password is a guessing oracle).
	Hash string
	// Cfg is the ranges file to write; CfgChanged says whether it differs
	// from the file as it is. Unset when the ranges are refused.
	Cfg        []byte
	CfgChanged bool
	// Gained and Lost are the ranges the file gains and loses.
	Gained, Lost []netip.Prefix
	// Desired are the ranges the table must hold: the file's, sorted.
	Desired []netip.Prefix
	// Block are the vApp ranges the file's first-boot block holds once
	// it is written (those of a migrated file left out are not).
	Block []netip.Prefix
	// Network is what the host name, resolver and NIC parts write.
	Network NetworkPlan
	// Migrated is what the ranges part leaves out of its block of a file
	// taken over from the old appliance (migrate.go), recorded with the run.
	Migrated *Migration
	// Wizard is what the root password, SSH, Data Plane API and CA parts
	// write.
	Wizard WizardPlan
}

// MakePlan checks the wizard's configuration and the ranges file against
// the system, and renders what each part that is not refused writes. It is
// pure.
func MakePlan(w *Wizard, sys System, o Options) Plan {
	p := Plan{Hash: w.Props.Hash()}
	unchecked := w.Config.Unchecked()
	cfg, fs := cfgfile.Parse(o.Config, sys.Cfg)
	p.Findings = append(append(slices.Clip(w.Findings), sys.CfgRefused...), fs...)
	if o.Early {
		// Before the network starts there is nothing to check the ranges
		// against: the NICs' rules cover every range given, and the run
		// once the network is online writes them for the ranges it accepts.
		p.Refused = refused(p.Findings, o.Config, unchecked)
		p.Refused[PartRanges] = true
		p.Network = PlanNetwork(w, append(cfg.Prefixes(), w.Config.ServiceRanges...), p.Refused)
		return p
	}
	p.Findings = append(p.Findings, CheckNICs(w, sys.Links)...)
	// A set, not slices.Contains: an environment may list 300,000 ranges.
	wizard := make([]netip.Prefix, 0, len(w.Config.ServiceRanges))
	inWizard := make(map[netip.Prefix]bool, len(w.Config.ServiceRanges))
	for _, r := range w.Config.ServiceRanges {
		if !inWizard[r] {
			inWizard[r] = true
			wizard = append(wizard, r)
		}
	}
	leftOut, mfs, mig := migrate(cfg, wizard, sys.OldFirstBoot, sys.Migrated)
	wizard = slices.DeleteFunc(wizard, func(r netip.Prefix) bool { return leftOut[r] })
	managed := slices.DeleteFunc(w.Config.Ranges(), func(r validate.Range) bool { return leftOut[r.Prefix] })
	against := validate.Against{Facts: sys.Facts, Own: w.Config.Rules(), MinBits4: o.MinBits4, MinBits6: o.MinBits6}
	p.Findings = append(p.Findings, against.Rewrite(cfg, managed)...)
	p.Findings = append(p.Findings, mfs...)
	p.Refused = refused(p.Findings, o.Config, unchecked)

	// The NICs' rules follow the ranges the file will hold, or, when the
	// ranges are refused, those it holds now.
	rules := cfg.Prefixes()
	if !p.Refused[PartRanges] {
		data, desired := cfg.Rewrite(wizard)
		if len(data) > cfgfile.MaxSize {
			// The next read would refuse it: refuse it now.
			p.Findings = append(p.Findings, finding.Errorf(o.Config, "", fmt.Sprintf("list fewer or larger ranges: the file may hold %d MiB", cfgfile.MaxSize>>20),
				"with the wizard's %d ranges the file would be %d bytes, more than it may hold", len(wizard), len(data)))
			p.Refused = refused(p.Findings, o.Config, unchecked)
		} else {
			p.Migrated = mig
			p.Cfg, p.Desired, p.Block = data, desired, wizard
			p.CfgChanged = !bytes.Equal(sys.Cfg, p.Cfg)
			p.Gained, p.Lost = diff(cfg.Prefixes(), p.Desired)
			rules = p.Desired
			p.Findings = append(p.Findings, nonlocalBind6(p.Desired, sys.NonlocalBind6)...)
		}
	}
	if p.Refused[PartRanges] {
		p.RangesWhy = uncheckedWhy(unchecked)
	}
	p.Network = PlanNetwork(w, rules, p.Refused)
	name := w.Config.Hostname
	if name == "" {
		name = defaultHostname
	}
	p.Wizard = PlanWizard(w.Config, name)
	return p
}

// nonlocalBind6 warns when IPv6 ranges are to be served but the kernel
// would not let HAProxy bind their addresses: an IPv6 address only routed
// to lo binds only with net.ipv6.ip_nonlocal_bind=1 (or `transparent`).
func nonlocalBind6(ranges []netip.Prefix, on bool) finding.List {
	if on {
		return nil
	}
	n, first := 0, netip.Prefix{}
	for _, r := range ranges {
		if r.Addr().Is6() {
			if n == 0 {
				first = r
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	what := "1 IPv6 range"
	if n > 1 {
		what = fmt.Sprintf("%d IPv6 ranges", n)
	}
	return finding.List{finding.Warnf(appliance.KeyServiceRanges, first.String(),
		"set net.ipv6.ip_nonlocal_bind = 1 (make install ships it in /usr/lib/sysctl.d/60-anyip.conf; `sysctl --system` applies it now), or give HAProxy's bind lines the option transparent",
		"%s to serve, but net.ipv6.ip_nonlocal_bind is 0: HAProxy cannot bind an IPv6 VIP only routed to lo (\"cannot bind socket\") and will not start", what)}
}

// diff returns what next has that prev lacks, and the reverse.
func diff(prev, next []netip.Prefix) (gained, lost []netip.Prefix) {
	in := func(ps []netip.Prefix) map[netip.Prefix]bool {
		m := make(map[netip.Prefix]bool, len(ps))
		for _, p := range ps {
			m[p] = true
		}
		return m
	}
	o, n := in(prev), in(next)
	for _, p := range next {
		if !o[p] {
			gained = append(gained, p)
		}
	}
	for _, p := range prev {
		if !n[p] {
			lost = append(lost, p)
		}
	}
	return gained, lost
}

package firstboot

import (
	"bytes"
	"net/netip"
	"slices"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/validate"
)

// Plan is what a run would do, decided without touching anything.
type Plan struct {
	// Findings are every problem found; any error means nothing applies.
	Findings finding.List
	// Hash identifies the non-secret properties (never a secret: a hash
	// of a short password is a guessing oracle).
	Hash string
	// Cfg is the ranges file to write; CfgChanged says whether it differs
	// from the file as it is.
	Cfg        []byte
	CfgChanged bool
	// Gained and Lost are the ranges the file gains and loses.
	Gained, Lost []netip.Prefix
	// Desired are the ranges the table must hold: the file's, sorted.
	Desired []netip.Prefix
}

// MakePlan checks the wizard's configuration and the ranges file against
// the system and, when all is well, renders the file to write. It is pure.
func MakePlan(w *Wizard, sys System, o Options) Plan {
	p := Plan{Hash: w.Props.Hash()}
	cfg, fs := cfgfile.Parse(o.Config, sys.Cfg)
	p.Findings = append(slices.Clip(w.Findings), fs...)
	against := validate.Against{Facts: sys.Facts, Own: w.Config.Rules(), MinBits4: o.MinBits4, MinBits6: o.MinBits6}
	p.Findings = append(p.Findings, against.Rewrite(cfg, w.Config.Ranges())...)
	if p.Findings.HasErrors() {
		return p
	}

	wizard := make([]netip.Prefix, 0, len(w.Config.ServiceRanges))
	for _, r := range w.Config.ServiceRanges {
		if !slices.Contains(wizard, r) {
			wizard = append(wizard, r)
		}
	}
	p.Cfg, p.Desired = cfg.Rewrite(wizard)
	p.CfgChanged = !bytes.Equal(sys.Cfg, p.Cfg)
	p.Gained, p.Lost = diff(cfg.Prefixes(), p.Desired)
	return p
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

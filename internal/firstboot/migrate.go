package firstboot

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/state"
)

// Migration is what first boot left out of its block when it took the old
// appliance's ranges file over (state.Migration).
type Migration = state.Migration

// migrate decides which of the wizard's ranges stay out of the block of a
// file the old appliance's first boot wrote. That first boot appended the
// wizard's ranges as plain lines, and they were the operator's to edit from
// then on: a range they deleted stays deleted, and one they widened (a /26
// to a /25) is satisfied by the wider line. Both are warnings, not errors,
// as long as the property says what it said at the migration; once it is
// changed in vCenter the property wins again. It is pure.
func migrate(cfg *cfgfile.File, wizard []netip.Prefix, old bool, prior *Migration) (out map[netip.Prefix]bool, fs finding.List, rec *Migration) {
	value := canonicalRanges(wizard)
	var left []netip.Prefix
	// Sets, not slices.Contains: both lists may be long.
	switch {
	case old && cfg.Begin == 0 && len(cfg.Entries) > 0:
		inFile := make(map[netip.Prefix]bool, len(cfg.Entries))
		for _, e := range cfg.Entries {
			inFile[e.Prefix] = true
		}
		for _, r := range wizard {
			if !inFile[r.Masked()] {
				left = append(left, r)
			}
		}
		rec = &Migration{ServiceIPRange: value, LeftOut: prefixStrings(left)}
	case prior != nil && prior.ServiceIPRange == value:
		was := make(map[string]bool, len(prior.LeftOut))
		for _, l := range prior.LeftOut {
			was[l] = true
		}
		for _, r := range wizard {
			if was[r.Masked().String()] {
				left = append(left, r)
			}
		}
		rec = prior
	default:
		return nil, nil, nil
	}
	out = map[netip.Prefix]bool{}
	for _, r := range left {
		out[r] = true
		i := slices.IndexFunc(cfg.Entries, func(e cfgfile.Entry) bool {
			return !e.Managed && e.Prefix.Bits() < r.Bits() && e.Prefix.Contains(r.Addr())
		})
		if i >= 0 {
			e := cfg.Entries[i]
			fs = append(fs, finding.Warnf(appliance.KeyServiceRanges, r.String(),
				fmt.Sprintf("change loadbalance.service_ip_range in vCenter to %s to match the file", e.Prefix),
				"%s is within %s (%s), widened by hand on the old appliance: the wider line is kept and serves it", r, e.Prefix, cfg.Where(e.Line)))
			continue
		}
		fs = append(fs, finding.Warnf(appliance.KeyServiceRanges, r.String(),
			"remove it from loadbalance.service_ip_range in vCenter, or add it back to the ranges file by hand",
			"%s was deleted by hand from %s on the old appliance; it stays deleted", r, cfg.Path))
	}
	return out, fs, rec
}

// canonicalRanges is the ranges as one comparable string.
func canonicalRanges(ps []netip.Prefix) string {
	ss := prefixStrings(ps)
	slices.Sort(ss)
	return strings.Join(slices.Compact(ss), ",")
}

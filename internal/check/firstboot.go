package check

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/state"
)

// FirstbootRecord adds to the firstboot item what the state record of the
// last applied run says: when it ran, the parts it refused, and whether
// the file's first-boot block still holds what it wrote. A range typed
// into the block by hand goes at the next boot, which rewrites the block
// from the vApp ranges: a warning. r is the unit's result; rec nil means
// no run was ever applied.
func FirstbootRecord(r Result, rec *state.Record, f *cfgfile.File, dir string) Result {
	if rec == nil {
		r.Details = append(r.Details, fmt.Sprintf("no applied run is recorded in %s", state.Path(dir)))
		if r.Status == Pass {
			r.Status = Warn
			r.Summary += fmt.Sprintf("; no applied run is recorded (%s)", state.Path(dir))
			r.Hint = "run `anyip-firstboot --dry-run` to see what the wizard's settings would change, then `systemctl restart anyip-firstboot`"
		}
		return r
	}
	r.Details = append(r.Details, fmt.Sprintf("last applied %s from %s: %s", rec.AppliedAt.UTC().Format("2006-01-02 15:04:05 UTC"), rec.Source, rec.Result))
	var refused []string
	for _, p := range rec.Parts {
		if p.Result == "refused" || p.Result == "failed" {
			refused = append(refused, p.Part+" "+p.Result)
		}
	}
	if len(refused) > 0 {
		r.Details = append(r.Details, "not applied then: "+strings.Join(refused, ", "))
	}
	if rec.RangesOmitted > 0 || f.Begin == 0 {
		return r // the record lists only some ranges, or the file has no block
	}
	var wrote []netip.Prefix
	for _, s := range rec.Ranges {
		if p, err := netip.ParsePrefix(s); err == nil {
			wrote = append(wrote, p)
		}
	}
	var byHand []string
	for _, e := range f.Entries {
		if e.Managed && !slices.Contains(wrote, e.Prefix) {
			byHand = append(byHand, fmt.Sprintf("%s (%s)", e.Prefix, f.Where(e.Line)))
		}
	}
	if len(byHand) == 0 {
		return r
	}
	for _, b := range byHand {
		r.Details = append(r.Details, b+": in the first-boot block, but not written by first boot: the next boot rewrites the block from the vApp ranges, and it goes")
	}
	if r.Status == Pass {
		verb := "were"
		if len(byHand) == 1 {
			verb = "was"
		}
		r.Status = Warn
		r.Summary += fmt.Sprintf("; %s in the first-boot block %s not written by it", cli.Plural(len(byHand), "range"), verb)
		r.Hint = "move hand-written ranges out of the block (between the # BEGIN and # END lines), or add them to the vApp property loadbalance.service_ip_range"
	}
	return r
}

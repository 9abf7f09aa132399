package check

import (
	"fmt"
	"net/netip"
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
	if f.Begin == 0 {
		return r // the file has no block
	}
	inBlock := make(map[netip.Prefix]bool)
	for _, e := range f.Entries {
		if e.Managed {
			inBlock[e.Prefix] = true
		}
	}
	// A record that keeps the block apart says what the block should hold;
	// an older one lists every range the file held, which tells a range
	// added to the block by hand, not one taken out of it.
	wroteList, omitted := rec.Block, rec.BlockOmitted
	if rec.Block == nil {
		wroteList, omitted = rec.Ranges, rec.RangesOmitted
	}
	if omitted > 0 {
		return r // the record lists only some of them
	}
	wrote := make(map[netip.Prefix]bool, len(wroteList))
	var gone []string
	for _, s := range wroteList {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			continue
		}
		wrote[p] = true
		if rec.Block != nil && !inBlock[p] {
			gone = append(gone, p.String())
		}
	}
	var byHand []string
	for _, e := range f.Entries {
		if e.Managed && !wrote[e.Prefix] {
			byHand = append(byHand, fmt.Sprintf("%s (%s)", e.Prefix, f.Where(e.Line)))
		}
	}
	for _, b := range byHand {
		r.Details = append(r.Details, b+": in the first-boot block, but not in the vApp ranges first boot wrote there: the next boot rewrites the block from them, and it goes")
	}
	for _, g := range gone {
		r.Details = append(r.Details, g+": written into the first-boot block from "+cfgfile.BlockProperty+", and no longer there: the next boot writes it back")
	}
	if len(byHand)+len(gone) == 0 {
		r.Details = append(r.Details, fmt.Sprintf("the first-boot block holds the vApp ranges first boot wrote (%s)", cli.Plural(len(wrote), "range")))
		return r
	}
	// The unit's status stands (a failed unit is the worse news), but the
	// block's finding and its advice are kept beside it.
	if r.Status == Pass {
		r.Status = Warn
	}
	var what []string
	if len(byHand) > 0 {
		what = append(what, fmt.Sprintf("%s in the first-boot block %s not among the vApp ranges", cli.Plural(len(byHand), "range"), were(len(byHand))))
	}
	if len(gone) > 0 {
		what = append(what, fmt.Sprintf("%s of the vApp ranges %s missing from the block", cli.Plural(len(gone), "range"), were(len(gone))))
	}
	r.Summary += "; " + strings.Join(what, ", and ")
	unitHint := r.Hint
	switch {
	case len(gone) == 0:
		r.Hint = "move hand-written ranges out of the block (between the # BEGIN and # END lines), or add them to the vApp property " + cfgfile.BlockProperty
	case len(byHand) == 0:
		r.Hint = "to drop a range for good, remove it from the vApp property " + cfgfile.BlockProperty + " (vCenter: the VM's Configure, vApp Options), not from the block"
	default:
		r.Hint = "the block follows the vApp property " + cfgfile.BlockProperty + ": change the property (vCenter: the VM's Configure, vApp Options), and keep hand-written ranges outside the # BEGIN and # END lines"
	}
	if unitHint != "" {
		// One sentence for the unit, one for the block.
		r.Hint = unitHint + ". " + strings.ToUpper(r.Hint[:1]) + r.Hint[1:]
	}
	return r
}

func were(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

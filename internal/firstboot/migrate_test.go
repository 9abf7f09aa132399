package firstboot

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/finding"
)

// The old appliance's file, after its first boot appended the wizard's
// ranges (10.40.30.64/26, 10.40.30.128/26) and the operator deleted the
// first and widened the second to a /25 (10.40.30.128/25); a hand line of
// their own besides.
const oldFile = "# the old appliance's header\n10.40.30.128/25\n10.40.40.0/24\n"

func warningsAt(fs finding.List, key string) []string {
	var out []string
	for _, f := range fs {
		if f.Where == key && f.Severity == finding.Warning {
			out = append(out, f.Message)
		}
	}
	return out
}

// On the file the old first boot wrote, the operator's edits win over the
// stale property: no error, a warning for each range left out, and the
// block holds only what the file did not already settle. The next boot,
// its file now with a block, leaves them out again while the property is
// the same; a changed property wins.
func TestMigratedFileOperatorWins(t *testing.T) {
	w := wizard(t, "ovf-env-3nic.xml")
	p := MakePlan(w, System{Cfg: []byte(oldFile), OldFirstBoot: true}, opts())
	if p.Findings.HasErrors() {
		t.Fatalf("a widened range is an error:\n%v", p.Findings)
	}
	warns := warningsAt(p.Findings, appliance.KeyServiceRanges)
	if len(warns) != 2 || !strings.Contains(warns[0], "deleted by hand") || !strings.Contains(warns[1], "within 10.40.30.128/25") {
		t.Errorf("warnings %q", warns)
	}
	if p.Migrated == nil || !slices.Equal(p.Migrated.LeftOut, []string{"10.40.30.64/26", "10.40.30.128/26"}) {
		t.Fatalf("migration %+v", p.Migrated)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.40.30.128/25"), netip.MustParsePrefix("10.40.40.0/24")}
	if !slices.Equal(p.Desired, want) {
		t.Errorf("desired %v, want %v", p.Desired, want)
	}
	// The record's block is what the block holds: both wizard ranges left
	// out, so check does not expect them there.
	if len(p.Block) != 0 {
		t.Errorf("block %v, want none", p.Block)
	}

	// The next boot: the file has its block, the old marker is gone.
	next := MakePlan(w, System{Cfg: p.Cfg, Migrated: p.Migrated}, opts())
	if next.Findings.HasErrors() || len(warningsAt(next.Findings, appliance.KeyServiceRanges)) != 2 || next.CfgChanged || !slices.Equal(next.Desired, want) {
		t.Errorf("next boot: changed %v, desired %v, findings:\n%v", next.CfgChanged, next.Desired, next.Findings)
	}

	// The property changed in vCenter: it is what the operator wants now.
	w.Config.ServiceRanges = []netip.Prefix{netip.MustParsePrefix("10.40.30.64/26")}
	changed := MakePlan(w, System{Cfg: p.Cfg, Migrated: p.Migrated}, opts())
	if changed.Findings.HasErrors() || len(warningsAt(changed.Findings, appliance.KeyServiceRanges)) != 0 || !slices.Contains(changed.Desired, netip.MustParsePrefix("10.40.30.64/26")) {
		t.Errorf("changed property: desired %v, findings:\n%v", changed.Desired, changed.Findings)
	}
	if !slices.Equal(changed.Block, w.Config.ServiceRanges) {
		t.Errorf("changed property: block %v, want %v", changed.Block, w.Config.ServiceRanges)
	}
}

// Without the old first boot's evidence a file without a block is only a
// file without a block: the wizard's ranges are added, and a wizard range
// the old file lists is moved into the block without a duplicate warning.
func TestFileWithoutBlockNotMigrated(t *testing.T) {
	w := wizard(t, "ovf-env-3nic.xml")
	p := MakePlan(w, System{Cfg: []byte("10.40.30.64/26\n10.40.40.0/24\n")}, opts())
	if len(p.Findings) != 0 && slices.ContainsFunc(p.Findings, func(f finding.Finding) bool { return strings.Contains(f.Message, "listed twice") }) {
		t.Errorf("a line moved into the block is reported as a duplicate:\n%v", p.Findings)
	}
	if p.Migrated != nil || len(p.Desired) != 3 {
		t.Errorf("migration %+v, desired %v", p.Migrated, p.Desired)
	}
	f, _ := cfgfile.Parse(cfgPath, p.Cfg)
	if strings.Count(string(p.Cfg), "10.40.30.64/26") != 1 || f.Begin == 0 {
		t.Errorf("new file:\n%s", p.Cfg)
	}
}

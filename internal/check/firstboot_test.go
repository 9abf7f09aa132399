package check

import (
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/state"
)

// The firstboot item compares the file's first-boot block with the vApp
// ranges the last run wrote there, both ways: a range typed into the block
// goes at the next boot, and one taken out of it comes back.
func TestFirstbootRecordBlock(t *testing.T) {
	const path = "/etc/vmware/anyip-routes.cfg"
	file := func(lines ...string) *cfgfile.File {
		t.Helper()
		f, fs := cfgfile.Parse(path, []byte(strings.Join(lines, "\n")+"\n"))
		if len(fs) > 0 {
			t.Fatalf("%v", fs)
		}
		return f
	}
	rec := func(block []string, ranges ...string) *state.Record {
		return &state.Record{AppliedAt: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC), Source: "guestinfo (backdoor)", Result: "ok", Block: block, Ranges: ranges}
	}
	unit := Result{Name: NameFirstboot, Status: Pass, Summary: "anyip-firstboot.service is enabled and active"}
	const begin, end = "# BEGIN anyip-firstboot", "# END anyip-firstboot"
	for _, c := range []struct {
		name    string
		rec     *state.Record
		f       *cfgfile.File
		status  Status
		summary string
		details []string
		hint    string
	}{
		{
			name: "as written", rec: rec([]string{"10.20.0.128/26", "10.20.0.192/27"}, "10.20.0.128/26", "10.20.0.192/27", "10.30.0.0/28"),
			f:      file(begin, "10.20.0.128/26", "10.20.0.192/27", end, "10.30.0.0/28"),
			status: Pass, summary: "anyip-firstboot.service is enabled and active",
			details: []string{"last applied 2026-12-06 08:00:00 UTC from guestinfo (backdoor): ok", "the first-boot block holds the vApp ranges first boot wrote (2 ranges)"},
		},
		{
			// The operator's range moved into the block: a record that
			// lists every range of the file would not see it.
			name: "moved into the block", rec: rec([]string{"10.20.0.128/26"}, "10.20.0.128/26", "10.30.0.0/28"),
			f:      file(begin, "10.20.0.128/26", "10.30.0.0/28", end),
			status: Warn, summary: "anyip-firstboot.service is enabled and active; 1 range in the first-boot block is not among the vApp ranges",
			details: []string{"10.30.0.0/28 (" + path + ":3): in the first-boot block, but not in the vApp ranges first boot wrote there: the next boot rewrites the block from them, and it goes"},
			hint:    "move hand-written ranges out of the block",
		},
		{
			name: "taken out of the block", rec: rec([]string{"10.20.0.128/26", "10.20.0.192/27"}, "10.20.0.128/26", "10.20.0.192/27"),
			f:      file(begin, "10.20.0.128/26", end),
			status: Warn, summary: "anyip-firstboot.service is enabled and active; 1 range of the vApp ranges is missing from the block",
			details: []string{"10.20.0.192/27: written into the first-boot block from loadbalance.service_ip_range, and no longer there: the next boot writes it back"},
			hint:    "to drop a range for good, remove it from the vApp property loadbalance.service_ip_range",
		},
		{
			name: "both", rec: rec([]string{"10.20.0.128/26", "10.20.0.192/27", "fd00:20::/120"}),
			f:      file(begin, "10.20.0.128/26", "10.40.0.0/28", end),
			status: Warn, summary: "anyip-firstboot.service is enabled and active; 1 range in the first-boot block is not among the vApp ranges, and 2 ranges of the vApp ranges are missing from the block",
			details: []string{"10.40.0.0/28 (" + path + ":3)", "10.20.0.192/27: written", "fd00:20::/120: written"},
			hint:    "the block follows the vApp property loadbalance.service_ip_range",
		},
		{
			// A record of an earlier version lists every range the file
			// held: a range added to the block is seen, one taken out not.
			name: "record without the block", rec: rec(nil, "10.20.0.128/26", "10.20.0.192/27"),
			f:      file(begin, "10.20.0.128/26", "10.40.0.0/28", end),
			status: Warn, summary: "anyip-firstboot.service is enabled and active; 1 range in the first-boot block is not among the vApp ranges",
			details: []string{"10.40.0.0/28 (" + path + ":3)"},
			hint:    "move hand-written ranges out of the block",
		},
		{
			name: "the record lists only some", rec: func() *state.Record { r := rec([]string{"10.20.0.128/26"}); r.BlockOmitted = 5; return r }(),
			f:      file(begin, "10.40.0.0/28", end),
			status: Pass, summary: "anyip-firstboot.service is enabled and active",
		},
		{
			name: "no block in the file", rec: rec([]string{"10.20.0.128/26"}),
			f:      file("10.40.0.0/28"),
			status: Pass, summary: "anyip-firstboot.service is enabled and active",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := unit
			u.Details = nil
			r := FirstbootRecord(u, c.rec, c.f, "/var/lib/anyip")
			if r.Status != c.status || r.Summary != c.summary {
				t.Errorf("got %s %q\nwant %s %q", r.Status, r.Summary, c.status, c.summary)
			}
			all := strings.Join(r.Details, "\n")
			for _, d := range c.details {
				if !strings.Contains(all, d) {
					t.Errorf("details lack %q:\n%s", d, all)
				}
			}
			if c.status == Pass && strings.Contains(all, "next boot") {
				t.Errorf("a passing item speaks of the next boot:\n%s", all)
			}
			if !strings.HasPrefix(r.Hint, c.hint) || (c.hint == "") != (r.Hint == "") {
				t.Errorf("hint %q, want it to start %q", r.Hint, c.hint)
			}
		})
	}
	// A unit that failed, or could not be asked about, keeps its own
	// verdict; the block's finding and its advice are kept beside the
	// unit's, one sentence each.
	failed := Result{Name: NameFirstboot, Status: Fail, Summary: "anyip-firstboot.service failed", Hint: "journalctl -u anyip-firstboot.service says why"}
	r := FirstbootRecord(failed, rec([]string{"10.20.0.128/26"}), file(begin, end), "/var/lib/anyip")
	if r.Status != Fail || !strings.Contains(strings.Join(r.Details, "\n"), "10.20.0.128/26: written into the first-boot block") {
		t.Errorf("a failed unit: %+v", r)
	}
	if want := "anyip-firstboot.service failed; 1 range of the vApp ranges is missing from the block"; r.Summary != want {
		t.Errorf("summary %q\nwant %q", r.Summary, want)
	}
	if want := "journalctl -u anyip-firstboot.service says why. To drop a range for good, remove it from the vApp property loadbalance.service_ip_range (vCenter: the VM's Configure, vApp Options), not from the block"; r.Hint != want {
		t.Errorf("hint %q\nwant %q", r.Hint, want)
	}
	unreachable := Result{Name: NameFirstboot, Status: Warn, Summary: "systemd is not reachable, so whether anyip-firstboot.service runs is unknown: Failed to connect to bus",
		Hint: "run the check on the appliance itself (not in a container or chroot)"}
	r = FirstbootRecord(unreachable, rec([]string{"10.20.0.128/26"}), file(begin, "10.20.0.128/26", "10.30.0.0/28", end), "/var/lib/anyip")
	if want := "run the check on the appliance itself (not in a container or chroot). Move hand-written ranges out of the block (between the # BEGIN and # END lines), or add them to the vApp property loadbalance.service_ip_range"; r.Status != Warn || r.Hint != want {
		t.Errorf("%s, hint %q\nwant %q", r.Status, r.Hint, want)
	}
}

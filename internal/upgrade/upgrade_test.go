package upgrade

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/netnstest"
	"github.com/anyip/anyip/internal/upgrade/upgradetest"
)

// oldImage is an image root with the old appliance's files as its build
// installs them, enabled as its build enables them, the old first boot
// done, and anyip installed beside it (make install).
func oldImage(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	upgradetest.Install(t, root)
	write := func(rel, data string) {
		os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755)
		if err := os.WriteFile(filepath.Join(root, rel), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/vmware/workload-networks.cfg", "10.50.0.0/16\n")
	write(OldMarker, "")
	write("etc/iproute2/rt_tables", "255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n2\trtctl_workload\n3\trtctl_frontend\n")
	os.MkdirAll(filepath.Join(root, "etc/cloud"), 0o755)
	upgradetest.InstallAnyip(t, root)
	for _, u := range append([]string{OldRoutesUnit, "dataplaneapi.service"}, OldUnits...) {
		link := filepath.Join(root, unitDir, "multi-user.target.wants", u)
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink("/etc/systemd/system/"+u, link); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// An old image, upgraded: the old units masked or gone, anyip's enabled
// in their place, the scripts stubs (the originals kept), the old
// configuration and marker moved into the backup, cloud-init off, the
// Data Plane API pointed at first boot's file. Run again, nothing changes.
func TestUpgradeOldImage(t *testing.T) {
	root := oldImage(t)
	in := func(p string) string { return filepath.Join(root, p) }
	script, _ := os.ReadFile(in("var/lib/vmware/anyiproutectl.sh"))
	steps, err := Run(Options{Root: root, Systemctl: Systemctl(root)})
	if err != nil {
		t.Fatalf("%v\n%v", err, steps)
	}
	for _, u := range OldUnits {
		if target, err := os.Readlink(in(filepath.Join(unitDir, u))); err != nil || target != "/dev/null" {
			t.Errorf("%s is not masked: %q %v", u, target, err)
		}
		if _, err := os.Lstat(in(filepath.Join(unitDir, "multi-user.target.wants", u))); err == nil {
			t.Errorf("%s is still wanted", u)
		}
	}
	if _, err := os.Stat(in(filepath.Join(unitDir, OldRoutesUnit))); err == nil {
		t.Error("the old anyip-routes.service still shadows ours")
	}
	for _, u := range OurUnits {
		target, err := os.Readlink(in(filepath.Join(unitDir, "multi-user.target.wants", u)))
		if err != nil || !strings.HasSuffix(target, "/lib/systemd/system/"+u) {
			t.Errorf("%s is not enabled from anyip's unit: %q %v", u, target, err)
		}
	}
	for _, s := range OldScripts {
		if cur, _ := os.ReadFile(in(s)); string(cur) != Stub {
			t.Errorf("%s is not a stub", s)
		}
	}
	if kept, _ := os.ReadFile(in(filepath.Join(BackupDir, "var/lib/vmware/anyiproutectl.sh"))); !bytes.Equal(kept, script) {
		t.Error("the original anyiproutectl.sh is not in the backup")
	}
	for _, c := range append(OldConfig, OldMarker) {
		if _, err := os.Stat(in(c)); err == nil {
			t.Errorf("%s was not taken over", c)
		}
		if _, err := os.Stat(in(filepath.Join(BackupDir, c))); err != nil {
			t.Errorf("%s is not in the backup: %v", c, err)
		}
	}
	if _, err := os.Stat(in("etc/vmware/anyip-routes.cfg")); err != nil {
		t.Error("the ranges file was moved: first boot migrates it in place")
	}
	if rt, _ := os.ReadFile(in(rtTables)); strings.Contains(string(rt), "rtctl_") || !strings.Contains(string(rt), "254\tmain\n") {
		t.Errorf("rt_tables:\n%s", rt)
	}
	if _, err := os.Stat(in(cloudInitOff)); err != nil {
		t.Error("cloud-init is not off")
	}
	if d, _ := os.ReadFile(in(DataplaneDropIn)); !strings.Contains(string(d), "ExecStart=\nExecStart=/usr/local/bin/dataplaneapi -f /etc/haproxy/dataplaneapi.yaml\n") {
		t.Errorf("dataplaneapi drop-in:\n%s", d)
	}
	rec, err := LoadRecord(root)
	if err != nil || rec == nil || !rec.OldFirstBoot {
		t.Errorf("record %+v, %v", rec, err)
	}

	again, err := Run(Options{Root: root, Systemctl: Systemctl(root)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range again {
		if s.Changed {
			t.Errorf("second run changed: %s", s.What)
		}
	}
	if rec2, _ := LoadRecord(root); rec2 == nil || !rec2.OldFirstBoot || !rec2.UpgradedAt.Equal(rec.UpgradedAt) {
		t.Errorf("the second run lost what the first found: %+v", rec2)
	}
	if kept, _ := os.ReadFile(in(filepath.Join(BackupDir, "var/lib/vmware/anyiproutectl.sh"))); !bytes.Equal(kept, script) {
		t.Error("the second run overwrote the backup with the stub")
	}
}

// The old rules go once ours send the same table's traffic; a table
// without a rule of ours keeps them, and nobody else's rule is touched.
func TestOldRules(t *testing.T) {
	ns := netnstest.New(t)
	for _, r := range [][]string{
		{"from", "10.20.0.0/24", "lookup", "2"},                                  // routetablectl.sh: from the workload subnet
		{"to", "10.50.0.0/16", "lookup", "2"},                                    // to an additional workload network
		{"from", "10.30.0.0/24", "lookup", "3"},                                  // the frontend, which has no rule of ours yet
		{"from", "10.20.0.0/24", "lookup", "2", "priority", "10200"},             // ours
		{"from", "10.99.0.0/24", "lookup", "7"},                                  // somebody else's
		{"from", "10.98.0.0/24", "lookup", "2", "priority", "20000", "tos", "0"}, // an old one at a fixed priority
	} {
		ns.Run(t, "ip", append([]string{"rule", "add"}, r...)...)
	}
	var removed, left int
	before := ns.Run(t, "ip", "rule", "show")
	// Counted first, as a dry run does: nothing goes.
	if err := ns.Do(func() (err error) { removed, left, err = OldRules(false); return err }); err != nil {
		t.Fatal(err)
	}
	if removed != 3 || left != 1 {
		t.Errorf("counted %d to remove, %d to keep; want 3 and 1", removed, left)
	}
	if after := ns.Run(t, "ip", "rule", "show"); after != before {
		t.Errorf("counting the old rules changed them:\n%s\nwas:\n%s", after, before)
	}
	if err := ns.Do(func() (err error) { removed, left, err = OldRules(true); return err }); err != nil {
		t.Fatal(err)
	}
	if removed != 3 || left != 1 {
		t.Errorf("removed %d, left %d; want 3 and 1", removed, left)
	}
	got := ns.Run(t, "ip", "rule", "show")
	for _, want := range []string{"10200:\tfrom 10.20.0.0/24 lookup 2", "from 10.30.0.0/24 lookup 3", "from 10.99.0.0/24 lookup 7"} {
		if !strings.Contains(got, want) {
			t.Errorf("rule %q is gone:\n%s", want, got)
		}
	}
	for _, gone := range []string{"to 10.50.0.0/16", "10.98.0.0/24", "32765:\tfrom 10.20.0.0/24"} {
		if strings.Contains(got, gone) {
			t.Errorf("old rule %q is still there:\n%s", gone, got)
		}
	}
}

// recorder stands for systemctl and records every call.
type recorder struct{ calls []string }

func (r *recorder) systemctl(args ...string) error {
	r.calls = append(r.calls, strings.Join(args, " "))
	return nil
}

// A dry run says each step the upgrade would take, changes nothing under
// the root and calls no systemctl; the upgrade then takes the same steps.
func TestDryRunChangesNothing(t *testing.T) {
	root := oldImage(t)
	before := upgradetest.Tree(t, root)
	var rec recorder
	dry, err := Run(Options{Root: root, DryRun: true, Systemctl: rec.systemctl})
	if err != nil {
		t.Fatalf("%v\n%v", err, dry)
	}
	if after := upgradetest.Tree(t, root); after != before {
		t.Errorf("the dry run changed the root:\n%s\nwas:\n%s", after, before)
	}
	if len(rec.calls) != 0 {
		t.Errorf("the dry run ran systemctl: %q", rec.calls)
	}
	var would []string
	for _, s := range dry {
		if s.Changed {
			if !strings.HasPrefix(s.What, "would ") {
				t.Errorf("a dry run's change does not say would: %q", s.What)
			}
			would = append(would, s.What)
		}
	}
	for _, w := range []string{"would make /var/lib/vmware/anyiproutectl.sh inert", "would disable the old /etc/systemd/system/anyip-routes.service",
		"would disable and mask route-tables.service", "would enable anyip-network.service, anyip-firstboot.service, anyip-routes.service",
		"would move /etc/vmware/route-tables.cfg", "would take over the old first boot's marker", "would turn cloud-init off",
		"would have dataplaneapi.service read", "would remove the rtctl_* table names"} {
		if !strings.Contains(strings.Join(would, "\n"), w) {
			t.Errorf("the dry run does not say %q:\n%s", w, strings.Join(would, "\n"))
		}
	}

	done, err := Run(Options{Root: root, Systemctl: Systemctl(root)})
	if err != nil {
		t.Fatal(err)
	}
	var did []string
	for _, s := range done {
		if s.Changed {
			did = append(did, s.What)
		}
	}
	if len(did) != len(would) {
		t.Errorf("the dry run said %d changes, the upgrade made %d:\n%s\n--\n%s", len(would), len(did), strings.Join(would, "\n"), strings.Join(did, "\n"))
	}
	// Once upgraded, a dry run says there is nothing left to do.
	again, err := Run(Options{Root: root, DryRun: true, Systemctl: rec.systemctl})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range again {
		if s.Changed {
			t.Errorf("a dry run after the upgrade would still change: %s", s.What)
		}
	}
}

// Without anyip installed, the upgrade refuses and touches nothing of the
// old appliance: its scripts and units stay, no record is written. The
// error names what is missing under the root and how to install it.
func TestNotInstalledChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(root string)
		missing []string
	}{
		{"nothing of anyip", func(string) {}, []string{"lib/systemd/system/anyip-network.service", "lib/systemd/system/anyip-firstboot.service", "lib/systemd/system/anyip-routes.service"}},
		{"units without programs", func(root string) {
			upgradetest.InstallAnyip(t, root)
			os.Remove(filepath.Join(root, "usr/sbin/anyip-routes"))
			os.Chmod(filepath.Join(root, "usr/sbin/anyip-firstboot"), 0o644)
		}, []string{"usr/sbin/anyip-firstboot (anyip-network.service's ExecStart=, not an executable file)",
			"usr/sbin/anyip-firstboot (anyip-firstboot.service's ExecStart=, not an executable file)", "usr/sbin/anyip-routes (anyip-routes.service's ExecStart=)"}},
		{"one unit in usr/lib, one missing", func(root string) {
			upgradetest.InstallAnyip(t, root)
			os.MkdirAll(filepath.Join(root, "usr/lib/systemd/system"), 0o755)
			os.Rename(filepath.Join(root, "lib/systemd/system/anyip-network.service"), filepath.Join(root, "usr/lib/systemd/system/anyip-network.service"))
			os.Remove(filepath.Join(root, "lib/systemd/system/anyip-routes.service"))
		}, []string{"lib/systemd/system/anyip-routes.service"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			upgradetest.Install(t, root)
			os.WriteFile(filepath.Join(root, OldMarker), nil, 0o644)
			tc.setup(root)
			before := upgradetest.Tree(t, root)
			for _, dry := range []bool{true, false} {
				var rec recorder
				steps, err := Run(Options{Root: root, DryRun: dry, Systemctl: rec.systemctl, Rules: func(bool) (int, int, error) {
					return 0, 0, errors.New("the rules were looked at")
				}})
				var ni *NotInstalledError
				if !errors.As(err, &ni) || !errors.Is(err, ErrUntouched) {
					t.Fatalf("dry run %v: %v, want a NotInstalledError", dry, err)
				}
				var want []string
				for _, m := range tc.missing {
					want = append(want, filepath.Join(root, m))
				}
				if fmt.Sprint(ni.Missing) != fmt.Sprint(want) {
					t.Errorf("missing %q, want %q", ni.Missing, want)
				}
				msg := err.Error()
				for _, w := range append(want, "anyip is not installed under "+root, "make install DESTDIR="+root, "nothing was changed") {
					if !strings.Contains(msg, w) {
						t.Errorf("the error lacks %q: %s", w, msg)
					}
				}
				if len(steps) != 0 || len(rec.calls) != 0 {
					t.Errorf("steps %v, systemctl %q; want none", steps, rec.calls)
				}
				if after := upgradetest.Tree(t, root); after != before {
					t.Errorf("the refused upgrade changed the root:\n%s\nwas:\n%s", after, before)
				}
			}
		})
	}
}

// A record of the upgrade that does not parse is named, with what to do,
// and nothing is changed; moved aside, the next run loses nothing of
// what the first found.
func TestBadRecord(t *testing.T) {
	root := oldImage(t)
	if _, err := Run(Options{Root: root, Systemctl: Systemctl(root)}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, RecordFile), []byte("old_first_boot: [\n"), 0o644)
	before := upgradetest.Tree(t, root)
	var rec recorder
	_, err := Run(Options{Root: root, Systemctl: rec.systemctl})
	if !errors.Is(err, ErrUntouched) || !strings.Contains(err.Error(), filepath.Join(root, RecordFile)) || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("err %v, want one naming the record and what to do", err)
	}
	if after := upgradetest.Tree(t, root); after != before || len(rec.calls) != 0 {
		t.Errorf("a bad record changed the root or ran systemctl %q", rec.calls)
	}
	os.Rename(filepath.Join(root, RecordFile), filepath.Join(root, RecordFile+".bad"))
	if _, err := Run(Options{Root: root, Systemctl: Systemctl(root)}); err != nil {
		t.Fatal(err)
	}
	if r, err := LoadRecord(root); err != nil || r == nil || !r.OldFirstBoot {
		t.Errorf("record %+v, %v: the old first boot is forgotten", r, err)
	}
}

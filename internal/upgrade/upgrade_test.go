package upgrade

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
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
	for _, u := range []string{"anyip-firstboot.service", "anyip-network.service", "anyip-routes.service"} {
		data, err := os.ReadFile(filepath.Join(e2etest.Root(), "systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		write("lib/systemd/system/"+u, strings.ReplaceAll(string(data), "@SBINDIR@", "/usr/sbin"))
	}
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
	if err := ns.Do(func() (err error) { removed, left, err = OldRules(); return err }); err != nil {
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

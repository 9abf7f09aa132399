package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/upgrade"
	"github.com/anyip/anyip/internal/upgrade/upgradetest"
)

// --upgrade says what it did, and the second time that nothing is left.
func TestUpgradeSaysWhatItDid(t *testing.T) {
	root := t.TempDir()
	for rel, data := range map[string]string{
		"etc/systemd/system/route-tables.service": "[Service]\nExecStart=/var/lib/vmware/routetablectl.sh watch\nExecStopPost=/var/lib/vmware/routetablectl.sh down\n",
		"var/lib/vmware/routetablectl.sh":         "#!/bin/bash\nip rule del ...\n",
		upgrade.OldMarker:                         "",
	} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755)
		os.WriteFile(filepath.Join(root, rel), []byte(data), 0o755)
	}
	upgradetest.InstallAnyip(t, root)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--upgrade", "--root", root}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, w := range []string{"upgrade: changed: made /var/lib/vmware/routetablectl.sh inert", "upgrade: changed: disabled and masked route-tables.service",
		"took over the old first boot's marker", "upgrade: changed: enabled anyip-network.service, anyip-firstboot.service, anyip-routes.service",
		"4 changes; the originals are in /var/lib/anyip/old-appliance."} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"--upgrade", "--root", root}, nil, &out, &errOut); code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "upgrade: nothing to do") || strings.Contains(out.String(), "changed:") {
		t.Errorf("second run:\n%s", out.String())
	}
}

// An old appliance taken over without a reboot: its ranges file (the
// wizard's ranges appended by its first boot, one deleted and one widened
// by hand since), its routes (proto boot, from anyiproutectl.sh) and its
// marker. First boot keeps the operator's edits with warnings, adopts the
// routes in place (one per range, ours), and does the same at the next boot.
func TestFirstbootAfterUpgradeKeepsTheOperatorsEdits(t *testing.T) {
	b := newBox(t)
	b.roleNICs("management", "workload", "frontend")
	os.MkdirAll(filepath.Dir(b.cfg), 0o755)
	os.WriteFile(b.cfg, []byte("# old header\n10.30.0.128/25\n10.30.0.96/27\n"), 0o644)
	os.MkdirAll(filepath.Join(b.root, filepath.Dir(upgrade.OldMarker)), 0o755)
	os.WriteFile(filepath.Join(b.root, upgrade.OldMarker), nil, 0o644)
	upgradetest.InstallAnyip(t, b.root)
	for _, r := range []string{"10.30.0.128/25", "10.30.0.96/27"} {
		b.ns.Run(t, "ip", "route", "add", "local", r, "dev", "lo", "table", "local")
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--upgrade", "--root", b.root}, nil, &out, &out); code != 0 {
		t.Fatalf("upgrade: %d\n%s", code, out.String())
	}
	p := e2etest.Base3NIC().With("loadbalance.service_ip_range", "10.30.0.128/26, 10.30.0.64/27")
	for boot := 1; boot <= 2; boot++ {
		r := b.run(p, "--publish=false")
		b.want(r, 0)
		for _, w := range []string{"10.30.0.128/26 is within 10.30.0.128/25", "10.30.0.64/27 was deleted by hand"} {
			if !strings.Contains(r.Stdout, w) {
				t.Errorf("boot %d: no warning %q:\n%s", boot, w, r.Stdout)
			}
		}
		if strings.Contains(r.Stdout, "error:") {
			t.Errorf("boot %d: errors:\n%s", boot, r.Stdout)
		}
		e2etest.WantRoutes(t, b.routes(), "10.30.0.128/25", "10.30.0.96/27")
		if other := b.ns.LocalRoutes(t, "boot"); len(other) != 0 {
			t.Errorf("boot %d: old routes left beside ours: %v", boot, other)
		}
	}
}

// fakeSystemctl puts a systemctl first on PATH that records its arguments
// and fails: a run that must not touch a unit proves it did not.
func fakeSystemctl(t *testing.T) (calls func() string) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho \"$*\" >> " + log + "\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return func() string {
		data, _ := os.ReadFile(log)
		return string(data)
	}
}

// oldAppliance is an image root with the old appliance's files, enabled as
// its build enables them, its first boot done, and anyip installed.
func oldAppliance(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	upgradetest.Install(t, root)
	upgradetest.InstallAnyip(t, root)
	for _, u := range append([]string{upgrade.OldRoutesUnit}, upgrade.OldUnits...) {
		link := filepath.Join(root, "etc/systemd/system/multi-user.target.wants", u)
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink("/etc/systemd/system/"+u, link); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, upgrade.OldMarker), nil, 0o644)
	return root
}

// --upgrade --dry-run says each step the upgrade would take and changes
// nothing under the root: not a byte, not a link, no unit.
func TestUpgradeDryRunChangesNothing(t *testing.T) {
	root := oldAppliance(t)
	calls := fakeSystemctl(t)
	before := upgradetest.Tree(t, root)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--upgrade", "--dry-run", "--root", root}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if after := upgradetest.Tree(t, root); after != before {
		t.Errorf("the dry run changed the root:\n%s\nwas:\n%s", after, before)
	}
	if c := calls(); c != "" {
		t.Errorf("the dry run ran systemctl:\n%s", c)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "upgrade: dry run: would ") && !strings.HasPrefix(l, "upgrade: done: ") {
			t.Errorf("a step that does not say what it would do: %q", l)
		}
	}
	for _, w := range []string{"upgrade: dry run: would make /var/lib/vmware/anyiproutectl.sh inert", "upgrade: dry run: would disable and mask route-tables.service",
		"upgrade: dry run: would enable anyip-network.service", "upgrade: dry run: would take over the old first boot's marker"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "anyip-firstboot: upgrade: dry run: ") || !strings.HasSuffix(last, "; nothing was changed.") || !strings.Contains(last, "would be made") {
		t.Errorf("closing line %q", last)
	}
	if _, err := os.Stat(filepath.Join(root, upgrade.RecordFile)); err == nil {
		t.Error("the dry run wrote the upgrade's record")
	}
}

// Without anyip installed, --upgrade (and its dry run) fails as a system
// not ready, names the missing units under the root and how to install
// them, and takes nothing of the old appliance away.
func TestUpgradeRefusesWithoutAnyip(t *testing.T) {
	for _, old := range []bool{false, true} {
		root := t.TempDir()
		if old {
			upgradetest.Install(t, root)
		}
		calls := fakeSystemctl(t)
		before := upgradetest.Tree(t, root)
		for _, args := range [][]string{{"--upgrade"}, {"--upgrade", "--dry-run"}, {"--upgrade", "--output", "json"}} {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), append(args, "--root", root), nil, &out, &errOut); code != 3 {
				t.Errorf("%v: exit %d, want 3\n%s", args, code, out.String())
			}
			for _, w := range []string{filepath.Join(root, "lib/systemd/system/anyip-network.service"), filepath.Join(root, "lib/systemd/system/anyip-routes.service"),
				"make install DESTDIR=" + root, "nothing was changed"} {
				if !strings.Contains(out.String(), w) {
					t.Errorf("%v: output lacks %q:\n%s", args, w, out.String())
				}
			}
			if strings.Contains(out.String(), "nothing to do") || strings.Contains(out.String(), "upgrade: done") {
				t.Errorf("%v: a refused upgrade that sounds done:\n%s", args, out.String())
			}
		}
		if after := upgradetest.Tree(t, root); after != before {
			t.Errorf("old appliance %v: the refused upgrade changed the root:\n%s\nwas:\n%s", old, after, before)
		}
		if c := calls(); c != "" {
			t.Errorf("old appliance %v: the refused upgrade ran systemctl:\n%s", old, c)
		}
	}
}

// --upgrade --output json has the envelope of every other report: schema,
// mode, result, then the steps (and error when it failed).
func TestUpgradeJSON(t *testing.T) {
	root := oldAppliance(t)
	report := func(args ...string) (map[string]json.RawMessage, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"--upgrade", "--output", "json", "--root", root}, args...), nil, &out, &errOut)
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatalf("%v: not JSON: %v\n%s", args, err, out.String())
		}
		return m, code
	}
	check := func(m map[string]json.RawMessage, code, wantCode int, mode, result string, keys ...string) []upgrade.Step {
		t.Helper()
		var got []string
		for k := range m {
			got = append(got, k)
		}
		slices.Sort(got)
		slices.Sort(keys)
		if !slices.Equal(got, keys) {
			t.Errorf("keys %v, want %v", got, keys)
		}
		if string(m["schema"]) != "1" || string(m["mode"]) != strconv.Quote(mode) || string(m["result"]) != strconv.Quote(result) || code != wantCode {
			t.Errorf("schema %s, mode %s, result %s, exit %d; want 1, %q, %q, %d", m["schema"], m["mode"], m["result"], code, mode, result, wantCode)
		}
		var steps []map[string]json.RawMessage
		if err := json.Unmarshal(m["steps"], &steps); err != nil {
			t.Fatalf("steps: %v: %s", err, m["steps"])
		}
		var out []upgrade.Step
		for _, s := range steps {
			var st upgrade.Step
			if len(s) != 2 || json.Unmarshal(s["what"], &st.What) != nil || json.Unmarshal(s["changed"], &st.Changed) != nil {
				t.Errorf("step %v, want {what, changed}", s)
			}
			out = append(out, st)
		}
		return out
	}
	all := []string{"schema", "mode", "result", "steps"}
	m, code := report("--dry-run")
	if steps := check(m, code, 0, "dry-run", "ok", all...); len(steps) == 0 || !strings.HasPrefix(steps[0].What, "would ") || !steps[0].Changed {
		t.Errorf("dry run's steps: %v", steps)
	}
	m, code = report()
	if steps := check(m, code, 0, "apply", "ok", all...); len(steps) == 0 || !steps[0].Changed {
		t.Errorf("steps: %v", steps)
	}
	m, code = report()
	for _, s := range check(m, code, 0, "apply", "unchanged", all...) {
		if s.Changed {
			t.Errorf("the second run changed: %s", s.What)
		}
	}
	m, code = report("--dry-run")
	check(m, code, 0, "dry-run", "unchanged", all...)
	m, code = report("--root", t.TempDir())
	check(m, code, 3, "apply", "failed", append(all, "error")...)
	if s := string(m["steps"]); s != "[]" {
		t.Errorf("steps of a refused upgrade: %s, want []", s)
	}
}

// A flag --upgrade does not heed is a usage error, before anything is
// read or changed: --force or --config given with it would otherwise be
// dropped without a word.
func TestUpgradeRefusesFlagsItIgnores(t *testing.T) {
	root := oldAppliance(t)
	before := upgradetest.Tree(t, root)
	for _, extra := range [][]string{{"--force"}, {"--config", filepath.Join(root, "x.cfg")}, {"--early"}, {"--ovf-env", "-"}, {"--publish=false"}} {
		var out, errOut bytes.Buffer
		args := append([]string{"--upgrade", "--root", root}, extra...)
		if code := run(context.Background(), args, nil, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s%s", extra, code, out.String(), errOut.String())
		}
		if !strings.Contains(errOut.String(), "--upgrade takes only --root, --dry-run, --output and -v, not "+strings.SplitN(extra[0], "=", 2)[0]) || !strings.Contains(errOut.String(), "--help") {
			t.Errorf("%v: %q", extra, errOut.String())
		}
	}
	if after := upgradetest.Tree(t, root); after != before {
		t.Error("a refused command line changed the root")
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/upgrade"
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
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--upgrade", "--root", root}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, w := range []string{"upgrade: changed: made /var/lib/vmware/routetablectl.sh inert", "upgrade: changed: disabled and masked route-tables.service",
		"took over the old first boot's marker", "anyip's units are not installed", "3 changes; the originals are in /var/lib/anyip/old-appliance."} {
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

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
)

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// A management_ip without its prefix length refuses the management NIC
// only: its address is still kept out of the ranges, which are applied.
// One no address reads from refuses the ranges too, and both the ranges'
// line and the closing line say why.
func TestNICErrorAndTheRangesEndToEnd(t *testing.T) {
	b := newBox(t)
	b.roleNICs("management", "workload", "frontend")
	r := b.run(e2etest.Base3NIC().With("network.management_ip", "10.10.0.5"), "--publish=false")
	b.want(r, 1)
	for _, w := range []string{"\nnic management: refused\n", "\nranges: applied\n"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", strings.TrimSpace(w), r.Stdout)
		}
	}
	e2etest.WantRoutes(t, b.routes(), "10.30.0.128/26", "10.30.0.192/27")
	if want := "anyip-firstboot: the configuration is invalid (1 error, 0 warnings at network.management_ip); nothing was changed for nic management; the other parts were applied."; lastLine(r.Stdout) != want {
		t.Errorf("last line\n%q, want\n%q", lastLine(r.Stdout), want)
	}

	b = newBox(t)
	b.roleNICs("management", "workload", "frontend")
	r = b.run(e2etest.Base3NIC().With("network.management_ip", "mgmt-net"), "--publish=false")
	b.want(r, 1)
	why := "they cannot be checked against the appliance's management address while network.management_ip is invalid"
	if !strings.Contains(r.Stdout, "\nranges: refused ("+why+")\n") {
		t.Errorf("stdout lacks the ranges' refusal with why:\n%s", r.Stdout)
	}
	if want := "anyip-firstboot: the configuration is invalid (1 error, 0 warnings at network.management_ip); nothing was changed for nic management, ranges (" + why + "); the other parts were applied."; lastLine(r.Stdout) != want {
		t.Errorf("last line\n%q, want\n%q", lastLine(r.Stdout), want)
	}
	e2etest.WantRoutes(t, b.routes())
}

// A run that went through with warnings says how many in its last line
// (what `systemctl status` shows); one without says none.
func TestClosingLineCountsWarnings(t *testing.T) {
	b := newBox(t)
	b.roleNICs("management", "workload")
	r := b.run(e2etest.Base2NIC().With("loadbalance.service_ip_range", "10.20.0.128/26, 10.10.0.128/26"), "--publish=false")
	b.want(r, 0)
	if !strings.Contains(r.Stdout, `warning: loadbalance.service_ip_range = "10.10.0.128/26": 10.10.0.128/26 lies in the management network 10.10.0.0/24 (network.management_ip): VIPs never belong on the management network; with the Default option they belong on the workload network (move the range to the workload network)`) {
		t.Errorf("no warning of the range in the management network:\n%s", r.Stdout)
	}
	if want := "anyip-firstboot: ok: 2 routes added, 0 removed, 0 adopted, 0 kept; 2 ranges in place; 1 warning above."; lastLine(r.Stdout) != want {
		t.Errorf("last line\n%q, want\n%q", lastLine(r.Stdout), want)
	}
	r = b.run(e2etest.Base2NIC().With("loadbalance.service_ip_range", "10.20.0.128/26, 10.10.0.128/26"), "--publish=false", "--dry-run")
	b.want(r, 0)
	if want := "anyip-firstboot: dry run: nothing would change; nothing was changed; 1 warning above."; lastLine(r.Stdout) != want {
		t.Errorf("last line\n%q, want\n%q", lastLine(r.Stdout), want)
	}

	b = newBox(t)
	b.roleNICs("management", "workload")
	r = b.run(e2etest.Base2NIC(), "--publish=false")
	b.want(r, 0)
	if want := "anyip-firstboot: ok: 1 route added, 0 removed, 0 adopted, 0 kept; 1 range in place."; lastLine(r.Stdout) != want {
		t.Errorf("last line\n%q, want\n%q", lastLine(r.Stdout), want)
	}
}

// A --resolv-conf that is a directory, or an --ovf-env that does not
// exist, is named with its flag and what to give instead.
func TestPathFlagsNamed(t *testing.T) {
	b := newBox(t)
	dir := t.TempDir()
	r := b.run(e2etest.Base2NIC(), "--publish=false", "--resolv-conf", dir)
	b.want(r, 2)
	if want := "anyip-firstboot: --resolv-conf " + dir + " is a directory: give the resolver's configuration file (default /etc/resolv.conf) (see anyip-firstboot --help)\n"; r.Stderr != want {
		t.Errorf("stderr\n%q, want\n%q", r.Stderr, want)
	}
	missing := filepath.Join(dir, "none.xml")
	r = b.exec("--ovf-env", missing, "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root, "--publish=false")
	b.want(r, 3)
	if want := "anyip-firstboot: failed: --ovf-env " + missing + ": the file does not exist (give the OVF environment's file, ISO image or device, or leave --ovf-env out to read guestinfo)"; lastLine(r.Stdout) != want {
		t.Errorf("last line\n%q, want\n%q", lastLine(r.Stdout), want)
	}
}

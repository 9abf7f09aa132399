package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
)

func (b *box) rootFile(p string) string {
	b.t.Helper()
	data, err := os.ReadFile(filepath.Join(b.root, p))
	if err != nil {
		return ""
	}
	return string(data)
}

func (b *box) networkFiles() []string {
	b.t.Helper()
	entries, _ := os.ReadDir(filepath.Join(b.root, "etc/systemd/network"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// A 3-NIC deployment writes each NIC's network file (the frontend's table
// and rules among them), the host name and the name servers, and a second
// run with the same properties changes none of it.
func TestNetworkFromTheWizard(t *testing.T) {
	b := newBox(t)
	b.roleNICs("management", "workload", "frontend")
	r := b.run(e2etest.Base3NIC())
	b.want(r, 0)
	want := []string{"10-anyip-frontend.network", "10-anyip-management.network", "10-anyip-workload.network"}
	if got := b.networkFiles(); !slices.Equal(got, want) {
		t.Fatalf("network files %q, want %q", got, want)
	}
	fe := b.rootFile("etc/systemd/network/10-anyip-frontend.network")
	for _, w := range []string{"Address=10.30.0.5/24", "Gateway=10.30.0.1\nTable=3", "From=10.30.0.0/24\nTable=3"} {
		if !strings.Contains(fe, w) {
			t.Errorf("frontend file lacks %q:\n%s", w, fe)
		}
	}
	if wl := b.rootFile("etc/systemd/network/10-anyip-workload.network"); !strings.Contains(wl, "To=10.40.0.0/16\nTable=2") {
		t.Errorf("workload file does not route the backends through its table:\n%s", wl)
	}
	if got := b.rootFile("etc/hostname"); got != "lb-01.example.internal\n" {
		t.Errorf("hostname file %q", got)
	}
	if got := b.rootFile("etc/resolv.conf"); !strings.Contains(got, "nameserver 10.10.0.53\nnameserver 10.10.0.54\n") {
		t.Errorf("resolv.conf:\n%s", got)
	}
	for _, w := range []string{"hostname: applied", "nic frontend: applied", "ranges: applied"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, r.Stdout)
		}
	}

	again := b.run(e2etest.Base3NIC())
	b.want(again, 0)
	for _, w := range []string{"hostname: unchanged", "resolver: unchanged", "nic management: unchanged", "nic frontend: unchanged", "ranges: unchanged"} {
		if !strings.Contains(again.Stdout, w) {
			t.Errorf("second run's report lacks %q:\n%s", w, again.Stdout)
		}
	}

	// The deployment loses its frontend NIC (the option and the NIC): its
	// file goes, nothing else.
	b.ns.Run(t, "ip", "link", "del", "frontend")
	two := e2etest.Base2NIC()
	b.want(b.run(two), 0)
	if got := b.networkFiles(); !slices.Equal(got, want[1:]) {
		t.Errorf("after the frontend went: %q, want %q", got, want[1:])
	}
}

// A bad host name refuses the host name alone: the VIPs and the NICs are
// applied, the old host name stays, and the run says which part it refused.
func TestBadHostnameRefusesOnlyTheHostname(t *testing.T) {
	b := newBox(t)
	b.roleNICs("management", "workload")
	b.want(b.run(e2etest.Base2NIC()), 0)

	r := b.run(e2etest.Base2NIC().With("network.hostname", "bad_name!", "loadbalance.service_ip_range", "10.20.0.128/26, 10.20.0.64/27"))
	b.want(r, 1)
	if got := b.rootFile("etc/hostname"); got != "lb-01.example.internal\n" {
		t.Errorf("a refused host name changed the file: %q", got)
	}
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/26", "10.20.0.64/27")
	for _, w := range []string{"network.hostname", "hostname: refused", "ranges: applied", "nothing was changed for hostname; the other parts were applied"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, r.Stdout)
		}
	}
}

// A bad workload address refuses that NIC, whose file stays as it was; the
// other NICs apply, and so do the VIP ranges: the address, without its
// prefix length, is still one they are checked against.
func TestBadNICKeepsItsFile(t *testing.T) {
	b := newBox(t)
	b.roleNICs("management", "workload")
	b.want(b.run(e2etest.Base2NIC()), 0)
	before := b.rootFile("etc/systemd/network/10-anyip-workload.network")

	r := b.run(e2etest.Base2NIC().With("network.workload_ip", "10.20.0.5", "network.management_gateway", "10.10.0.254"))
	b.want(r, 1)
	if after := b.rootFile("etc/systemd/network/10-anyip-workload.network"); after != before {
		t.Errorf("the refused NIC's file changed:\n%s\nwas:\n%s", after, before)
	}
	if m := b.rootFile("etc/systemd/network/10-anyip-management.network"); !strings.Contains(m, "Gateway=10.10.0.254\n") {
		t.Errorf("the management NIC was not applied:\n%s", m)
	}
	for _, w := range []string{"nic workload: refused", "ranges: applied", "nic management: applied"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, r.Stdout)
		}
	}
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/26")
}

// Early in boot only the network is written: no routes, no ranges file, no
// record, no NIC check.
func TestEarlyWritesTheNetworkOnly(t *testing.T) {
	b := newBox(t)
	r := b.run(e2etest.Base2NIC(), "--early")
	b.want(r, 0)
	if got := b.networkFiles(); len(got) != 2 {
		t.Errorf("network files %q", got)
	}
	if b.readCfg() != "" || len(b.routes()) != 0 {
		t.Error("the early run applied ranges")
	}
	if _, err := os.Stat(b.state); err == nil {
		t.Error("the early run wrote a record")
	}
	if strings.Contains(r.Stdout, "no NIC is named") || strings.Contains(r.Stdout, "ranges:") {
		t.Errorf("the early run checked NICs or ranges:\n%s", r.Stdout)
	}

	// A refused part is left as it was, and the verdict is the later
	// run's: the early half still exits 0.
	r = b.run(e2etest.Base2NIC().With("network.hostname", "bad_name!", "network.management_gateway", "10.10.0.254"), "--early")
	b.want(r, 0)
	if got := b.rootFile("etc/hostname"); got != "lb-01.example.internal\n" {
		t.Errorf("a refused host name changed the file: %q", got)
	}
	if m := b.rootFile("etc/systemd/network/10-anyip-management.network"); !strings.Contains(m, "Gateway=10.10.0.254\n") {
		t.Errorf("the early run did not apply the management NIC:\n%s", m)
	}
	if !strings.Contains(r.Stdout, "hostname: refused") {
		t.Errorf("the early run does not say the host name was refused:\n%s", r.Stdout)
	}
}

// Under the test suites a run without --root would write this machine's
// own network: it fails before it reads anything, and says why.
func TestNoLiveRootUnderTests(t *testing.T) {
	b := newBox(t)
	env := e2etest.Base2NIC().WriteEnv(t, t.TempDir())
	r := b.exec("--ovf-env", env, "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--publish=false")
	b.want(r, 3)
	if !strings.Contains(r.Stdout+r.Stderr, "refusing to write this machine's own network") {
		t.Errorf("no reason given:\n%s%s", r.Stdout, r.Stderr)
	}
	if b.readCfg() != "" {
		t.Error("the refused run wrote the ranges file")
	}
}

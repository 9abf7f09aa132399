package e2etest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
)

// IPv6 VIPs end to end. The kernel accepts traffic for a whole IPv6 AnyIP
// range as it does for IPv4, but lets a program bind one of its addresses
// only with net.ipv6.ip_nonlocal_bind=1 (which the appliance ships as
// systemd/anyip.sysctl): with it HAProxy serves the VIP, without it
// HAProxy refuses to start, and `anyip-routes check` says so first.

const (
	frontend6 = "fd00:30::5"       // the appliance's frontend NIC
	router6   = "fd00:30::1"       // the frontend gateway, in the "net" namespace
	range6    = "fd00:30::1:0/112" // the VIP range
	vip6      = "fd00:30::1:5"     // a VIP HAProxy binds
	sysctl6   = "net.ipv6.ip_nonlocal_bind"
)

// ipv6Props are the vApp properties of the appliance newIPv6Appliance
// builds: management and workload as in newAppliance, an IPv6 frontend
// network and an IPv6 VIP range on it.
func ipv6Props() e2etest.Props {
	return e2etest.Base3NIC().With(
		"network.management_ip", "10.40.10.5/24",
		"network.management_gateway", "10.40.10.1",
		"network.workload_ip", "10.40.20.5/24",
		"network.workload_gateway", "10.40.20.1",
		"network.additional_workload_networks", "",
		"network.nameservers", "10.40.10.53",
		"network.frontend_ip", frontend6+"/64",
		"network.frontend_gateway", router6,
		"loadbalance.service_ip_range", range6,
	)
}

// newIPv6Appliance is newAppliance with an IPv6 address on the frontend
// NIC, deployed by first boot from ipv6Props and with the route service
// running. The "net" namespace, standing for the frontend router, routes
// the VIP range to the appliance, as an upstream router would: the kernel
// does not answer neighbour solicitations for addresses it holds only by
// a local route.
func newIPv6Appliance(t *testing.T) *appliance {
	t.Helper()
	a := newAppliance(t)
	a.vm.Run(t, "ip", "-6", "addr", "add", frontend6+"/64", "dev", "eth2", "nodad")
	a.net.Run(t, "ip", "-6", "addr", "add", router6+"/64", "dev", "fe", "nodad")
	a.net.Run(t, "ip", "-6", "route", "add", range6, "via", frontend6)

	out := a.firstboot(ipv6Props().WriteEnv(t, t.TempDir()))
	if !strings.Contains(out, range6) {
		t.Fatalf("first boot does not mention the range %s:\n%s", range6, out)
	}
	a.startRoutes()
	a.waitRoute(range6)
	// An AnyIP VIP: routed to lo, not assigned to any interface.
	if addrs := a.vm.Run(t, "ip", "-6", "addr", "show"); strings.Contains(addrs, vip6+"/") {
		t.Fatalf("%s is assigned to an interface; the test is about a VIP held by a local route:\n%s", vip6, addrs)
	}
	return a
}

// sysctl reads net.ipv6.ip_nonlocal_bind in the appliance ("vm"), the
// client's namespace ("net") or on the host ("host").
func sysctl(t *testing.T, a *appliance, in string) string {
	t.Helper()
	var out string
	switch in {
	case "host":
		data, err := os.ReadFile("/proc/sys/net/ipv6/ip_nonlocal_bind")
		if err != nil {
			t.Fatal(err)
		}
		out = string(data)
	case "vm":
		out = a.vm.Run(t, "sysctl", "-n", sysctl6)
	case "net":
		out = a.net.Run(t, "sysctl", "-n", sysctl6)
	}
	return strings.TrimSpace(out)
}

// checkReport runs `anyip-routes check --output json` in the appliance on
// its ranges file and HAProxy configuration.
func (a *appliance) checkReport(hapCfg string, wantCode int) map[string]checkResult {
	a.t.Helper()
	cmd := a.vm.Command(e2etest.Binary(a.t, "anyip-routes"), "--config", a.cfg,
		"--resolv-conf", filepath.Join(a.dir, "resolv.conf"),
		"check", "--haproxy-config", hapCfg, "--output", "json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		a.t.Fatal(err)
	}
	if code != wantCode {
		a.t.Fatalf("anyip-routes check: exit %d, want %d\n%s%s", code, wantCode, out.String(), errb.String())
	}
	var rep struct{ Checks []checkResult }
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		a.t.Fatalf("anyip-routes check --output json: %v\n%s", err, out.String())
	}
	m := map[string]checkResult{}
	for _, c := range rep.Checks {
		m[c.Name] = c
	}
	return m
}

type checkResult struct {
	Name, Status, Summary, Hint string
	Details                     []string
}

func (c checkResult) String() string {
	return c.Status + " " + c.Name + ": " + c.Summary + "\n\t" + strings.Join(c.Details, "\n\t") + "\n\thint: " + c.Hint
}

// With net.ipv6.ip_nonlocal_bind=1 in the appliance (and nowhere else),
// HAProxy binds an IPv6 VIP from the range and serves it to a client in
// another namespace over IPv6.
func TestIPv6VIPServedThroughHAProxy(t *testing.T) {
	host := sysctl(t, nil, "host")
	a := newIPv6Appliance(t)
	a.vm.Run(t, "sysctl", "-q", "-w", sysctl6+"=1")
	if got := sysctl(t, a, "vm"); got != "1" {
		t.Fatalf("%s in the appliance namespace is %q after setting it", sysctl6, got)
	}
	if got := sysctl(t, a, "net"); got != "0" {
		t.Errorf("%s in the client namespace is %q: the setting leaked out of the appliance's", sysctl6, got)
	}
	if got := sysctl(t, a, "host"); got != host {
		t.Fatalf("%s on the host changed from %q to %q: the test must never touch the host", sysctl6, host, got)
	}

	a.writeHAProxy(vip6)
	c := a.client()
	a.waitServed(c, vip6)
	for i := 0; i < 20; i++ {
		if err := get(c, vip6); err != nil {
			t.Fatalf("request %d to [%s]:8080: %v", i, vip6, err)
		}
	}

	// The checklist agrees: the frontend binds, and the VIP answers.
	rep := a.checkReport(a.hapCfg, 0)
	if h := rep["haproxy"]; h.Status != "pass" {
		t.Errorf("haproxy check with %s=1:\n%s", sysctl6, h)
	}
	if v := rep["vip"]; v.Status != "pass" {
		t.Errorf("vip check with HAProxy serving [%s]:8080:\n%s", vip6, v)
	}
}

// Without the sysctl the same configuration does not start: HAProxy
// cannot bind the VIP, and `anyip-routes check` fails the frontend by
// name and line before HAProxy is even tried.
func TestIPv6VIPRefusedWithoutNonlocalBind(t *testing.T) {
	a := newIPv6Appliance(t)
	if got := sysctl(t, a, "vm"); got != "0" {
		t.Fatalf("%s is %q in a new namespace; the test needs the kernel default 0", sysctl6, got)
	}
	text := a.haproxyConfig(vip6)
	hapCfg := filepath.Join(a.dir, "haproxy-v6.cfg")
	if err := os.WriteFile(hapCfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	line := 0 // of the bind
	for i, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == "bind ["+vip6+"]:8080" {
			line = i + 1
		}
	}

	// The checklist names the frontend, its bind line, and the fix.
	rep := a.checkReport(hapCfg, 1)
	h := rep["haproxy"]
	for _, w := range []string{"frontend fe0 (" + hapCfg + ":" + strconv.Itoa(line) + ")", "[" + vip6 + "]:8080", sysctl6 + "=1"} {
		if !strings.Contains(h.String(), w) {
			t.Errorf("haproxy check does not say %q:\n%s", w, h)
		}
	}
	if h.Status != "fail" {
		t.Errorf("haproxy check is %q, want fail:\n%s", h.Status, h)
	}

	// HAProxy itself: a valid configuration that cannot start.
	if out, err := a.vm.Command("haproxy", "-c", "-f", hapCfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c rejects the configuration; it should fail only at bind time: %v\n%s", err, out)
	}
	cmd := a.vm.Command("haproxy", "-db", "-f", hapCfg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("haproxy exited 0:\n%s", out.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("haproxy started and bound [%s]:8080 without %s=1:\n%s", vip6, sysctl6, out.String())
	}
	if !strings.Contains(out.String(), "cannot bind socket") || !strings.Contains(out.String(), vip6) {
		t.Errorf("haproxy did not refuse for the bind of [%s]:8080:\n%s", vip6, out.String())
	}
	if err := get(a.client(), vip6); err == nil {
		t.Errorf("[%s]:8080 answered although HAProxy did not start", vip6)
	}
}

package boottest

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go4.org/netipx"
	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/e2etest"
)

const (
	cfgPath   = "/etc/vmware/anyip-routes.cfg"
	statePath = "/var/lib/anyip/firstboot.yaml"
	envKey    = "guestinfo.ovfEnv"
	statusKey = "guestinfo.anyip.status"
	rangeKey  = "loadbalance.service_ip_range"
)

// TestBoot3NIC boots the 3-NIC example and walks the appliance's life in
// one container: first boot, the order of the units, check, the watchdog,
// restarts, hand edits, and reboots with a changed, an invalid environment.
// Each scenario is a subtest and starts from what the one before left.
func TestBoot3NIC(t *testing.T) {
	env := example(t, "ovf-env-3nic.xml")
	cfg := mustConfig(t, env)
	a := New(t, Options{Env: env, HAProxy: HAProxyConfig(cfg.ServiceRanges, BackendServer(cfg.AdditionalNetworks))})
	bt := a.Boot(url(VIP(cfg.ServiceRanges[0]), 80))
	ranges := prefixes(cfg.ServiceRanges)
	vipNIC := nicOf(t, a, cfg.ServiceRanges[0])
	vip := VIP(cfg.ServiceRanges[0])

	if !t.Run("first boot", func(t *testing.T) { firstBoot(a.For(t), cfg, bt) }) {
		return
	}
	t.Run("boot order", func(t *testing.T) { bootOrder(a.For(t)) })
	t.Run("check", func(t *testing.T) { check(a.For(t), ranges) })
	t.Run("network", func(t *testing.T) { network(a.For(t), cfg, vipNIC.Role, vip) })
	t.Run("check fails reply-path without the rules", func(t *testing.T) { checkReplyPath(a.For(t), ranges, vipNIC.Role) })
	t.Run("watchdog", func(t *testing.T) { watchdog(a.For(t), ranges, url(VIP(cfg.ServiceRanges[0]), 80)) })
	t.Run("restart and stop keep the routes", func(t *testing.T) {
		restartStop(a.For(t), ranges, url(VIP(cfg.ServiceRanges[0]), 80))
	})

	// The operator's ranges: free space in the VIPs' network.
	avoid := []netip.Addr{vipNIC.Addr.Addr(), vipNIC.Router, vipNIC.Addr.Masked().Addr(), netipx.PrefixLastIP(vipNIC.Addr.Masked())}
	extra := FreeRanges(vipNIC.Addr.Masked(), 28, 3, cfg.ServiceRanges, avoid...)
	if len(extra) < 3 {
		t.Fatalf("no room for test ranges in %s", vipNIC.Addr.Masked())
	}
	t.Run("hand edit followed", func(t *testing.T) { handEdit(a.For(t), ranges, extra[0], extra[1]) })

	added := extra[2]
	env2 := withProperty(t, env, rangeKey, cfg.ServiceRanges, added)
	t.Run("reboot with a range added", func(t *testing.T) {
		rebootAdded(a.For(t), env2, ranges, added, extra[0])
	})

	// A range typed with host bits set: first boot refuses the whole
	// environment and nothing changes.
	bad := netip.PrefixFrom(VIP(cfg.ServiceRanges[0]), cfg.ServiceRanges[0].Bits())
	badRanges := append([]netip.Prefix{bad}, cfg.ServiceRanges[1:]...)
	env3 := withProperty(t, env, rangeKey, badRanges, added)
	t.Run("reboot with an invalid environment", func(t *testing.T) {
		rebootInvalid(a.For(t), env3, bad, cfg.ServiceRanges[0], url(VIP(cfg.ServiceRanges[0]), 80))
	})

	gwEnv := env2
	t.Run("reboot with a gateway changed", func(t *testing.T) {
		gwEnv = rebootGateway(a.For(t), env2, cfg, append(slices.Clone(cfg.ServiceRanges), added), vipNIC.Role, vip)
	})
	t.Run("reboot with a bad host name", func(t *testing.T) {
		rebootBadHostname(a.For(t), gwEnv, cfg, vipNIC.Role, vip)
	})
}

// TestBoot2NIC boots the 2-NIC example (VIPs on the workload network), then
// reboots it with no environment at all.
func TestBoot2NIC(t *testing.T) {
	env := example(t, "ovf-env-2nic.xml")
	cfg := mustConfig(t, env)
	a := New(t, Options{Env: env, HAProxy: HAProxyConfig(cfg.ServiceRanges, BackendServer(cfg.AdditionalNetworks))})
	bt := a.Boot(url(VIP(cfg.ServiceRanges[0]), 80))
	ranges := prefixes(cfg.ServiceRanges)
	if !t.Run("first boot", func(t *testing.T) { firstBoot(a.For(t), cfg, bt) }) {
		return
	}
	t.Run("boot order", func(t *testing.T) { bootOrder(a.For(t)) })
	t.Run("check", func(t *testing.T) { check(a.For(t), ranges) })
	t.Run("network", func(t *testing.T) {
		network(a.For(t), cfg, nicOf(t, a, cfg.ServiceRanges[0]).Role, VIP(cfg.ServiceRanges[0]))
	})
	t.Run("reboot with no environment", func(t *testing.T) {
		rebootNoEnv(a.For(t), ranges, url(VIP(cfg.ServiceRanges[0]), 80))
	})
}

// TestBootDHCP boots the 3-NIC example with the workload and the frontend
// NIC left to DHCP, dnsmasq leasing in the routers' namespace.
func TestBootDHCP(t *testing.T) {
	env, nets := dhcpEnv(t, "workload", "frontend")
	cfg := mustConfig(t, env)
	a := New(t, Options{Env: env, DHCP: nets, HAProxy: HAProxyConfig(cfg.ServiceRanges, BackendServer(cfg.AdditionalNetworks))})
	// The frontend is there as the guest's NIC, its keys empty.
	cfg.NICs = append(cfg.NICs, appliance.NIC{Role: "frontend"})
	vip := VIP(cfg.ServiceRanges[0])
	bt := a.Boot(url(vip, 80))
	t.Logf("figures: DHCP boot to VIPs serving %v, boot finished %v", bt.Serving.Round(time.Millisecond), bt.Running.Round(time.Millisecond))
	t.Run("leases", func(t *testing.T) { dhcpBoot(a.For(t), cfg, prefixes(cfg.ServiceRanges), "frontend", vip) })
}

func firstBoot(a *Appliance, cfg appliance.Config, bt BootTimes) {
	ranges := prefixes(cfg.ServiceRanges)
	a.unit("anyip-network.service", "active", "exited", "success", "0")
	a.unit("anyip-firstboot.service", "active", "exited", "success", "0")
	a.unit("anyip-routes.service", "active", "running", "success", "")
	a.unit("haproxy.service", "active", "running", "success", "")
	j := a.Journal("-u", "anyip-firstboot")
	a.contains("journal of anyip-firstboot", j, "source=vmware-rpctool", "anyip-firstboot: ok: "+cli.Plural(len(ranges), "route")+" added")
	// Each fact once: the log said each step, so the report's lines of
	// the parts and changes stay off the journal.
	for _, l := range strings.Split(j, "\n") {
		if strings.HasPrefix(l, "ranges: ") || strings.HasPrefix(l, "route local: ") || strings.HasPrefix(l, cfgPath+": ") {
			a.Fatalf("journal of anyip-firstboot: %q repeats what the log said\n%s", l, j)
		}
	}
	if st, want := a.Show("anyip-routes.service", "StatusText")["StatusText"], cli.Plural(len(ranges), "range")+" in place"; !strings.Contains(st, want) {
		a.Fatalf("anyip-routes status: want %q, got %q", want, st)
	}
	if got := managed(a.ReadFile(cfgPath)); !slices.Equal(got, ranges) {
		a.Fatalf("%s: managed block: want %v, got %v\n%s", cfgPath, ranges, got, a.ReadFile(cfgPath))
	}
	a.routes(sorted(ranges))
	// The network from the wizard, written at boot by the early half.
	for _, n := range a.NICs {
		out := a.MustExec("ip", "-br", "addr", "show", "dev", n.Role)
		if !strings.Contains(out, n.Addr.String()) {
			a.Fatalf("NIC %s: want address %s from the environment, got %q", n.Role, n.Addr, out)
		}
	}
	if h := strings.TrimSpace(a.MustExec("hostname")); h != cfg.Hostname {
		a.Fatalf("host name %q, want %q from the environment", h, cfg.Hostname)
	}
	if s := a.ReadFile(statePath); !strings.Contains(s, ranges[0]) {
		a.Fatalf("%s: want the ranges recorded, got\n%s", statePath, s)
	}
	for i, r := range cfg.ServiceRanges {
		a.serves(url(VIP(r), 80), fmt.Sprintf("%s vip-%d", VIP(r), i+1))
		// Any address of the range, through the wildcard frontend.
		last := netipx.PrefixLastIP(r).Prev()
		a.serves(url(last, 8080), last.String()+" any")
	}
	a.published("ok: ")

	fb := a.Mono("anyip-firstboot.service", "ActiveEnterTimestampMonotonic") - a.Mono("anyip-firstboot.service", "InactiveExitTimestampMonotonic")
	early := a.Mono("anyip-network.service", "ActiveEnterTimestampMonotonic") - a.Mono("anyip-network.service", "InactiveExitTimestampMonotonic")
	svc := a.Mono("anyip-routes.service", "ActiveEnterTimestampMonotonic") - a.Mono("anyip-routes.service", "InactiveExitTimestampMonotonic")
	a.t.Logf("figures: %d NICs: boot to VIPs serving %v, boot finished %v, first boot early (network) %v, first boot start to done %v, anyip-routes start to READY %v",
		len(a.NICs), bt.Serving.Round(time.Millisecond), bt.Running.Round(time.Millisecond), usec(early), usec(fb), usec(svc))
	if bt.Serving == 0 {
		a.Fatalf("the VIP did not answer during the boot")
	}
}

// bootOrder: first boot's early half ≤ networkd ≤ network-online ≤ first
// boot ≤ anyip-routes READY ≤ HAProxy.
func bootOrder(a *Appliance) {
	steps := []struct{ unit, prop, what string }{
		{"anyip-network.service", "InactiveExitTimestampMonotonic", "anyip-network started"},
		{"anyip-network.service", "ActiveEnterTimestampMonotonic", "anyip-network done"},
		{"systemd-networkd.service", "InactiveExitTimestampMonotonic", "systemd-networkd started"},
		{"network-online.target", "ActiveEnterTimestampMonotonic", "network-online.target reached"},
		{"anyip-firstboot.service", "InactiveExitTimestampMonotonic", "first boot started"},
		{"anyip-firstboot.service", "ActiveEnterTimestampMonotonic", "first boot done"},
		{"anyip-routes.service", "InactiveExitTimestampMonotonic", "anyip-routes started"},
		{"anyip-routes.service", "ActiveEnterTimestampMonotonic", "anyip-routes READY"},
		{"haproxy.service", "InactiveExitTimestampMonotonic", "haproxy started"},
		{"haproxy.service", "ActiveEnterTimestampMonotonic", "haproxy ready"},
	}
	var prev int64
	var log []string
	for i, s := range steps {
		v := a.Mono(s.unit, s.prop)
		log = append(log, fmt.Sprintf("%s at %d µs", s.what, v))
		if v == 0 {
			a.Fatalf("%s: %s is 0 (never happened)", s.what, s.prop)
		}
		if i > 0 && v < prev {
			a.Fatalf("boot order: %s before %s:\n%s", s.what, steps[i-1].what, strings.Join(log, "\n"))
		}
		prev = v
	}
}

func check(a *Appliance, ranges []string) {
	code, out, errs := a.Exec("anyip-routes", "check", "--control-plane-ranges", strings.Join(ranges, ","))
	if code != 0 {
		a.Fatalf("anyip-routes check: exit %d, want 0\n%s%s", code, out, errs)
	}
	for _, c := range []string{"config", "routes", "safety", "haproxy", "control-plane", "service", "vip", "network", "reply-path", "backends"} {
		if !regexp.MustCompile(`(?m)^PASS\s+` + regexp.QuoteMeta(c) + `\b`).MatchString(out) {
			a.Fatalf("anyip-routes check: want PASS %s\n%s", c, out)
		}
	}
}

// watchdog: the service keeps pinging the (test-shortened) watchdog, and a
// hung service is killed and restarted by it, the routes in place
// throughout.
func watchdog(a *Appliance, ranges []string, vip string) {
	const unit = "anyip-routes.service"
	p := a.Show(unit, "WatchdogUSec", "NRestarts", "MainPID", "ActiveEnterTimestampMonotonic")
	wd, _ := strconv.ParseInt(p["WatchdogUSec"], 10, 64)
	if wd <= 0 {
		// systemctl shows it as a duration on some versions.
		if d, err := time.ParseDuration(p["WatchdogUSec"]); err == nil {
			wd = d.Microseconds()
		}
	}
	if wd != 3_000_000 {
		a.Fatalf("%s: WatchdogUSec %q, want 3s from the test drop-in", unit, p["WatchdogUSec"])
	}
	// Up for two watchdog periods without a restart: the pings arrive.
	up, _ := strconv.ParseInt(p["ActiveEnterTimestampMonotonic"], 10, 64)
	if wait := time.Duration(up+2*wd-monoNow())*time.Microsecond + 100*time.Millisecond; wait > 0 {
		time.Sleep(wait)
	}
	p = a.Show(unit, "NRestarts", "MainPID", "WatchdogTimestampMonotonic", "ActiveState")
	if p["NRestarts"] != "0" || p["ActiveState"] != "active" {
		a.Fatalf("%s after %v: NRestarts %s, %s; want 0, active (the watchdog pings)", unit, 2*usec(wd), p["NRestarts"], p["ActiveState"])
	}
	last, _ := strconv.ParseInt(p["WatchdogTimestampMonotonic"], 10, 64)
	if age := monoNow() - last; last == 0 || age > wd {
		a.Fatalf("%s: last watchdog ping %v ago, want within %v", unit, usec(age), usec(wd))
	}

	old := p["MainPID"]
	s := a.Sample(ranges, vip)
	a.MustExec("kill", "-STOP", old)
	ok := e2etest.Poll(20*time.Second, func() bool {
		q := a.Show(unit, "NRestarts", "MainPID", "ActiveState", "SubState")
		return q["NRestarts"] == "1" && q["MainPID"] != old && q["MainPID"] != "0" && q["ActiveState"] == "active" && q["SubState"] == "running"
	})
	problems := s.Stop()
	if !ok {
		a.Fatalf("%s: SIGSTOPped main process %s not restarted by the watchdog within 20 s: %v", unit, old, a.Show(unit, "NRestarts", "MainPID", "ActiveState", "SubState", "Result"))
	}
	a.contains("journal of "+unit, a.Journal("-u", unit), "Watchdog timeout", "Failed with result 'watchdog'")
	if problems != "" {
		a.Fatalf("while the watchdog restarted the hung service: %s", problems)
	}
	a.routes(sorted(ranges))
	rs, hs := s.Counts()
	a.t.Logf("%d samples of the table and %d requests during the hang and the restart, none missing", rs, hs)
}

// restartStop: restart, stop and start of the service, the routes and
// the VIPs sampled continuously.
func restartStop(a *Appliance, ranges []string, vip string) {
	const unit = "anyip-routes.service"
	cfgBefore := a.ReadFile(cfgPath)
	s := a.Sample(ranges, vip)
	a.MustExec("systemctl", "restart", unit)
	a.unit(unit, "active", "running", "success", "")
	a.MustExec("systemctl", "stop", unit)
	if code, out, _ := a.Exec("systemctl", "is-active", unit); code == 0 || strings.TrimSpace(out) != "inactive" {
		a.Fatalf("%s after stop: is-active %q (exit %d), want inactive", unit, strings.TrimSpace(out), code)
	}
	time.Sleep(300 * time.Millisecond) // the routes must stay while it is down
	a.MustExec("systemctl", "start", unit)
	a.unit(unit, "active", "running", "success", "")
	problems := s.Stop()
	if problems != "" {
		a.Fatalf("restart/stop/start of %s: %s", unit, problems)
	}
	a.contains("journal of "+unit, a.Journal("-u", unit), "stopping; the routes stay in place")
	a.routes(sorted(ranges))
	if got := a.ReadFile(cfgPath); got != cfgBefore {
		a.Fatalf("%s changed by restarting the service:\nbefore\n%s\nafter\n%s", cfgPath, cfgBefore, got)
	}
	rs, hs := s.Counts()
	a.t.Logf("%d samples of the table and %d requests during restart, stop and start, none missing", rs, hs)
}

// handEdit: an operator adds two lines with a shell append and removes one
// with sed -i (rename into place); the routes follow.
func handEdit(a *Appliance, ranges []string, keep, drop netip.Prefix) {
	a.Sh(fmt.Sprintf("printf '%%s\\n' %s %s >> %s", keep, drop, cfgPath))
	want := sorted(append(slices.Clone(ranges), keep.String(), drop.String()))
	if !e2etest.Poll(5*time.Second, func() bool { return slices.Equal(a.Routes(), want) }) {
		a.Fatalf("after adding %s and %s to %s: routes %v, want %v", keep, drop, cfgPath, a.Routes(), want)
	}
	a.serves(url(VIP(drop), 8080), VIP(drop).String()+" any")
	a.Sh(fmt.Sprintf("sed -i '\\|^%s$|d' %s", drop, cfgPath))
	want = sorted(append(slices.Clone(ranges), keep.String()))
	if !e2etest.Poll(5*time.Second, func() bool { return slices.Equal(a.Routes(), want) }) {
		a.Fatalf("after removing %s from %s: routes %v, want %v", drop, cfgPath, a.Routes(), want)
	}
	if body, err := a.httpGet(url(VIP(drop), 8080), 500*time.Millisecond); err == nil {
		a.Fatalf("%s still answers after its range was removed: %q", VIP(drop), body)
	}
	a.serves(url(VIP(keep), 8080), VIP(keep).String()+" any")
	j := a.Journal("-u", "anyip-routes")
	a.contains("journal of anyip-routes", j, "range added", "range="+keep.String(), "range removed", "range="+drop.String())
	a.unit("anyip-routes.service", "active", "running", "success", "")
	if st, want := a.Show("anyip-routes.service", "StatusText")["StatusText"], cli.Plural(len(ranges)+1, "range")+" in place"; !strings.Contains(st, want) {
		a.Fatalf("anyip-routes status after the edits: want %q, got %q", want, st)
	}
}

// rebootAdded: vCenter's properties gained a range; the next boot applies
// it and keeps the operator's lines.
func rebootAdded(a *Appliance, env []byte, ranges []string, added, operator netip.Prefix) {
	before := a.ReadFile(cfgPath)
	opBefore := outside(before)
	if !slices.Contains(opBefore, operator.String()) {
		a.Fatalf("%s before the reboot lacks the operator's %s:\n%s", cfgPath, operator, before)
	}
	a.GuestInfo.Set(envKey, string(env))
	nsets := len(a.GuestInfo.Sets())
	bt := a.Reboot(url(VIP(added), 8080))
	a.t.Logf("figures: reboot to the added range serving %v, boot finished %v", bt.Serving.Round(time.Millisecond), bt.Running.Round(time.Millisecond))
	a.unit("anyip-firstboot.service", "active", "exited", "success", "0")
	a.contains("journal of anyip-firstboot", a.Journal("-u", "anyip-firstboot"), `msg="wrote the ranges file" cmd=anyip-firstboot path=`+cfgPath+` gained=[`+added.String()+`]`, `msg="range added" cmd=anyip-firstboot range=`+added.String())
	after := a.ReadFile(cfgPath)
	wantManaged := append(slices.Clone(ranges), added.String())
	if got := managed(after); !slices.Equal(got, wantManaged) {
		a.Fatalf("%s: managed block %v, want %v\n%s", cfgPath, got, wantManaged, after)
	}
	if got := outside(after); !slices.Equal(got, opBefore) {
		a.Fatalf("%s: the operator's lines changed:\nbefore %q\nafter  %q", cfgPath, opBefore, got)
	}
	a.routes(sorted(append(slices.Clone(wantManaged), operator.String())))
	a.serves(url(VIP(added), 8080), VIP(added).String()+" any")
	a.serves(url(VIP(operator), 8080), VIP(operator).String()+" any")
	sets := a.GuestInfo.Sets()
	if len(sets) <= nsets {
		a.Fatalf("no guestinfo published during the reboot")
	}
	a.published("ok: ")
}

// rebootInvalid: an environment with a bad range changes nothing; HAProxy
// still serves; systemctl status and the journal say why.
func rebootInvalid(a *Appliance, env []byte, bad, meant netip.Prefix, vip string) {
	cfgBefore, stateBefore, routesBefore := a.ReadFile(cfgPath), a.ReadFile(statePath), a.Routes()
	a.GuestInfo.Set(envKey, string(env))
	a.Reboot(vip)
	a.unit("anyip-firstboot.service", "failed", "failed", "exit-code", "1")
	a.unit("anyip-routes.service", "active", "running", "success", "")
	a.unit("haproxy.service", "active", "running", "success", "")
	code, status, _ := a.Exec("systemctl", "status", "--no-pager", "--lines=20", "anyip-firstboot.service")
	if code != 3 {
		a.Fatalf("systemctl status anyip-firstboot: exit %d, want 3 (failed)\n%s", code, status)
	}
	a.contains("systemctl status anyip-firstboot", status, rangeKey, bad.String(), meant.String(), "nothing was changed")
	a.contains("journal of anyip-firstboot", a.Journal("-u", "anyip-firstboot"), "the configuration is invalid", bad.String())
	// What an operator filtering on warnings sees: systemd's line and first
	// boot's finding, logged at its priority.
	a.contains("journalctl -p warning", a.Journal("-p", "warning"), "anyip-firstboot.service: Failed with result 'exit-code'", rangeKey, bad.String())
	if got := a.ReadFile(cfgPath); got != cfgBefore {
		a.Fatalf("%s changed by an invalid environment:\nbefore\n%s\nafter\n%s", cfgPath, cfgBefore, got)
	}
	if got := a.ReadFile(statePath); got != stateBefore {
		a.Fatalf("%s changed by an invalid environment", statePath)
	}
	a.routes(routesBefore)
	a.serves(vip, "")
	a.published("invalid: ", bad.String())
}

// rebootNoEnv: no guestinfo.ovfEnv and no ISO: first boot fails naming what
// it tried, the appliance keeps what it had.
func rebootNoEnv(a *Appliance, ranges []string, vip string) {
	cfgBefore := a.ReadFile(cfgPath)
	a.GuestInfo.Set(envKey, "")
	nsets := len(a.GuestInfo.Sets())
	a.Reboot(vip)
	a.unit("anyip-firstboot.service", "failed", "failed", "exit-code", "3")
	a.unit("anyip-routes.service", "active", "running", "success", "")
	a.unit("haproxy.service", "active", "running", "success", "")
	a.contains("journal of anyip-firstboot", a.Journal("-u", "anyip-firstboot"), "no OVF environment found", "vmware-rpctool")
	if got := a.ReadFile(cfgPath); got != cfgBefore {
		a.Fatalf("%s changed without an environment:\nbefore\n%s\nafter\n%s", cfgPath, cfgBefore, got)
	}
	a.routes(sorted(ranges))
	a.serves(vip, "")
	if len(a.GuestInfo.Sets()) <= nsets {
		a.Fatalf("no guestinfo published during the reboot")
	}
	a.published("failed: ", "no OVF environment found")
}

// --- assertions -------------------------------------------------------------

// unit asserts a unit's states; "" skips a field.
func (a *Appliance) unit(unit, active, sub, result, status string) {
	a.t.Helper()
	p := a.Show(unit, "ActiveState", "SubState", "Result", "ExecMainStatus")
	for _, c := range [][3]string{{"ActiveState", active}, {"SubState", sub}, {"Result", result}, {"ExecMainStatus", status}} {
		if c[1] != "" && p[c[0]] != c[1] {
			a.Fatalf("%s: %s=%s, want %s (%v)\n%s", unit, c[0], p[c[0]], c[1], p, a.Journal("-u", unit))
		}
	}
}

func (a *Appliance) contains(what, text string, want ...string) {
	a.t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			a.Fatalf("%s: want %q in\n%s", what, w, text)
		}
	}
}

func (a *Appliance) routes(want []string) {
	a.t.Helper()
	if got := a.Routes(); !slices.Equal(got, want) {
		a.Fatalf("table local, proto 241: %v, want %v", got, want)
	}
}

// serves asserts that url answers from the clients' namespace, with want
// at the start of the body when given.
func (a *Appliance) serves(u, want string) {
	a.t.Helper()
	body, err := a.HTTPGet(u)
	if err != nil {
		a.Fatalf("GET %s from %s: %v", u, a.Net.Name, err)
	}
	if !strings.HasPrefix(body, want) {
		a.Fatalf("GET %s: body %q, want it to start with %q", u, body, want)
	}
}

// published asserts the last guestinfo.anyip.status set came from first
// boot's unit and holds want.
func (a *Appliance) published(want ...string) {
	a.t.Helper()
	var last *InfoSet
	for _, s := range a.GuestInfo.Sets() {
		if s.Key == statusKey {
			last = &s
		}
	}
	if last == nil {
		a.Fatalf("no %s published", statusKey)
		return
	}
	if last.Unit != "anyip-firstboot.service" {
		a.Fatalf("%s set by %q, want anyip-firstboot.service", statusKey, last.Unit)
	}
	for _, w := range want {
		if !strings.Contains(last.Value, w) {
			a.Fatalf("%s = %q, want %q in it", statusKey, last.Value, w)
		}
	}
}

// --- helpers ------------------------------------------------------------------

func example(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e2etest.Root(), "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustConfig(t *testing.T, env []byte) appliance.Config {
	t.Helper()
	cfg, err := Config(env)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.ServiceRanges) == 0 {
		t.Fatal("the environment has no VIP ranges")
	}
	return cfg
}

// nicOf is the NIC whose network holds the range.
func nicOf(t *testing.T, a *Appliance, r netip.Prefix) NIC {
	t.Helper()
	for _, n := range a.NICs {
		if n.Subnet.Contains(r.Addr()) {
			return n
		}
	}
	t.Fatalf("no NIC's network holds %s", r)
	return NIC{}
}

// withProperty returns env with key set to the ranges, as vCenter would
// after the operator edited the vApp options.
func withProperty(t *testing.T, env []byte, key string, ranges []netip.Prefix, more ...netip.Prefix) []byte {
	t.Helper()
	all := append(slices.Clone(ranges), more...)
	re := regexp.MustCompile(`(oe:key="` + regexp.QuoteMeta(key) + `"\s+oe:value=")[^"]*(")`)
	if !re.Match(env) {
		t.Fatalf("environment has no property %s", key)
	}
	return re.ReplaceAll(env, []byte("${1}"+strings.Join(prefixes(all), ", ")+"${2}"))
}

func prefixes(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func url(a netip.Addr, port uint16) string {
	return "http://" + netip.AddrPortFrom(a, port).String() + "/"
}

// managed returns the ranges between first boot's markers.
func managed(cfg string) []string {
	in, _ := splitBlock(cfg)
	return slices.DeleteFunc(in, func(l string) bool { return l == "" || strings.HasPrefix(l, "#") })
}

// outside returns every line outside first boot's block, as written.
func outside(cfg string) []string {
	_, out := splitBlock(cfg)
	return out
}

// splitBlock cuts the file's lines into those between first boot's markers
// and those outside them (the markers themselves in neither).
func splitBlock(cfg string) (inside, outside []string) {
	in := false
	for _, l := range strings.Split(cfg, "\n") {
		switch {
		case strings.HasPrefix(l, cfgfile.BeginMarker):
			in = true
		case strings.HasPrefix(l, cfgfile.EndMarker):
			in = false
		case in:
			inside = append(inside, l)
		default:
			outside = append(outside, l)
		}
	}
	return inside, outside
}

// monoNow is CLOCK_MONOTONIC in microseconds: the container shares the
// kernel's clock, so it compares with systemd's *TimestampMonotonic.
func monoNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1000
}

func usec(n int64) time.Duration {
	return (time.Duration(n) * time.Microsecond).Round(time.Millisecond)
}

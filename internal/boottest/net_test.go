package boottest

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/e2etest"
)

// The scenarios of the appliance's network: who routes what, asked of the
// kernel inside the container and seen on the routers' links.

// requests is how many requests a scenario sends through a router: enough
// packets to tell a router that carried the flow from one that saw none.
const requests = 5

// nic is the appliance's NIC of a role.
func (a *Appliance) nic(role string) NIC {
	a.t.Helper()
	for _, n := range a.NICs {
		if n.Role == role {
			return n
		}
	}
	a.Fatalf("the appliance has no %s NIC", role)
	return NIC{}
}

// tap starts counting on the router's end of a role's network.
func (a *Appliance) tap(role string, watch ...netip.Addr) *Tap {
	a.t.Helper()
	t, err := NewTap(a.Net, a.nic(role).RouterLink(), watch...)
	if err != nil {
		a.Fatalf("%v", err)
	}
	return t
}

// farClient: the client behind the routers (Far) reaches vip, and both the
// request and the reply cross the router of the network facing the VIP
// (role), none of it the management router.
func farClient(a *Appliance, role string, vip netip.Addr) {
	via, mgmt := a.tap(role, a.Client), a.tap("management", a.Client)
	for i := 0; i < requests; i++ {
		body, err := a.HTTPGetFar(url(vip, 80))
		if err != nil || !strings.HasPrefix(body, vip.String()+" ") {
			via.Stop()
			mgmt.Stop()
			a.Fatalf("GET %s from the client %s behind the %s router: %q, %v", url(vip, 80), a.Client, role, body, err)
		}
	}
	cv, cm := via.Stop(), mgmt.Stop()
	if n := total(cm, netip.Addr{}, netip.Addr{}); n != 0 {
		a.Fatalf("the management router saw %d packets of the client %s's %d requests to %s, want none: %v", n, a.Client, requests, vip, cm)
	}
	if in, out := total(cv, a.Client, vip), total(cv, vip, a.Client); in < requests || out < requests {
		a.Fatalf("the %s router carried %d packets to %s and %d replies from it for %d requests, want at least %d each way: %v", role, in, vip, out, requests, requests, cv)
	}
	a.t.Logf("%d requests from %s to %s: %d packets through the %s router, none through the management router", requests, a.Client, vip, total(cv, netip.Addr{}, netip.Addr{}), role)
}

// backend: a request to the VIP's backend frontend reaches the server on
// the additional workload network through the workload router, from the
// appliance's workload address.
func backend(a *Appliance, vip netip.Addr) {
	wl := a.nic("workload")
	srv := a.BackendAddr.Addr()
	via, mgmt := a.tap("workload", srv), a.tap("management", srv)
	u := url(vip, BackendPort)
	for i := 0; i < requests; i++ {
		body, err := a.HTTPGetFar(u)
		if err != nil || !strings.HasPrefix(body, "backend "+srv.String()+" from ") {
			via.Stop()
			mgmt.Stop()
			a.Fatalf("GET %s (HAProxy to the backend %s): %q, %v\n%s", u, a.BackendAddr, body, err, a.Journal("-u", "haproxy"))
		}
		from := strings.TrimSpace(strings.TrimPrefix(body, "backend "+srv.String()+" from "))
		if ap, err := netip.ParseAddrPort(from); err != nil || !wl.Subnet.Contains(ap.Addr()) {
			a.Fatalf("the backend %s was reached from %s, want an address of the workload network %s", srv, from, wl.Subnet)
		}
	}
	cv, cm := via.Stop(), mgmt.Stop()
	if n := total(cm, netip.Addr{}, netip.Addr{}); n != 0 {
		a.Fatalf("the management router saw %d packets to or from the backend %s, want none: %v", n, srv, cm)
	}
	if to, from := total(cv, netip.Addr{}, srv), total(cv, srv, netip.Addr{}); to < requests || from < requests {
		a.Fatalf("the workload router carried %d packets to the backend %s and %d from it for %d requests, want at least %d each way: %v", to, srv, from, requests, requests, cv)
	}
}

// ipRules are our rules (priorities 10100-10499) as `ip rule` inside the
// appliance prints them, without the protocol, each as often as it is
// there.
func (a *Appliance) ipRules() []string {
	a.t.Helper()
	var out []string
	re := regexp.MustCompile(`^(10[1-4]\d\d):\s+(.*?)(\s+proto \S+)?\s*$`)
	for _, l := range strings.Split(a.MustExec("ip", "-4", "rule", "show"), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			out = append(out, m[1]+": "+strings.Join(strings.Fields(m[2]), " "))
		}
	}
	slices.Sort(out)
	return out
}

// rules asserts that the appliance has exactly the rules want, each once.
func (a *Appliance) rules(want []string) {
	a.t.Helper()
	got := a.ipRules()
	seen := map[string]int{}
	for _, r := range got {
		seen[r]++
	}
	for r, n := range seen {
		if n != 1 {
			a.Fatalf("ip rule: %q is there %d times, want once\n%s", r, n, a.MustExec("ip", "rule", "show"))
		}
	}
	want = sorted(want)
	if !slices.Equal(got, want) {
		a.Fatalf("ip rule (priorities 10100-10499):\n got  %q\n want %q\n%s", got, want, a.MustExec("ip", "rule", "show"))
	}
}

// wantRules are the rules DESIGN.md §4a promises for a configuration: to
// each additional workload network through the workload table; from each
// static workload or frontend subnet to its table; from each range outside
// every static subnet to the table of the network facing it (the frontend
// when there is one); and for each DHCP network its link routes for all.
func wantRules(cfg appliance.Config, ranges []netip.Prefix) []string {
	table := map[string]string{"workload": "anyip_workload", "frontend": "anyip_frontend"}
	prio := map[string]int{"workload": 10200, "frontend": 10300}
	var out []string
	for _, b := range cfg.AdditionalNetworks {
		out = append(out, fmt.Sprintf("10100: from all to %s lookup anyip_workload", b.Masked()))
	}
	facing := "workload"
	for _, n := range cfg.NICs {
		if n.Role == "frontend" {
			facing = "frontend"
		}
		if table[n.Role] == "" {
			continue
		}
		if n.Static() {
			out = append(out, fmt.Sprintf("%d: from %s lookup %s", prio[n.Role], n.Subnet(), table[n.Role]))
		} else {
			out = append(out, fmt.Sprintf("10400: from all lookup %s suppress_prefixlength 0", table[n.Role]))
		}
	}
	for _, r := range ranges {
		inside := slices.ContainsFunc(cfg.NICs, func(n appliance.NIC) bool { return n.Static() && n.Subnet().Contains(r.Addr()) })
		if !inside {
			out = append(out, fmt.Sprintf("%d: from %s lookup %s", prio[facing], r.Masked(), table[facing]))
		}
	}
	return out
}

// tables asserts the routes of each network's table and the main table:
// a link route and a default route via the router in tables 2 and 3, and
// in the main table one default route, the management gateway's.
func (a *Appliance) tables(cfg appliance.Config) {
	a.t.Helper()
	for _, n := range a.NICs {
		if n.Role == "management" {
			continue
		}
		t := map[string]string{"workload": "2", "frontend": "3"}[n.Role]
		out := a.MustExec("ip", "-4", "route", "show", "table", t)
		want := []string{"default via " + n.Router.String() + " dev " + n.Role + " ", n.Subnet.String() + " dev " + n.Role + " "}
		for _, w := range want {
			if !strings.Contains(out, w) {
				a.Fatalf("ip route show table %s (%s): want %q in\n%s", t, n.Role, w, out)
			}
		}
		if c := strings.Count(out, "default "); c != 1 {
			a.Fatalf("ip route show table %s (%s): %d default routes, want one\n%s", t, n.Role, c, out)
		}
	}
	mgmt := a.nic("management")
	out := a.MustExec("ip", "-4", "route", "show", "table", "main", "default")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "default via "+mgmt.Router.String()+" dev management ") {
		a.Fatalf("ip route show table main default: want only the management gateway's %s, got\n%s", mgmt.Router, out)
	}
}

// setProperty returns env with key set to value, as vCenter would after
// the operator edited the vApp options.
func setProperty(a *Appliance, env []byte, key, value string) []byte {
	a.t.Helper()
	re := regexp.MustCompile(`(oe:key="` + regexp.QuoteMeta(key) + `"\s+oe:value=")[^"]*(")`)
	if !re.Match(env) {
		a.Fatalf("environment has no property %s", key)
	}
	return re.ReplaceAll(env, []byte("${1}"+value+"${2}"))
}

// checkReplyPath: check passes, fails reply-path once the frontend's rule
// is deleted by hand, and passes again once networkd has put it back as
// check's hint says. `networkctl reload` alone does not (systemd 252 leaves
// links whose files are unchanged alone); the hint names reconfigure.
func checkReplyPath(a *Appliance, ranges []string, role string) {
	a.checkItems(0, ranges, "network", "reply-path", "backends")
	n := a.nic(role)
	prio := map[string]string{"workload": "10200", "frontend": "10300"}[role]
	table := map[string]string{"workload": "2", "frontend": "3"}[role]
	before := a.ipRules()
	a.MustExec("ip", "rule", "del", "priority", prio, "from", n.Subnet.String(), "table", table)
	// The NIC's own traffic to the outside takes the same rule: network
	// fails with reply-path.
	out := a.checkItems(1, ranges, "backends")
	if !regexp.MustCompile(`(?m)^FAIL\s+reply-path\b`).MatchString(out) {
		a.Fatalf("anyip-routes check without the rule from %s: want FAIL reply-path\n%s", n.Subnet, out)
	}
	a.contains("anyip-routes check", out, "not through "+role)
	// The control of farClient: without the rule the replies leave through
	// the management NIC, and its router's link shows them.
	if vip, ok := a.vipIn(n.Subnet, ranges); ok {
		mgmt := a.tap("management", a.Client)
		for i := 0; i < requests; i++ {
			a.HTTPGetFar(url(vip, 80))
		}
		if c := mgmt.Stop(); total(c, vip, a.Client) < requests {
			a.Fatalf("without the rule from %s the management router carried %d replies from %s, want at least %d: %v", n.Subnet, total(c, vip, a.Client), vip, requests, c)
		}
	}
	m := regexp.MustCompile("`(networkctl reconfigure [^`]+)`").FindStringSubmatch(out)
	if m == nil {
		a.Fatalf("anyip-routes check: want a hint naming networkctl reconfigure\n%s", out)
	}
	a.MustExec("networkctl", "reload")
	a.MustExec("sh", "-c", m[1])
	if !e2etest.Poll(10*time.Second, func() bool { return slices.Equal(a.ipRules(), before) }) {
		a.Fatalf("after networkctl reload and %s: rules %q, want %q back", m[1], a.ipRules(), before)
	}
	a.checkItems(0, ranges, "network", "reply-path", "backends")
}

// vipIn is the VIP of the first range inside subnet.
func (a *Appliance) vipIn(subnet netip.Prefix, ranges []string) (netip.Addr, bool) {
	for _, r := range ranges {
		if p, err := netip.ParsePrefix(r); err == nil && subnet.Contains(p.Addr()) {
			return VIP(p), true
		}
	}
	return netip.Addr{}, false
}

// checkItems runs check and asserts its exit code (unless code is -1) and
// that the named items passed; it returns the output.
func (a *Appliance) checkItems(code int, ranges []string, pass ...string) string {
	a.t.Helper()
	c, out, errs := a.Exec("anyip-routes", "check", "--control-plane-ranges", strings.Join(ranges, ","))
	if code >= 0 && c != code {
		a.Fatalf("anyip-routes check: exit %d, want %d\n%s%s", c, code, out, errs)
	}
	for _, p := range pass {
		if !regexp.MustCompile(`(?m)^PASS\s+` + regexp.QuoteMeta(p) + `\b`).MatchString(out) {
			a.Fatalf("anyip-routes check: want PASS %s\n%s", p, out)
		}
	}
	return out
}

// network: the NICs' routes and rules as DESIGN.md §4a says, a client
// behind the router of the VIPs' network served through that router, and
// the backend reached through the workload router.
func network(a *Appliance, cfg appliance.Config, role string, vip netip.Addr) {
	a.rules(wantRules(cfg, cfg.ServiceRanges))
	a.tables(cfg)
	farClient(a, role, vip)
	if a.Backend != nil {
		backend(a, vip)
	}
}

// rebootGateway: the gateway of the VIPs' network changes in vCenter; after
// the reboot its table's default route is via the new one, and every rule
// is there once. It returns the environment booted.
func rebootGateway(a *Appliance, env []byte, cfg appliance.Config, ranges []netip.Prefix, role string, vip netip.Addr) []byte {
	n := a.nic(role)
	// The router answers on the new address too.
	gw := n.Router.Next()
	for gw == n.Addr.Addr() || slices.ContainsFunc(ranges, func(r netip.Prefix) bool { return r.Contains(gw) }) {
		gw = gw.Next()
	}
	a.AddRouterAddr(role, netip.PrefixFrom(gw, n.Subnet.Bits()))
	env = setProperty(a, env, "network."+role+"_gateway", gw.String())
	a.GuestInfo.Set(envKey, string(env))
	a.Reboot(url(vip, 80))
	a.unit("anyip-network.service", "active", "exited", "success", "0")
	a.unit("anyip-firstboot.service", "active", "exited", "success", "0")
	t := map[string]string{"workload": "2", "frontend": "3"}[role]
	out := a.MustExec("ip", "-4", "route", "show", "table", t)
	if !strings.Contains(out, "default via "+gw.String()+" dev "+role+" ") || strings.Contains(out, "via "+n.Router.String()+" ") || strings.Count(out, "default ") != 1 {
		a.Fatalf("ip route show table %s after the gateway moved from %s to %s:\n%s", t, n.Router, gw, out)
	}
	if f := a.ReadFile("/etc/systemd/network/10-anyip-" + role + ".network"); !strings.Contains(f, "Gateway="+gw.String()+"\n") {
		a.Fatalf("10-anyip-%s.network: want Gateway=%s\n%s", role, gw, f)
	}
	c := cfg
	a.rules(wantRules(c, ranges))
	farClient(a, role, vip)
	return env
}

// rebootBadHostname: a host name that is no host name is refused, and
// only the host name: the name servers changed in the same edit are
// written, the VIPs come up, and the unit fails with the finding.
func rebootBadHostname(a *Appliance, env []byte, cfg appliance.Config, role string, vip netip.Addr) {
	const bad = "bad_name!"
	hostBefore, fileBefore := strings.TrimSpace(a.MustExec("hostname")), a.ReadFile("/etc/hostname")
	rulesBefore, routesBefore := a.ipRules(), a.Routes()
	ns := cfg.Nameservers[0]
	env = setProperty(a, env, appliance.KeyHostname, bad)
	env = setProperty(a, env, appliance.KeyNameservers, ns.String())
	a.GuestInfo.Set(envKey, string(env))
	a.Reboot(url(vip, 80))
	a.unit("anyip-firstboot.service", "failed", "failed", "exit-code", "1")
	a.unit("anyip-routes.service", "active", "running", "success", "")
	a.unit("haproxy.service", "active", "running", "success", "")
	a.contains("journalctl -p warning", a.Journal("-p", "warning"), "anyip-firstboot.service: Failed with result 'exit-code'", appliance.KeyHostname, bad)
	const hostRefused = `msg="the host name is refused; it stays as it is"`
	a.contains("journal of anyip-network", a.Journal("-u", "anyip-network"), hostRefused, `msg="wrote the name servers"`, `msg="wrote the NIC's network file" cmd=anyip-firstboot nic=management`)
	j := a.Journal("-u", "anyip-firstboot")
	a.contains("journal of anyip-firstboot", j, hostRefused, "nothing was changed for hostname; the other parts were applied")
	for _, l := range strings.Split(j, "\n") {
		if strings.HasPrefix(l, "level=ERROR") && strings.Contains(l, "refused") && !strings.Contains(l, hostRefused) {
			a.Fatalf("journal of anyip-firstboot: another part refused by a bad host name: %s\n%s", l, j)
		}
	}
	if h := strings.TrimSpace(a.MustExec("hostname")); h != hostBefore {
		a.Fatalf("host name %q after a refused %q, want %q as before", h, bad, hostBefore)
	}
	if f := a.ReadFile("/etc/hostname"); f != fileBefore {
		a.Fatalf("/etc/hostname changed by a refused host name: %q, was %q", f, fileBefore)
	}
	if r := a.ReadFile("/etc/resolv.conf"); strings.Count(r, "nameserver ") != 1 || !strings.Contains(r, "nameserver "+ns.String()+"\n") {
		a.Fatalf("/etc/resolv.conf: want only %s from the changed network.nameservers\n%s", ns, r)
	}
	if f := a.ReadFile("/etc/systemd/network/10-anyip-management.network"); strings.Count(f, "DNS=") != 1 {
		a.Fatalf("10-anyip-management.network: want one DNS= after the change\n%s", f)
	}
	a.rules(rulesBefore)
	a.routes(routesBefore)
	farClient(a, role, vip)
	a.published("invalid: ", appliance.KeyHostname)
}

// dhcpEnv is the 3-NIC example with the roles' NICs left to DHCP (empty
// addresses and gateways), and the networks their routers lease from.
func dhcpEnv(t *testing.T, roles ...string) ([]byte, map[string]netip.Prefix) {
	env := example(t, "ovf-env-3nic.xml")
	nets := map[string]netip.Prefix{}
	for _, role := range roles {
		for _, k := range []string{"network." + role + "_ip", "network." + role + "_gateway"} {
			re := regexp.MustCompile(`(oe:key="` + regexp.QuoteMeta(k) + `"\s+oe:value=")([^"]*)(")`)
			m := re.FindSubmatch(env)
			if m == nil {
				t.Fatalf("the example has no %s", k)
			}
			if p, err := netip.ParsePrefix(string(m[2])); err == nil {
				nets[role] = p.Masked()
			}
			env = re.ReplaceAll(env, []byte("${1}${3}"))
		}
	}
	return env, nets
}

// dhcpBoot: addresses from the leases, the leases' routes in the networks'
// tables and none in the main one, VIP replies through the router of the
// network facing them, the backends through the workload router.
func dhcpBoot(a *Appliance, cfg appliance.Config, ranges []string, role string, vip netip.Addr) {
	a.unit("anyip-network.service", "active", "exited", "success", "0")
	a.unit("anyip-firstboot.service", "active", "exited", "success", "0")
	a.unit("haproxy.service", "active", "running", "success", "")
	for _, n := range a.NICs {
		out := a.MustExec("ip", "-4", "-br", "addr", "show", "dev", n.Role)
		if !n.DHCP() {
			continue
		}
		f := strings.Fields(out)
		var got netip.Prefix
		if len(f) >= 3 {
			got, _ = netip.ParsePrefix(f[2])
		}
		if !got.IsValid() || !n.Pool.Contains(got.Addr()) || got.Bits() != n.Subnet.Bits() {
			a.Fatalf("NIC %s: want an address of the lease pool %s/%d, got %q\n%s", n.Role, n.Pool, n.Subnet.Bits(), out, a.DHCPLog())
		}
		if d := a.MustExec("ip", "-4", "addr", "show", "dev", n.Role); !strings.Contains(d, "dynamic") {
			a.Fatalf("NIC %s: the address is not a lease's (dynamic):\n%s", n.Role, d)
		}
	}
	a.tables(cfg)
	a.rules(wantRules(cfg, cfg.ServiceRanges))
	a.checkItems(-1, ranges, "network", "reply-path", "backends")
	farClient(a, role, vip)
	if a.Backend != nil {
		backend(a, vip)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
	"github.com/anyip/anyip/internal/state"
)

// lab is an appliance (the box's namespace) on a network: a veth pair to a
// second namespace standing for the rest of the network, which holds the
// gateway. The appliance is 10.20.0.5/24 and fd00:20::5/64 on eth0, with
// default routes via 10.20.0.1 and fd00:20::1, name server 10.20.0.53,
// and the VIP ranges 10.20.0.128/26 and fd00:20::1:0/120 applied by
// `anyip-routes up`.
type lab struct {
	*box
	lan *netnstest.NS
	// systemctl stand-ins: the service enabled and active, failed, and no
	// systemd to ask.
	systemctlOK, systemctlFailed, systemctlAbsent string
	// journalctl stand-ins: no errors since boot, and two.
	journalQuiet, journalErrors string
	// stateDir holds first boot's record of its last run.
	stateDir string
}

const (
	vipRange4 = "10.20.0.128/26"
	vipRange6 = "fd00:20::1:0/120"
)

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{box: newBox(t), lan: netnstest.New(t)}
	l.ns.Veth(t, "eth0", "10.20.0.5/24", l.lan, "lan0", "10.20.0.1/24")
	l.ip("addr", "add", "fd00:20::5/64", "dev", "eth0", "nodad")
	l.lan.Run(t, "ip", "addr", "add", "fd00:20::1/64", "dev", "lan0", "nodad")
	l.ip("route", "add", "default", "via", "10.20.0.1")
	l.ip("-6", "route", "add", "default", "via", "fd00:20::1")
	if err := os.WriteFile(l.resolvConf, []byte("search example.internal\nnameserver 10.20.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.writeCfg("# VIP ranges", vipRange4, vipRange6)
	l.want(l.run("up"), 0)

	l.systemctlOK = l.script("systemctl-ok", `case "$1" in is-enabled) echo enabled;; is-active) echo active;; *) exit 9;; esac`)
	l.systemctlFailed = l.script("systemctl-failed", `case "$1" in is-enabled) echo disabled; exit 1;; is-active) echo failed; exit 3;; *) exit 9;; esac`)
	l.stateDir = filepath.Join(l.dir, "state")
	if err := state.Save(l.stateDir, &state.Record{AppliedAt: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC), Source: "guestinfo (backdoor)",
		Ranges: []string{vipRange4, vipRange6}, Block: []string{vipRange4}, Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	l.journalQuiet = l.script("journalctl-quiet", `case "$*" in *"-p err"*) ;; *) echo "Journal started";; esac`)
	l.journalErrors = l.script("journalctl-errors", `case "$*" in *"-p err"*) echo "error: loadbalance.service_ip_range = \"10.20.0.0/26\": 10.20.0.0/26 contains 10.20.0.1"; echo "anyip-firstboot: failed: read table local: permission denied";; esac`)
	l.systemctlAbsent = l.script("systemctl-absent", `echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2; echo "Failed to connect to bus: Host is down" >&2; exit 1`)
	return l
}

// script writes an executable shell script and returns its path.
func (l *lab) script(name, body string) string {
	l.t.Helper()
	p := filepath.Join(l.dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		l.t.Fatal(err)
	}
	return p
}

// check runs `anyip-routes check` in the appliance with the service
// reported enabled and active unless args say otherwise (a later flag
// wins), and no HAProxy configuration unless args give one.
func (l *lab) check(args ...string) result {
	l.t.Helper()
	// The network checks read first boot's networkd files: none here, so
	// they skip, whatever this machine's /etc holds.
	return l.run(append([]string{"check", "--systemctl", l.systemctlOK, "--journalctl", l.journalQuiet, "--state-dir", l.stateDir, "--haproxy-config=", "--network-dir", l.t.TempDir()}, args...)...)
}

type checkJSON struct {
	Name    string   `json:"name"`
	Status  string   `json:"status"`
	Summary string   `json:"summary"`
	Details []string `json:"details"`
	Hint    string   `json:"hint"`
}

type reportJSON struct {
	Checks []checkJSON `json:"checks"`
	Result string      `json:"result"`
}

// checkJSON runs the check with --output json and decodes the report.
func (l *lab) checkJSON(code int, args ...string) reportJSON {
	l.t.Helper()
	r := l.check(append(args, "--output", "json")...)
	l.want(r, code)
	var rep reportJSON
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		l.t.Fatalf("output is not JSON: %v\n%s", err, r.Stdout)
	}
	return rep
}

func (rep reportJSON) get(t *testing.T, name string) checkJSON {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, rep)
	return checkJSON{}
}

// wantCheck asserts a check's status and that its summary, details and
// hint together hold each of want.
func (rep reportJSON) wantCheck(t *testing.T, name, status string, want ...string) checkJSON {
	t.Helper()
	c := rep.get(t, name)
	all := c.Summary + "\n" + strings.Join(c.Details, "\n") + "\n" + c.Hint
	if c.Status != status {
		t.Errorf("%s: status %s, want %s\n%s", name, c.Status, status, all)
		return c
	}
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("%s: %q missing from\n%s", name, w, all)
		}
	}
	return c
}

func (rep reportJSON) statuses() map[string]string {
	m := map[string]string{}
	for _, c := range rep.Checks {
		m[c.Name] = c.Status
	}
	return m
}

const haproxyHead = `global
    maxconn 200

defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    default_backend pool

`

const haproxyTail = `
backend pool
    server s1 127.0.0.1:9
`

// goodHAProxy binds VIPs inside the IPv4 range, a wildcard, the
// appliance's own address and loopback: everything HAProxy can bind here.
const goodHAProxy = haproxyHead + `frontend web
    bind 10.20.0.130:8080,10.20.0.131:8443   # two VIPs
    bind unix@/run/haproxy-web.sock

frontend any
    bind *:9090

listen dataplane
    bind 10.20.0.5:5556
    server local 127.0.0.1:9

frontend stats
    bind 127.0.0.1:8404
` + haproxyTail

// writeHAProxy writes an HAProxy configuration into the lab.
func (l *lab) writeHAProxy(name, text string) string {
	l.t.Helper()
	p := filepath.Join(l.dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		l.t.Fatal(err)
	}
	return p
}

// haproxy is HAProxy running in the appliance.
type haproxy struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// startHAProxy runs HAProxy on cfg in the foreground in the appliance
// namespace, waits until it accepts connections on each of addrs, and
// stops it at cleanup.
func (l *lab) startHAProxy(cfg string, addrs ...string) *haproxy {
	l.t.Helper()
	h := &haproxy{cmd: l.ns.Command("haproxy", "-f", cfg, "-db"), out: &syncBuffer{}, done: make(chan struct{})}
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.out
	if err := h.cmd.Start(); err != nil {
		l.t.Fatalf("start haproxy: %v", err)
	}
	go func() { h.cmd.Wait(); close(h.done) }()
	l.t.Cleanup(h.stop)
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range addrs {
		for {
			c, err := l.ns.Dial("tcp", a)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-h.done:
				l.t.Fatalf("haproxy exited:\n%s", h.out.String())
			default:
			}
			if time.Now().After(deadline) {
				l.t.Fatalf("haproxy does not accept connections on %s within 10s: %v\n%s", a, err, h.out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return h
}

func (h *haproxy) stop() {
	select {
	case <-h.done:
	default:
		h.cmd.Process.Kill()
		<-h.done
	}
}

// runHAProxyOnce starts HAProxy on cfg and returns its output when it
// exits on its own within 10 seconds; exited is false when it kept
// running (it was then stopped).
func (l *lab) runHAProxyOnce(cfg string) (out string, exited bool) {
	l.t.Helper()
	cmd := l.ns.Command("haproxy", "-f", cfg, "-db")
	buf := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return buf.String(), true
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		return buf.String(), false
	}
}

var textLine = regexp.MustCompile(`^(PASS|WARN|FAIL|SKIP|ERROR) +([a-z-]+) +(\S.*)$`)

// TestCheckAllPass: a healthy appliance with HAProxy serving VIPs passes
// every check, in text and in JSON; its IPv6 range is on eth0's link,
// where the route service answers neighbour solicitations for it.
func TestCheckAllPass(t *testing.T) {
	l := newLab(t)
	cfg := l.writeHAProxy("haproxy.cfg", goodHAProxy)
	l.startHAProxy(cfg, "10.20.0.130:8080", "10.20.0.131:8443", "10.20.0.5:9090")
	// Another VM on the link, outside the ranges, does not matter.
	l.lan.Run(t, "ip", "addr", "add", "10.20.0.50/24", "dev", "lan0")

	args := []string{"--haproxy-config", cfg, "--control-plane-ranges", "10.20.0.128-10.20.0.191, fd00:20::1:0/120", "--probe"}
	r := l.check(args...)
	l.want(r, 0)
	var names []string
	lines := strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
	for _, line := range lines {
		m := textLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		names = append(names, m[2])
		network := m[2] == "network" || m[2] == "reply-path" || m[2] == "backends"
		if m[1] != "PASS" && !(network && m[1] == "SKIP") {
			t.Errorf("not a pass: %s", line)
		}
	}
	want := []string{"config", "routes", "safety", "on-link", "haproxy", "control-plane", "service", "firstboot", "haproxy-unit", "journal", "probe", "vip", "network", "reply-path", "backends"}
	if !slices.Equal(names, want) {
		t.Errorf("checks in the text output: %q, want %q\n%s", names, want, r.Stdout)
	}
	if last := lines[len(lines)-1]; last != "result: PASS (12 passed, 3 skipped)" {
		t.Errorf("last line %q", last)
	}

	rep := l.checkJSON(0, args...)
	if rep.Result != "pass" || len(rep.Checks) != 15 {
		t.Fatalf("json: %+v", rep)
	}
	rep.wantCheck(t, "safety", "pass", "no range holds a gateway")
	rep.wantCheck(t, "on-link", "pass", "2 ranges of 2 on the link of 1 interface",
		"eth0 (fd00:20::/64): fd00:20::1:0/120: neighbour solicitations answered by anyip-routes watch",
		"eth0 (10.20.0.0/24): 10.20.0.128/26: ARP answered by the kernel")
	rep.wantCheck(t, "config", "pass", "2 ranges (1 IPv4, 1 IPv6)")
	rep.wantCheck(t, "routes", "pass", "2 of 2 ranges in table local (2 proto anyip)")
	rep.wantCheck(t, "haproxy", "pass", "5 addresses in 4 frontends", "1 socket not IP")
	rep.wantCheck(t, "vip", "pass", "2 VIPs accepted a TCP connection", "fd00:20::1:0/120: no frontend binds in it")
	p := rep.wantCheck(t, "probe", "pass", "no other host answered for 320 addresses on eth0")
	t.Logf("probe: %s", p.Summary)
	for _, c := range rep.Checks {
		if c.Details == nil {
			t.Errorf("%s: details is null, want a list", c.Name)
		}
	}
}

// TestCheckConfig: a bad line is named with its number and text; a
// missing file fails; an unreadable one cannot be checked (exit 3).
func TestCheckConfig(t *testing.T) {
	l := newLab(t)
	l.writeCfg("# VIP ranges", vipRange4, "10.20.0.70/26", vipRange6)
	r := l.check()
	l.want(r, 1)
	for _, want := range []string{
		"FAIL  config         " + l.cfg + ": 1 line does not parse\n",
		"      " + l.cfg + `:3 = "10.20.0.70/26": has host bits set (did you mean 10.20.0.64/26?)` + "\n",
		"      what to do: fix or delete the lines above",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
	// The good lines are still checked: their routes are in place.
	rep := l.checkJSON(1)
	rep.wantCheck(t, "routes", "pass", "2 of 2 ranges")

	if err := os.Remove(l.cfg); err != nil {
		t.Fatal(err)
	}
	rep = l.checkJSON(1)
	rep.wantCheck(t, "config", "fail", "does not exist", "create it")
	rep.wantCheck(t, "routes", "fail", "2 routes of ours no longer in the file", "10.20.0.128/26: a route of ours")

	// Something that is not a file where the file should be is, like a
	// missing file, the operator's to fix; it is named, never read.
	if err := os.Mkdir(l.cfg, 0o755); err != nil {
		t.Fatal(err)
	}
	l.ip("route", "flush", "table", "local", "proto", "241")
	l.ip("-6", "route", "flush", "table", "local", "proto", "241")
	rep = l.checkJSON(1)
	rep.wantCheck(t, "config", "fail", l.cfg+" is a directory, not a regular file", "make it a regular file")
	if rep.Result != "fail" {
		t.Errorf("result %q, want fail", rep.Result)
	}
}

// TestCheckRoutes: a range missing from the table and a route of ours the
// file dropped fail; a range left by the old service counts as present.
func TestCheckRoutes(t *testing.T) {
	l := newLab(t)
	l.ip("route", "add", "local", "10.20.0.208/28", "dev", "lo", "table", "local")                 // old service: proto boot
	l.ip("route", "add", "local", "10.20.0.224/28", "dev", "lo", "table", "local", "proto", "241") // ours, not in the file
	l.writeCfg(vipRange4, vipRange6, "10.20.0.192/28", "10.20.0.208/28")
	rep := l.checkJSON(1)
	rep.wantCheck(t, "routes", "fail",
		"1 of 4 ranges missing from table local, 1 route of ours no longer in the file",
		"10.20.0.192/28 ("+l.cfg+":3): no local route on lo in table local",
		"10.20.0.224/28: a route of ours (proto anyip) that the file no longer has",
		"10.20.0.208/28 ("+l.cfg+":4): present as proto boot",
		"anyip-routes up")

	l.want(l.run("up"), 0)
	rep = l.checkJSON(0)
	rep.wantCheck(t, "routes", "pass", "4 of 4 ranges in table local (4 proto anyip)")
}

// TestCheckSafety: ranges holding the gateway, the name server and the
// appliance's address, and overlapping ranges, fail with each named.
func TestCheckSafety(t *testing.T) {
	l := newLab(t)
	l.writeCfg("10.20.0.0/28", "10.20.0.48/28", vipRange4, "10.20.0.160/27")
	rep := l.checkJSON(1)
	rep.wantCheck(t, "safety", "fail",
		l.cfg+`:1 = "10.20.0.0/28": 10.20.0.0/28 contains 10.20.0.1, the current default gateway`,
		"contains 10.20.0.5, an address already held (on eth0)",
		l.cfg+`:2 = "10.20.0.48/28": 10.20.0.48/28 contains 10.20.0.53, a name server in use`,
		l.cfg+`:4 = "10.20.0.160/27": 10.20.0.160/27 overlaps 10.20.0.128/26`,
		"shrink or split the range")
}

// TestCheckHAProxy: frontends on VIPs outside every range would fail to
// bind; the check names them with their lines. The refused configuration
// is valid to `haproxy -c`: it is refused only when HAProxy binds.
func TestCheckHAProxy(t *testing.T) {
	l := newLab(t)
	refused := l.writeHAProxy("refused.cfg", haproxyHead+`frontend web
    bind 10.20.0.130:8080
frontend legacy
    bind 10.20.9.9:80,10.20.0.140:80
frontend web6
    bind [fd00:20::1:10]:443 ssl crt /nonexistent.pem
frontend from-env
    bind "${VIP_ADDR}:443"
`+haproxyTail)
	// web6's crt does not exist, so ask haproxy -c about the rest.
	syntax := l.writeHAProxy("refused-syntax.cfg", strings.Replace(mustRead(t, refused), " ssl crt /nonexistent.pem", "", 1))
	if out, err := l.ns.Command("haproxy", "-c", "-f", syntax).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c finds the configuration invalid; it should be refused only at bind time: %v\n%s", err, out)
	}

	rep := l.checkJSON(1, "--haproxy-config", refused)
	rep.wantCheck(t, "haproxy", "fail",
		"2 frontends of 4 would fail to bind, so HAProxy will not start: frontend legacy, frontend web6",
		"frontend legacy ("+refused+":14): 10.20.9.9:80 is outside every range and not held by this system: cannot bind",
		"frontend web6 ("+refused+":16): [fd00:20::1:10]:443 is inside a range, but the kernel binds an IPv6 address only when it is assigned",
		`frontend from-env (`+refused+`:18): cannot check "${VIP_ADDR}:443", an environment variable ${VIP_ADDR}`,
		"net.ipv6.ip_nonlocal_bind=1")
	if c := rep.get(t, "haproxy"); strings.Contains(strings.Join(c.Details, "\n"), "10.20.0.140") || strings.Contains(strings.Join(c.Details, "\n"), "frontend web ") {
		t.Errorf("addresses inside the range are named:\n%s", strings.Join(c.Details, "\n"))
	}
	r := l.check("--haproxy-config", refused)
	if !strings.Contains(r.Stdout, "FAIL  haproxy ") || !strings.Contains(r.Stdout, "      frontend legacy ("+refused+":14): ") {
		t.Errorf("text output:\n%s", r.Stdout)
	}

	// With non-local binds allowed HAProxy starts: the VIP outside the
	// ranges binds but gets no traffic (a warning), the IPv6 VIP inside
	// a range binds and is served.
	l.ns.Run(t, "sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1", "net.ipv6.ip_nonlocal_bind=1")
	l.startHAProxy(syntax, "10.20.0.130:8080", "10.20.0.140:80", "[fd00:20::1:10]:443")
	rep = l.checkJSON(0, "--haproxy-config", syntax)
	rep.wantCheck(t, "haproxy", "warn",
		"frontend legacy ("+syntax+":14): 10.20.9.9:80 is outside every range; HAProxy will bind it (net.ipv4.ip_nonlocal_bind=1) but no traffic for it arrives here")
	if c := rep.get(t, "haproxy"); strings.Contains(strings.Join(c.Details, "\n"), "web6") {
		t.Errorf("the IPv6 VIP is named although it binds now:\n%s", strings.Join(c.Details, "\n"))
	}
	rep.wantCheck(t, "vip", "pass", "3 VIPs accepted a TCP connection")

	// A configuration that is not there, asked for by name: cannot check.
	rep = l.checkJSON(3, "--haproxy-config", filepath.Join(l.dir, "nonexistent.cfg"))
	rep.wantCheck(t, "haproxy", "error", "cannot read the HAProxy configuration")
	rep.wantCheck(t, "vip", "skip")
}

// TestCheckAgreesWithHAProxy: where the check says a frontend cannot
// bind, HAProxy itself refuses to start, and where it says it can, HAProxy
// starts. This is what keeps the kernel rules in check 4 honest.
func TestCheckAgreesWithHAProxy(t *testing.T) {
	l := newLab(t)
	for _, c := range []struct {
		name, bind, dial string
		ok               bool
	}{
		{"ipv4-vip", "10.20.0.150:8080", "10.20.0.150:8080", true},
		{"ipv4-outside", "10.20.9.9:8080", "", false},
		{"ipv6-vip", "[fd00:20::1:10]:8080", "", false}, // routed, not assigned
		{"ipv6-own", "[fd00:20::5]:8080", "[fd00:20::5]:8080", true},
		{"loopback-route", "127.0.0.2:8080", "127.0.0.2:8080", true},
	} {
		cfg := l.writeHAProxy(c.name+".cfg", haproxyHead+"frontend fe\n    bind "+c.bind+"\n"+haproxyTail)
		if c.ok {
			h := l.startHAProxy(cfg, c.dial) // fails the test if HAProxy does not start
			rep := l.checkJSON(0, "--haproxy-config", cfg)
			rep.wantCheck(t, "haproxy", "pass")
			h.stop()
			continue
		}
		rep := l.checkJSON(1, "--haproxy-config", cfg)
		rep.wantCheck(t, "haproxy", "fail", "frontend fe ("+cfg+":12)")
		out, exited := l.runHAProxyOnce(cfg)
		if !exited || !strings.Contains(out, "cannot bind socket") {
			t.Errorf("%s: the check fails it, but HAProxy (exited %v) does not refuse it:\n%s", c.name, exited, out)
		}
	}
}

// TestCheckControlPlane: control-plane ranges must lie inside the file's;
// the addresses outside are named as compact ranges.
func TestCheckControlPlane(t *testing.T) {
	l := newLab(t)
	rep := l.checkJSON(0, "--control-plane-ranges", "10.20.0.128/27,10.20.0.160-10.20.0.191")
	rep.wantCheck(t, "control-plane", "pass", "2 ranges of the control plane inside the file's ranges")

	rep = l.checkJSON(1, "--control-plane-ranges", "10.20.0.100-10.20.0.200,fd00:20::1:f0-fd00:20::1:10f")
	rep.wantCheck(t, "control-plane", "fail",
		"10.20.0.100-10.20.0.200: 10.20.0.100-10.20.0.127 is outside every range (10.20.0.100/30, 10.20.0.104/29, 10.20.0.112/28)",
		"10.20.0.100-10.20.0.200: 10.20.0.192-10.20.0.200 is outside every range (10.20.0.192/29, 10.20.0.200/32)",
		"fd00:20::1:f0-fd00:20::1:10f: fd00:20::1:100-fd00:20::1:10f is outside every range (fd00:20::1:100/124)",
		"53 addresses the control plane may hand out as VIPs lie outside the file's ranges")
	rep = l.checkJSON(0)
	rep.wantCheck(t, "control-plane", "skip", "not given")
}

// TestCheckService: enabled and active passes; disabled and failed fails
// with what to do; no systemd to ask warns.
func TestCheckService(t *testing.T) {
	l := newLab(t)
	rep := l.checkJSON(0)
	rep.wantCheck(t, "service", "pass", "anyip-routes.service is enabled and active")
	rep = l.checkJSON(1, "--systemctl", l.systemctlFailed)
	rep.wantCheck(t, "service", "fail", "not enabled (disabled) and not running (failed)", "systemctl enable anyip-routes.service", "journalctl -u anyip-routes.service")
	rep = l.checkJSON(0, "--systemctl", l.systemctlAbsent)
	rep.wantCheck(t, "service", "warn", "systemd is not reachable")
	rep = l.checkJSON(0, "--systemctl", filepath.Join(l.dir, "no-systemctl"))
	rep.wantCheck(t, "service", "warn", "cannot ask systemd")
}

// The last first boot, HAProxy's unit and our units' errors since boot
// are items of their own, each with the hint written for it.
func TestCheckUnitsAndJournal(t *testing.T) {
	l := newLab(t)
	rep := l.checkJSON(0)
	rep.wantCheck(t, "firstboot", "pass", "anyip-firstboot.service is enabled and active")
	rep.wantCheck(t, "haproxy-unit", "pass", "haproxy.service is enabled and active")
	rep.wantCheck(t, "journal", "pass", "no errors from anyip-network, anyip-firstboot or anyip-routes since boot")

	rep = l.checkJSON(1, "--systemctl", l.systemctlFailed)
	c := rep.wantCheck(t, "firstboot", "fail", "anyip-firstboot.service is not enabled (disabled) and not running (failed): the last first boot failed or refused the wizard's settings (its journal says which)")
	if c.Hint != "systemctl enable anyip-firstboot.service; systemctl restart anyip-firstboot.service; journalctl -u anyip-firstboot.service says why it stopped" {
		t.Errorf("firstboot hint %q", c.Hint)
	}
	rep.wantCheck(t, "haproxy-unit", "fail", "haproxy.service is not enabled (disabled) and not running (failed): no VIP is served", "systemctl start haproxy.service")

	// A range typed into the first-boot block goes at the next boot.
	l.writeCfg("# BEGIN anyip-firstboot", vipRange4, "10.20.0.64/28", "# END anyip-firstboot", vipRange6)
	l.want(l.run("up"), 0)
	rep = l.checkJSON(0)
	c = rep.wantCheck(t, "firstboot", "warn", "anyip-firstboot.service is enabled and active; 1 range in the first-boot block is not among the vApp ranges",
		"last applied 2026-12-06 08:00:00 UTC from guestinfo (backdoor): ok",
		"10.20.0.64/28 ("+l.cfg+":3): in the first-boot block, but not in the vApp ranges first boot wrote there: the next boot rewrites the block from them, and it goes")
	if !strings.HasPrefix(c.Hint, "move hand-written ranges out of the block") {
		t.Errorf("hint %q", c.Hint)
	}
	// A vApp range taken out of the block by hand comes back at the next
	// boot, even while the operator keeps it below the block.
	l.writeCfg("# BEGIN anyip-firstboot", "# END anyip-firstboot", vipRange4, vipRange6)
	l.want(l.run("up"), 0)
	rep = l.checkJSON(0)
	c = rep.wantCheck(t, "firstboot", "warn", "anyip-firstboot.service is enabled and active; 1 range of the vApp ranges is missing from the block",
		vipRange4+": written into the first-boot block from loadbalance.service_ip_range, and no longer there: the next boot writes it back")
	if !strings.HasPrefix(c.Hint, "to drop a range for good, remove it from the vApp property loadbalance.service_ip_range") {
		t.Errorf("hint %q", c.Hint)
	}
	l.writeCfg("# BEGIN anyip-firstboot", vipRange4, "# END anyip-firstboot", vipRange6)
	l.want(l.run("up"), 0)
	l.checkJSON(0).wantCheck(t, "firstboot", "pass", "anyip-firstboot.service is enabled and active", "the first-boot block holds the vApp ranges first boot wrote (1 range)")
	rep = l.checkJSON(0, "--state-dir", t.TempDir())
	rep.wantCheck(t, "firstboot", "warn", "no applied run is recorded")

	rep = l.checkJSON(0, "--journalctl", l.journalErrors)
	c = rep.wantCheck(t, "journal", "warn", "2 errors from our units since boot (the last 20 at most)")
	if len(c.Details) != 2 || c.Details[0] != `error: loadbalance.service_ip_range = "10.20.0.0/26": 10.20.0.0/26 contains 10.20.0.1` {
		t.Errorf("journal details %q", c.Details)
	}
}

// TestCheckProbe: another host holding an address inside a range answers
// the ARP probe (IPv4) and the neighbour solicitation (IPv6), and is named
// with its MAC; a probe limit short of it finds nothing.
func TestCheckProbe(t *testing.T) {
	l := newLab(t)
	l.lan.Run(t, "ip", "addr", "add", "10.20.0.150/24", "dev", "lan0")
	l.lan.Run(t, "ip", "addr", "add", "fd00:20::1:50/64", "dev", "lan0", "nodad")
	var mac string
	if err := l.lan.Do(func() error {
		ifi, err := net.InterfaceByName("lan0")
		if err == nil {
			mac = ifi.HardwareAddr.String()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	rep := l.checkJSON(1, "--probe")
	t.Logf("check --probe of a /26 and a /120 took %v", time.Since(start))
	c := rep.wantCheck(t, "probe", "fail",
		"2 addresses of the ranges answered from another host",
		fmt.Sprintf("10.20.0.150 (range 10.20.0.128/26) is held by %s: answered ARP on eth0", mac),
		fmt.Sprintf("fd00:20::1:50 (range fd00:20::1:0/120) is held by %s: answered neighbour solicitation on eth0", mac),
		"take these addresses out of the ranges")
	if len(c.Details) != 2 {
		t.Errorf("details: %q", c.Details)
	}
	// Everything else passes: only the probe sees the other host.
	for name, s := range rep.statuses() {
		if name != "probe" && s == "fail" {
			t.Errorf("%s fails too", name)
		}
	}

	// The first 16 addresses of each range are free.
	rep = l.checkJSON(0, "--probe", "--probe-limit", "16")
	rep.wantCheck(t, "probe", "pass", "no other host answered for 32 addresses on eth0",
		"10.20.0.128/26: probed the first 16 of its 64 addresses")

	// A /24 of probes is done in seconds.
	l.writeCfg("10.20.1.0/24")
	l.want(l.run("up"), 0)
	start = time.Now()
	rep = l.checkJSON(0, "--probe")
	elapsed := time.Since(start)
	rep.wantCheck(t, "probe", "pass", "no other host answered for 256 addresses on eth0")
	t.Logf("check --probe of a /24: %v (%s)", elapsed, rep.get(t, "probe").Summary)
	if elapsed > 30*time.Second {
		t.Errorf("probing a /24 took %v", elapsed)
	}
}

// TestCheckVIP: with HAProxy serving, a VIP of each range accepts a
// connection; with HAProxy gone, the check fails and names the VIPs.
func TestCheckVIP(t *testing.T) {
	l := newLab(t)
	l.writeCfg(vipRange4, "10.20.0.192/26", vipRange6)
	l.want(l.run("up"), 0)
	cfg := l.writeHAProxy("haproxy.cfg", goodHAProxy)
	h := l.startHAProxy(cfg, "10.20.0.130:8080")
	rep := l.checkJSON(0, "--haproxy-config", cfg)
	// 10.20.0.192/26 has no frontend of its own: the wildcard on 9090
	// serves its first usable address. The IPv6 range has no frontend.
	rep.wantCheck(t, "vip", "pass", "3 VIPs accepted a TCP connection", "fd00:20::1:0/120: no frontend binds in it")

	h.stop()
	rep = l.checkJSON(1, "--haproxy-config", cfg)
	rep.wantCheck(t, "vip", "fail",
		"3 VIPs of 3 did not accept a TCP connection",
		"10.20.0.130:8080 (range 10.20.0.128/26, frontend web ("+cfg+":12)): connection refused",
		"10.20.0.193:9090 (range 10.20.0.192/26, frontend any ("+cfg+":16)): connection refused",
		"systemctl status haproxy")
	// The configuration itself is still fine.
	rep.wantCheck(t, "haproxy", "pass")

	rep = l.checkJSON(0)
	rep.wantCheck(t, "vip", "skip", "no HAProxy configuration")
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCheckUsage: bad flags and values are usage errors (exit 2), and
// --config may come after the verb.
func TestCheckUsage(t *testing.T) {
	bin := e2etest.Binary(t, "anyip-routes")
	for _, args := range [][]string{
		{"check", "extra"},
		{"check", "--no-such-flag"},
		{"check", "--output", "xml"},
		{"check", "--probe-limit", "0"},
		{"check", "--max-range", "40"},
		{"check", "--control-plane-ranges", "10.20.0.128/33"},
		{"check", "--control-plane-ranges", "10.20.0.200-10.20.0.100"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("anyip-routes %q: %v, want exit 2\n%s", args, err, out)
		}
		if !strings.HasPrefix(string(out), "anyip-routes check: ") || !strings.HasSuffix(string(out), " (see anyip-routes check --help)\n") || strings.Count(string(out), "\n") != 1 {
			t.Errorf("anyip-routes %q did not print one line pointing at --help:\n%s", args, out)
		}
	}
	out, err := exec.Command(bin, "check", "-h").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--control-plane-ranges") || !strings.Contains(string(out), "Exit status") {
		t.Errorf("check -h: %v\n%s", err, out)
	}

	l := newLab(t)
	other := filepath.Join(l.dir, "other.cfg")
	if err := os.WriteFile(other, []byte("10.20.0.192/26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := l.check("--config", other, "--output", "json")
	l.want(r, 1)
	if !strings.Contains(r.Stdout, other+": 1 range") || !strings.Contains(r.Stdout, "10.20.0.192/26 ("+other+":1): no local route") {
		t.Errorf("--config after the verb is not used:\n%s", r.Stdout)
	}
	// --output and --config before the verb are the same as after it.
	hooks := []string{"--systemctl", l.systemctlOK, "--journalctl", l.journalQuiet, "--state-dir", l.stateDir, "--haproxy-config=", "--network-dir", t.TempDir()}
	after := l.run(append(append([]string{"check"}, hooks...), "--output", "json", "--config", other)...)
	before := l.run(append([]string{"--output", "json", "--config", other, "check"}, hooks...)...)
	l.want(before, 1)
	if before.Stdout != after.Stdout || !strings.Contains(before.Stdout, other+": 1 range") {
		t.Errorf("--output json --config before the verb:\n%s\nafter it:\n%s", before.Stdout, after.Stdout)
	}
}

// A range the safety check refuses is one `up` refuses too: the routes
// item says so rather than suggest `up`.
func TestCheckRoutesHintWhenUnsafe(t *testing.T) {
	l := newLab(t)
	l.writeCfg(vipRange4, "10.20.0.0/30")
	rep := l.checkJSON(1)
	rep.wantCheck(t, "safety", "fail", "", "10.20.0.1")
	c := rep.wantCheck(t, "routes", "fail", "1 of 2 ranges missing from table local")
	if c.Hint != "the safety check refuses the file, and the service applies nothing from a refused file: fix the ranges it names; then `anyip-routes up --dry-run` says what `up` would do" {
		t.Errorf("routes hint %q", c.Hint)
	}
}

// The vip item connects only to ranges the safety check accepts and whose
// route is in place: a refused range's addresses belong to real hosts
// (10.20.0.2 here), and a connection to them leaves the NIC.
func TestCheckVIPLeavesOutRefusedRanges(t *testing.T) {
	l := newLab(t)
	cfg := l.writeHAProxy("haproxy.cfg", goodHAProxy)
	l.startHAProxy(cfg, "10.20.0.130:8080")
	// `up` refuses the whole file: neither new range gets a route.
	l.writeCfg(vipRange4, "10.20.0.0/30", "10.20.0.64/28", vipRange6)
	rep := l.checkJSON(1, "--haproxy-config", cfg)
	rep.wantCheck(t, "safety", "fail", "10.20.0.1")
	c := rep.wantCheck(t, "vip", "pass", "2 VIPs accepted a TCP connection")
	want := []string{
		"not connected to 2 ranges, whose traffic would leave the NIC: 10.20.0.0/30 (refused by the safety check, no local route on lo); 10.20.0.64/28 (no local route on lo)",
		"fd00:20::1:0/120: no frontend binds in it, nothing to connect to",
	}
	if !slices.Equal(c.Details, want) {
		t.Errorf("vip details %q\nwant %q", c.Details, want)
	}
}

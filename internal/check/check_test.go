package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/haproxycfg"
	"github.com/anyip/anyip/internal/probe"
	"github.com/anyip/anyip/internal/routes"
	"github.com/anyip/anyip/internal/validate"
	"go4.org/netipx"
)

const cfgPath = "/etc/vmware/anyip-routes.cfg"

func mustCfg(t *testing.T, lines ...string) *cfgfile.File {
	t.Helper()
	f, fs := cfgfile.Parse(cfgPath, []byte(strings.Join(lines, "\n")+"\n"))
	if fs.HasErrors() {
		t.Fatalf("cfg: %v", fs)
	}
	return f
}

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// wantResult checks status, and that the summary and the details hold
// the given substrings (details joined by newlines).
func wantResult(t *testing.T, r Result, status Status, summary string, details ...string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %s, want %s\nsummary: %s\ndetails:\n  %s", r.Name, r.Status, status, r.Summary, strings.Join(r.Details, "\n  "))
		return
	}
	if !strings.Contains(r.Summary, summary) {
		t.Errorf("%s: summary %q, want it to contain %q", r.Name, r.Summary, summary)
	}
	all := strings.Join(r.Details, "\n")
	for _, d := range details {
		if !strings.Contains(all, d) {
			t.Errorf("%s: details do not contain %q:\n  %s", r.Name, d, strings.Join(r.Details, "\n  "))
		}
	}
}

func TestConfig(t *testing.T) {
	r, f := Config(cfgPath, nil, fs.ErrNotExist)
	wantResult(t, r, Fail, "does not exist")
	if f == nil || len(f.Entries) != 0 || !strings.Contains(r.Hint, "create it") {
		t.Errorf("missing file: %+v, hint %q", f, r.Hint)
	}
	r, _ = Config(cfgPath, nil, fs.ErrPermission)
	wantResult(t, r, Error, "cannot read")

	r, f = Config(cfgPath, []byte("# VIPs\n10.20.0.128/26\n10.20.0.70/26\nfd00:20::/120\nbogus here\n"), nil)
	wantResult(t, r, Fail, "2 lines do not parse",
		`anyip-routes.cfg:3 = "10.20.0.70/26": has host bits set (did you mean 10.20.0.64/26?)`,
		`anyip-routes.cfg:5 = "bogus here": holds more than one value`)
	if got := f.Prefixes(); !slices.Equal(got, pfx("10.20.0.128/26", "fd00:20::/120")) {
		t.Errorf("the good lines are still read: %v", got)
	}

	r, _ = Config(cfgPath, []byte("10.20.0.128/26\n10.20.0.128/26\n"), nil)
	wantResult(t, r, Warn, "1 range (1 IPv4, 0 IPv6), 1 warning", "listed again")
	r, _ = Config(cfgPath, []byte("# nothing yet\n"), nil)
	wantResult(t, r, Warn, "no ranges")
	r, _ = Config(cfgPath, []byte("10.20.0.128/26\r\nfd00:20::/120\r\n"), nil)
	wantResult(t, r, Pass, cfgPath+": 2 ranges (1 IPv4, 1 IPv6)")
}

func TestRoutes(t *testing.T) {
	f := mustCfg(t, "10.20.0.0/28", "10.20.0.16/28", "10.20.0.32/28", "10.20.0.48/28", "fd00:20::/120")
	cur := routes.Current{
		Ours: pfx("10.20.0.0/28", "fd00:20::/120", "10.99.0.0/24"),
		Foreign: []routes.Route{
			{Prefix: netip.MustParsePrefix("10.20.0.16/28"), Protocol: 3},
			{Prefix: netip.MustParsePrefix("10.20.0.32/28"), Protocol: 2},
			{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Protocol: 2},
		},
	}
	r := Routes(f, cur, true)
	wantResult(t, r, Fail, "1 of 5 ranges missing from table local, 1 route of ours no longer in the file",
		"10.20.0.48/28 ("+cfgPath+":4): no local route",
		"10.99.0.0/24: a route of ours (proto anyip) that the file no longer has",
		"10.20.0.16/28 ("+cfgPath+":2): present as proto boot",
		"10.20.0.32/28 ("+cfgPath+":3): present as a kernel route")
	if !strings.Contains(r.Hint, "anyip-routes up") {
		t.Errorf("hint %q", r.Hint)
	}
	if r := Routes(f, cur, false); !strings.Contains(r.Hint, "fix the file first") {
		t.Errorf("hint with a bad file: %q", r.Hint)
	}

	cur.Ours = append(pfx("10.20.0.0/28", "fd00:20::/120"), netip.MustParsePrefix("10.20.0.48/28"))
	r = Routes(f, cur, true)
	wantResult(t, r, Pass, "5 of 5 ranges in table local (3 proto anyip, 1 another protocol, 1 kernel)", "present as proto boot")

	r = Routes(mustCfg(t), routes.Current{}, true)
	wantResult(t, r, Pass, "0 of 0 ranges")
}

func facts() validate.Facts {
	h := func(iface, p string) validate.HeldAddr {
		return validate.HeldAddr{Iface: iface, Prefix: netip.MustParsePrefix(p)}
	}
	return validate.Facts{
		Addrs:       []validate.HeldAddr{h("eth0", "10.20.0.5/24"), h("eth0", "fd00:20::5/64"), h("eth0", "fe80::1/64"), h("eth1", "10.10.0.5/24")},
		Gateways:    []validate.HeldAddr{h("eth1", "10.10.0.1/32")},
		Nameservers: []netip.Addr{netip.MustParseAddr("10.20.0.53")},
		ResolvConf:  "/etc/resolv.conf",
	}
}

func TestSafety(t *testing.T) {
	r := Safety(mustCfg(t, "10.20.0.128/26"), facts(), 0, 0)
	wantResult(t, r, Pass, "no range holds a gateway")

	// An IPv6 range on a link passes: the route service answers for it
	// there. One beyond every link draws the warning that a router must
	// route it.
	r = Safety(mustCfg(t, "10.20.0.128/26", "fd00:20::1:0/112"), facts(), 0, 0)
	wantResult(t, r, Pass, "no range holds a gateway")
	r = Safety(mustCfg(t, "10.20.0.128/26", "fd00:99::/112"), facts(), 0, 0)
	wantResult(t, r, Warn, "no range holds a gateway", "outside every attached network")

	r = Safety(mustCfg(t, "10.10.0.0/28", "10.20.0.0/26", "10.20.0.32/27", "10.20.0.128/26"), facts(), 0, 0)
	wantResult(t, r, Fail, "a range takes addresses the network needs",
		cfgPath+`:1 = "10.10.0.0/28": 10.10.0.0/28 contains 10.10.0.1, the current default gateway`,
		"10.20.0.53, a name server in use",
		"10.20.0.5, an address already held (on eth0)",
		cfgPath+`:3 = "10.20.0.32/27": 10.20.0.32/27 overlaps 10.20.0.0/26`)

	r = Safety(mustCfg(t, "10.30.0.0/24"), facts(), 0, 0)
	wantResult(t, r, Warn, "1 warning", "outside every attached network")

	r = Safety(mustCfg(t, "10.0.0.0/12"), facts(), 0, 0)
	wantResult(t, r, Fail, "", "largest allowed: /16")
	r = Safety(mustCfg(t, "10.0.0.0/12"), facts(), 8, 0)
	if strings.Contains(strings.Join(r.Details, "\n"), "largest allowed") {
		t.Errorf("--max-range 8 still refuses a /12: %v", r.Details)
	}
}

func parseHA(t *testing.T, lines ...string) *haproxycfg.Config {
	t.Helper()
	c, err := haproxycfg.Parse("/etc/haproxy/haproxy.cfg", []byte(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sysWith: the addresses assigned to interfaces, and the local routes on
// lo (nil: the table could not be read).
func sysWith(assigned []string, routed []string) System {
	var as []netip.Addr
	for _, a := range assigned {
		as = append(as, netip.MustParseAddr(a))
	}
	s := System{Assigned: func(a netip.Addr) bool { return slices.Contains(as, a) }}
	if routed != nil {
		rs := pfx(routed...)
		s.Routed = func(a netip.Addr) bool { return inside(rs, a) }
	}
	return s
}

func TestHAProxy(t *testing.T) {
	ranges := pfx("10.20.0.128/26", "fd00:20::1:0/112")
	good := parseHA(t,
		"global",
		"    stats socket /run/haproxy/admin.sock mode 660 level admin",
		"defaults",
		"    mode tcp",
		"frontend web",
		"    bind 10.20.0.130:80,10.20.0.131:443 ssl crt /x.pem",
		"    bind [fd00:20::1:5]:443",
		"frontend stats",
		"    bind 127.0.0.1:8404",
		"    bind :9000-9010",
		"    bind unix@/run/haproxy/stats.sock",
		"listen dataplane",
		"    bind 10.20.0.5:5556",
		"backend pool",
		"    server s1 10.1.0.1:80",
	)
	sys := sysWith([]string{"127.0.0.1", "10.20.0.5", "::1"}, []string{"127.0.0.0/8", "10.20.0.128/26", "fd00:20::1:0/112"})
	// IPv6 VIPs bind only with net.ipv6.ip_nonlocal_bind (or transparent).
	r := HAProxy(good, ranges, sys)
	wantResult(t, r, Fail, "1 frontend of 3 would fail to bind",
		"frontend web (/etc/haproxy/haproxy.cfg:7): [fd00:20::1:5]:443 is inside a range, but the kernel binds an IPv6 address only when it is assigned to an interface")
	if !strings.Contains(r.Hint, "net.ipv6.ip_nonlocal_bind=1") {
		t.Errorf("hint %q", r.Hint)
	}
	sys.NonlocalBind6 = true
	r = HAProxy(good, ranges, sys)
	wantResult(t, r, Pass, "6 addresses in 3 frontends bind inside a range, on a held address or a wildcard (1 socket not IP, skipped)")
	// Without the table, the ranges of the file decide.
	r = HAProxy(good, ranges, System{Assigned: sys.Assigned, NonlocalBind6: true})
	wantResult(t, r, Pass, "6 addresses in 3 frontends")
	// 127.0.0.2 is in lo's 127.0.0.0/8 route: it binds.
	r = HAProxy(parseHA(t, "frontend a", "    bind 127.0.0.2:80"), ranges, sys)
	wantResult(t, r, Pass, "1 address in 1 frontend")
	// A range in the file whose route is missing: binds once it is back.
	r = HAProxy(good, ranges, sysWith([]string{"127.0.0.1", "10.20.0.5"}, []string{"127.0.0.0/8"}))
	wantResult(t, r, Fail, "", "10.20.0.130:80 is inside a range whose route is missing")
	sys.NonlocalBind6 = false

	bad := parseHA(t,
		"frontend web",                          // 1
		"    bind 10.20.0.130:80",               // 2
		"frontend outside",                      // 3
		"    bind 10.20.1.10:80,10.20.0.131:80", // 4
		"    bind [fd00:99::1]:443",             // 5
		"frontend typo",                         // 6
		"    bind 10.20.0.300:80",               // 7
		"frontend env",                          // 8
		`    bind "${VIP}:80"`,                  // 9
		"frontend tproxy",                       // 10
		"    bind 10.20.2.1:80 transparent",     // 11
		"listen broken",                         // 12
		`    bind "10.20.0.132:80`,              // 13
		"frontend elsewhere",                    // 14
		"    bind 10.20.3.1:80 namespace blue",  // 15
	)
	r = HAProxy(bad, ranges, sys)
	wantResult(t, r, Fail, "3 frontends of 7 would fail to bind, so HAProxy will not start: frontend outside, frontend typo, listen broken",
		"frontend outside (/etc/haproxy/haproxy.cfg:4): 10.20.1.10:80 is outside every range and not held by this system",
		"frontend outside (/etc/haproxy/haproxy.cfg:5): [fd00:99::1]:443 is outside every range",
		`frontend typo (/etc/haproxy/haproxy.cfg:7): bind "10.20.0.300:80": "10.20.0.300" is not an IP address`,
		`listen broken (/etc/haproxy/haproxy.cfg:13): "bind \"10.20.0.132:80": a quote is not closed`,
		`frontend env (/etc/haproxy/haproxy.cfg:9): cannot check "${VIP}:80", an environment variable ${VIP}`,
		"frontend tproxy (/etc/haproxy/haproxy.cfg:11): 10.20.2.1:80 is outside every range; HAProxy will bind it (option transparent) but no traffic for it arrives here",
		`frontend elsewhere (/etc/haproxy/haproxy.cfg:15): 10.20.3.1:80 binds in network namespace "blue"`,
	)
	if strings.Contains(strings.Join(r.Details, "\n"), "frontend web") {
		t.Errorf("frontend web binds inside a range but is named:\n%s", strings.Join(r.Details, "\n"))
	}

	// With ip_nonlocal_bind, HAProxy starts: a warning, per family.
	outside := parseHA(t, "frontend a", "    bind 10.20.1.10:80", "frontend b", "    bind [fd00:99::1]:80")
	sys = sysWith(nil, []string{"10.20.0.128/26"})
	sys.NonlocalBind4 = true
	r = HAProxy(outside, ranges, sys)
	wantResult(t, r, Fail, "1 frontend of 2 would fail to bind", "net.ipv4.ip_nonlocal_bind=1", "frontend b (/etc/haproxy/haproxy.cfg:4): [fd00:99::1]:80 is outside every range and not held")
	sys.NonlocalBind6 = true
	r = HAProxy(outside, ranges, sys)
	wantResult(t, r, Warn, "2 bind addresses to look at", "no traffic for it arrives here", "net.ipv6.ip_nonlocal_bind=1")

	r = HAProxy(parseHA(t, "global", "defaults"), ranges, sys)
	wantResult(t, r, Pass, "no frontend or listen section binds an address")
}

func TestParseSpans(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"10.20.0.128/26", "10.20.0.128-10.20.0.191", ""},
		{" 10.20.0.128-10.20.0.160 , 10.20.1.0/30,10.20.2.7", "10.20.0.128-10.20.0.160 10.20.1.0-10.20.1.3 10.20.2.7-10.20.2.7", ""},
		{"10.20.0.128 - 10.20.0.130", "10.20.0.128-10.20.0.130", ""},
		{"fd00:20::1:0/112,fd00:20::2:0-fd00:20::2:ff", "fd00:20::1:0-fd00:20::1:ffff fd00:20::2:0-fd00:20::2:ff", ""},
		{"10.20.0.130/26", "", `"10.20.0.130/26" has host bits set (did you mean 10.20.0.128/26?)`},
		{"10.20.0.200-10.20.0.100", "", "ends before it starts"},
		{"10.20.0.1-fd00::1", "", "mixes IPv4 and IPv6"},
		{"10.20.0.0/33", "", `"10.20.0.0/33" has a bad prefix length "33" (the prefix length after / must be a number from 0 to 32)`},
		{"10.20.0.0/255.255.255.0", "", `"10.20.0.0/255.255.255.0" has a netmask (255.255.255.0) after the /, not a prefix length (did you mean 10.20.0.0/24?)`},
		{"fd00:20:1/120", "", `"fd00:20:1/120" has an IPv6 address of 3 groups; it needs eight, or :: for the zero groups left out (write the address with eight groups of hex digits, or :: for one run of zero groups, e.g. fd00:30::1:0/120)`},
		{"vip-pool", "", "is not a range"},
		{"lb.example", "", "neither a CIDR"},
		{" , ", "", "empty"},
	} {
		spans, err := ParseSpans(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseSpans(%q) = %v, %v; want error %q", c.in, spans, err, c.err)
			}
			continue
		}
		var got []string
		for _, s := range spans {
			got = append(got, s.Range.From().String()+"-"+s.Range.To().String())
		}
		if err != nil || strings.Join(got, " ") != c.want {
			t.Errorf("ParseSpans(%q) = %v, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func TestOutside(t *testing.T) {
	a := netip.MustParseAddr
	ranges := pfx("10.20.0.128/27", "10.20.0.192/27", "fd00::/120")
	for _, c := range []struct{ from, to, want string }{
		{"10.20.0.128", "10.20.0.159", ""},
		{"10.20.0.128", "10.20.0.223", "10.20.0.160-10.20.0.191"},
		{"10.20.0.100", "10.20.0.230", "10.20.0.100-10.20.0.127 10.20.0.160-10.20.0.191 10.20.0.224-10.20.0.230"},
		{"10.20.1.0", "10.20.1.0", "10.20.1.0-10.20.1.0"},
		{"255.255.255.250", "255.255.255.255", "255.255.255.250-255.255.255.255"},
		{"fd00::f0", "fd00::1ff", "fd00::100-fd00::1ff"},
	} {
		var got []string
		for _, g := range Outside(netipx.IPRangeFrom(a(c.from), a(c.to)), ranges) {
			got = append(got, g.From().String()+"-"+g.To().String())
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("Outside(%s, %s) = %q, want %q", c.from, c.to, got, c.want)
		}
	}
	if got := Outside(netipx.IPRangeFrom(a("0.0.0.0"), a("255.255.255.255")), pfx("0.0.0.0/0")); len(got) != 0 {
		t.Errorf("everything covered: %v", got)
	}
	// The whole IPv6 space, and a range that ends at its last address.
	if got := Outside(netipx.IPRangeFrom(a("::"), a("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), pfx("::/1")); len(got) != 1 || got[0].String() != "8000::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" {
		t.Errorf("upper half of IPv6: %v", got)
	}
}

func TestControlPlane(t *testing.T) {
	f := mustCfg(t, "10.20.0.128/26", "fd00:20::1:0/112")
	spans, _ := ParseSpans("10.20.0.128-10.20.0.191,fd00:20::1:10-fd00:20::1:20")
	wantResult(t, ControlPlane(spans, f), Pass, "2 ranges of the control plane inside the file's ranges")

	spans, _ = ParseSpans("10.20.0.128-10.20.0.200, 10.20.1.0/28, 10.20.0.150")
	r := ControlPlane(spans, f)
	wantResult(t, r, Fail, "25 addresses the control plane may hand out as VIPs lie outside the file's ranges",
		"10.20.0.128-10.20.0.200: 10.20.0.192-10.20.0.200 is outside every range (10.20.0.192/29, 10.20.0.200/32)",
		"10.20.1.0/28: 10.20.1.0-10.20.1.15 is outside every range (10.20.1.0/28)")
	if len(r.Details) != 2 || !strings.Contains(r.Hint, "add 10.20.0.192/29, 10.20.0.200/32, 10.20.1.0/28 to the ranges file") {
		t.Errorf("details %q hint %q", r.Details, r.Hint)
	}
	spans, _ = ParseSpans("10.20.0.191-10.20.0.192")
	wantResult(t, ControlPlane(spans, f), Fail, "1 address the control plane may hand out as a VIP lies outside", "10.20.0.192 is outside every range (10.20.0.192/32)")

	// Counts saturate rather than wrap: two halves of IPv6 are not
	// "0 addresses".
	for _, in := range []string{"::/1,8000::/1", "::/0", "::/1,8000::/1,0.0.0.0/0", "fd00::/64,fd01::/64"} {
		spans, err := ParseSpans(in)
		if err != nil {
			t.Fatal(err)
		}
		wantResult(t, ControlPlane(spans, f), Fail, "2^63 or more addresses the control plane may hand out as VIPs lie outside")
	}
	spans, _ = ParseSpans("10.0.0.0/8,11.0.0.0/8")
	wantResult(t, ControlPlane(spans, f), Fail, "33554368 addresses the control plane")
}

// A long value is echoed clipped, in usage errors too.
func TestParseSpansClipsValues(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	for _, in := range []string{long, long + "/8", "10.0.0.1-" + long} {
		_, err := ParseSpans(in)
		if err == nil || len(err.Error()) > 2*finding.MaxMessage {
			t.Errorf("ParseSpans(%d bytes): error of %d bytes", len(in), len(fmt.Sprint(err)))
		}
	}
}

// fakeSystemctl writes a systemctl stand-in printing the given answers
// (on stdout, and stderr on both verbs) and exiting with the given codes,
// and a journalctl printing a line.
func fakeSystemctl(t *testing.T, enabled string, enabledRC int, active string, activeRC int, stderr string) ServiceOptions {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := func(s string) string {
		if s == "" {
			return ""
		}
		return s + "\n"
	}
	write("is-enabled.out", out(enabled), 0o644)
	write("is-active.out", out(active), 0o644)
	write("err", out(stderr), 0o644)
	write("is-enabled.rc", strconv.Itoa(enabledRC), 0o644)
	write("is-active.rc", strconv.Itoa(activeRC), 0o644)
	sc := write("systemctl", `#!/bin/sh
d=$(dirname "$0")
[ "$2" = anyip-routes.service ] || { echo "unexpected unit $2" >&2; exit 9; }
[ -f "$d/$1.out" ] || { echo "unexpected verb $1" >&2; exit 9; }
cat "$d/$1.out"; cat "$d/err" >&2
exit $(cat "$d/$1.rc")
`, 0o755)
	jc := write("journalctl", "#!/bin/sh\necho 'anyip-routes: read table local: permission denied'\n", 0o755)
	return ServiceOptions{Systemctl: sc, Journalctl: jc}
}

func TestService(t *testing.T) {
	ctx := context.Background()
	r := Service(ctx, fakeSystemctl(t, "enabled", 0, "active", 0, ""))
	wantResult(t, r, Pass, "anyip-routes.service is enabled and active")

	r = Service(ctx, fakeSystemctl(t, "disabled", 1, "failed", 3, ""))
	wantResult(t, r, Fail, "is not enabled (disabled) and not running (failed)",
		"is-enabled: disabled", "is-active: failed", "journal: anyip-routes: read table local: permission denied")
	if !strings.Contains(r.Hint, "systemctl enable anyip-routes.service") || !strings.Contains(r.Hint, "systemctl start") {
		t.Errorf("hint %q", r.Hint)
	}

	r = Service(ctx, fakeSystemctl(t, "enabled", 0, "inactive", 3, ""))
	wantResult(t, r, Fail, "is not running (inactive)")
	r = Service(ctx, fakeSystemctl(t, "masked", 1, "inactive", 3, ""))
	wantResult(t, r, Fail, "not enabled (masked)")
	if !strings.Contains(r.Hint, "systemctl unmask") {
		t.Errorf("hint %q", r.Hint)
	}
	r = Service(ctx, fakeSystemctl(t, "", 1, "inactive", 3, "Failed to get unit file state for anyip-routes.service: No such file or directory"))
	wantResult(t, r, Fail, "not enabled (not-found)")
	r = Service(ctx, fakeSystemctl(t, "enabled", 0, "activating", 3, ""))
	wantResult(t, r, Warn, "enabled and activating")

	// No systemd to ask: a warning, not a failure.
	r = Service(ctx, fakeSystemctl(t, "enabled", 0, "", 1, "System has not been booted with systemd as init system (PID 1). Can't operate."))
	wantResult(t, r, Warn, "systemd is not reachable", "is-enabled: enabled")
	r = Service(ctx, fakeSystemctl(t, "", 1, "", 1, "Failed to connect to bus: Host is down"))
	wantResult(t, r, Warn, "Failed to connect to bus")
	r = Service(ctx, ServiceOptions{Systemctl: filepath.Join(t.TempDir(), "systemctl")})
	wantResult(t, r, Warn, "cannot ask systemd")
}

func TestPlanProbes(t *testing.T) {
	f := facts()
	f.Addrs = append(f.Addrs, validate.HeldAddr{Iface: "eth2", Prefix: netip.MustParsePrefix("10.20.0.9/25")})
	plan := PlanProbes(pfx("10.20.0.0/29", "10.20.0.128/28", "10.30.0.0/30", "fd00:20::1:0/126", "fd00:99::/126", "10.40.0.0/16"), f, 4, nil)
	got := map[string]string{}
	for _, p := range plan {
		var as []string
		for _, a := range p.Addrs {
			as = append(as, a.String())
		}
		got[p.Range.String()] = p.Iface + " " + strings.Join(as, ",")
		if p.Truncated != (p.Range.Bits() < 30 && p.Range.Addr().Is4()) {
			t.Errorf("%s: truncated %v", p.Range, p.Truncated)
		}
	}
	want := map[string]string{
		// Longest subnet facing the range wins: eth2's /25 over eth0's /24.
		"10.20.0.0/29":   "eth2 10.20.0.0,10.20.0.1,10.20.0.2,10.20.0.3",
		"10.20.0.128/28": "eth0 10.20.0.128,10.20.0.129,10.20.0.130,10.20.0.131",
		// No subnet: the default route's interface.
		"10.30.0.0/30":     "eth1 10.30.0.0,10.30.0.1,10.30.0.2,10.30.0.3",
		"fd00:20::1:0/126": "eth0 fd00:20::1:0,fd00:20::1:1,fd00:20::1:2,fd00:20::1:3",
		// No IPv6 default route and no subnet: nowhere to probe.
		"fd00:99::/126": " ",
		"10.40.0.0/16":  "eth1 10.40.0.0,10.40.0.1,10.40.0.2,10.40.0.3",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	// Our own addresses are never probed.
	plan = PlanProbes(pfx("10.20.0.4/30"), facts(), 10, nil)
	if len(plan) != 1 || slices.Contains(plan[0].Addrs, netip.MustParseAddr("10.20.0.5")) || len(plan[0].Addrs) != 3 {
		t.Errorf("own address probed: %+v", plan)
	}
}

func TestProbe(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:00:00:00:99")
	var mu sync.Mutex
	var asked []string
	ask := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, s)
	}
	pr := Prober{
		ARP: func(_ context.Context, iface string, targets []netip.Addr, _ probe.Options) ([]probe.Reply, error) {
			ask("arp " + iface + " " + targets[0].String())
			for _, a := range targets {
				if a == netip.MustParseAddr("10.20.0.150") {
					return []probe.Reply{{Addr: a, MACs: []net.HardwareAddr{mac}, Iface: iface}}, nil
				}
			}
			return nil, nil
		},
		NDP: func(_ context.Context, iface string, targets []netip.Addr, _ probe.Options) ([]probe.Reply, error) {
			ask("ndp " + iface + " " + targets[0].String())
			return nil, nil
		},
	}
	ctx := context.Background()
	plan := PlanProbes(pfx("10.20.0.128/26", "10.20.0.64/26", "fd00:20::1:0/120"), facts(), 1024, nil)
	r := Probe(ctx, plan, pr)
	wantResult(t, r, Fail, "1 address of the ranges answered from another host (384 probed on eth0",
		"10.20.0.150 (range 10.20.0.128/26) is held by 02:00:00:00:00:99: answered ARP on eth0")
	// One run per interface and family, all its ranges together.
	slices.Sort(asked)
	if !slices.Equal(asked, []string{"arp eth0 10.20.0.128", "ndp eth0 fd00:20::1:0"}) {
		t.Errorf("probe runs %q", asked)
	}

	r = Probe(ctx, PlanProbes(pfx("10.20.0.192/26"), facts(), 16, nil), pr)
	wantResult(t, r, Pass, "no other host answered for 16 addresses on eth0", "10.20.0.192/26: probed the first 16 of its 64 addresses")

	r = Probe(ctx, PlanProbes(pfx("fd00:99::/120"), facts(), 16, nil), pr)
	wantResult(t, r, Warn, "nothing probed", "fd00:99::/120: not probed")

	pr.ARP = func(context.Context, string, []netip.Addr, probe.Options) ([]probe.Reply, error) {
		return nil, errors.New("probe: open packet socket (needs CAP_NET_RAW): operation not permitted")
	}
	r = Probe(ctx, PlanProbes(pfx("10.20.0.192/26"), facts(), 16, nil), pr)
	wantResult(t, r, Error, "could not probe: eth0: probe: open packet socket")
}

func TestPlanVIPs(t *testing.T) {
	ranges := pfx("10.20.0.128/26", "10.20.0.192/26", "fd00:20::1:0/112", "fd00:20::2:0/112")
	hc := parseHA(t,
		"frontend web",
		"    bind 10.20.0.130:80,10.20.0.130:80,10.9.9.9:80",
		"    bind 10.20.0.131:8000-8010 ssl crt x",
		"    bind udp@10.20.0.132:53",
		"frontend any",
		"    bind :::443 v6only",
		"    bind *:8443",
	)
	targets, idle := PlanVIPs(hc, ranges, nil)
	var got []string
	for _, t := range targets {
		got = append(got, t.AddrPort.String()+" "+t.Range.String()+" "+t.Frontend)
	}
	want := []string{
		"10.20.0.130:80 10.20.0.128/26 frontend web (/etc/haproxy/haproxy.cfg:2)",
		"10.20.0.131:8000 10.20.0.128/26 frontend web (/etc/haproxy/haproxy.cfg:3)",
		"10.20.0.193:8443 10.20.0.192/26 frontend any (/etc/haproxy/haproxy.cfg:7)",
		"[fd00:20::1:1]:443 fd00:20::1:0/112 frontend any (/etc/haproxy/haproxy.cfg:6)",
		"[fd00:20::2:1]:443 fd00:20::2:0/112 frontend any (/etc/haproxy/haproxy.cfg:6)",
	}
	if !slices.Equal(got, want) || len(idle) != 0 {
		t.Errorf("targets\n %s\nwant\n %s\nidle %v", strings.Join(got, "\n "), strings.Join(want, "\n "), idle)
	}
	// No wildcard: ranges nothing binds in are idle. An IPv6 wildcard
	// without v6only takes IPv4 too.
	targets, idle = PlanVIPs(parseHA(t, "frontend a", "    bind 10.20.0.130:80"), ranges, nil)
	if len(targets) != 1 || !slices.Equal(idle, pfx("10.20.0.192/26", "fd00:20::1:0/112", "fd00:20::2:0/112")) {
		t.Errorf("targets %v idle %v", targets, idle)
	}
	targets, _ = PlanVIPs(parseHA(t, "frontend a", "    bind [::]:80"), pfx("10.20.0.128/26"), nil)
	if len(targets) != 1 || targets[0].AddrPort.String() != "10.20.0.129:80" {
		t.Errorf("v4v6 wildcard: %v", targets)
	}
}

func TestVIP(t *testing.T) {
	ranges := pfx("10.20.0.128/26", "10.20.0.192/26")
	hc := parseHA(t, "frontend web", "    bind 10.20.0.130:80", "    bind 10.20.0.131:443")
	targets, idle := PlanVIPs(hc, ranges, nil)
	dial := func(_ context.Context, ap netip.AddrPort, _ time.Duration) error {
		if ap.Port() == 443 {
			return errors.New("dial tcp 10.20.0.131:443: connect: connection refused")
		}
		return nil
	}
	r := VIP(context.Background(), targets, idle, "", dial, time.Second)
	wantResult(t, r, Fail, "1 VIP of 2 did not accept a TCP connection",
		"10.20.0.131:443 (range 10.20.0.128/26, frontend web (/etc/haproxy/haproxy.cfg:3)): connection refused",
		"10.20.0.192/26: no frontend binds in it")
	r = VIP(context.Background(), targets[:1], nil, "", dial, time.Second)
	wantResult(t, r, Pass, "10.20.0.130:80 accepted a TCP connection")
	r = VIP(context.Background(), nil, idle, "", dial, time.Second)
	wantResult(t, r, Skip, "nothing to connect to")
}

func TestReport(t *testing.T) {
	for _, c := range []struct {
		statuses []Status
		result   Status
		code     int
	}{
		{[]Status{Pass, Skip}, Pass, 0},
		{[]Status{Pass, Warn, Skip}, Warn, 0},
		{[]Status{Pass, Error, Warn}, Error, 3},
		{[]Status{Fail, Error, Pass}, Fail, 1},
		{[]Status{Pass, Fail}, Fail, 1},
	} {
		var rs []Result
		for i, s := range c.statuses {
			rs = append(rs, Result{Name: string(rune('a' + i)), Status: s})
		}
		r := NewReport(rs)
		if r.Result != c.result || r.ExitCode() != c.code {
			t.Errorf("%v: %s exit %d, want %s exit %d", c.statuses, r.Result, r.ExitCode(), c.result, c.code)
		}
	}

	many := make([]string, 25)
	for i := range many {
		many[i] = "detail " + strconv.Itoa(i)
	}
	r := NewReport([]Result{
		{Name: NameConfig, Status: Pass, Summary: "ok"},
		{Name: NameControlPlane, Status: Fail, Summary: "bad", Details: many, Hint: "fix it"},
		{Name: NameProbe, Status: Skip, Summary: "not asked for", Hint: "never shown"},
	})
	var b bytes.Buffer
	r.WriteText(&b)
	text := b.String()
	for _, want := range []string{
		"PASS  config         ok\n",
		"FAIL  control-plane  bad\n      detail 0\n",
		"      ... and 5 more (--output json lists up to 1000)\n      what to do: fix it\n",
		"SKIP  probe          not asked for\nresult: FAIL (1 failed, 1 passed, 1 skipped)\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "never shown") {
		t.Errorf("hint of a skipped check printed:\n%s", text)
	}

	b.Reset()
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Checks []map[string]any `json:"checks"`
		Result string           `json:"result"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Result != "fail" || len(doc.Checks) != 3 {
		t.Fatalf("json: %s", b.String())
	}
	for _, k := range []string{"name", "status", "summary", "details"} {
		if _, ok := doc.Checks[0][k]; !ok {
			t.Errorf("json check lacks %q: %v", k, doc.Checks[0])
		}
	}
	if d, ok := doc.Checks[0]["details"].([]any); !ok || len(d) != 0 {
		t.Errorf("details of a clean check: %#v, want []", doc.Checks[0]["details"])
	}
	if doc.Checks[1]["hint"] != "fix it" || len(doc.Checks[1]["details"].([]any)) != 25 {
		t.Errorf("json keeps every detail and the hint: %v", doc.Checks[1])
	}
}

// TestReadHAProxy: the default path is used when present and skipped
// when absent; a path given by name must be readable; "" means none.
func TestReadHAProxy(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "haproxy.cfg")
	if _, r := readHAProxy(Options{HAProxyConfig: missing, HAProxyOptional: true}); r.Status != Skip || !strings.Contains(r.Summary, "does not exist") {
		t.Errorf("absent default: %+v", r)
	}
	if _, r := readHAProxy(Options{HAProxyConfig: missing}); r.Status != Error {
		t.Errorf("absent, asked for: %+v", r)
	}
	if _, r := readHAProxy(Options{}); r.Status != Skip {
		t.Errorf("none: %+v", r)
	}
	if err := os.WriteFile(missing, []byte("frontend a\n bind :80\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if hc, _ := readHAProxy(Options{HAProxyConfig: missing, HAProxyOptional: true}); hc == nil || len(hc.Binds) != 1 {
		t.Errorf("present default not read: %+v", hc)
	}
	if err := os.WriteFile(missing, []byte("frontend a\x00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if hc, r := readHAProxy(Options{HAProxyConfig: missing}); hc != nil || r.Status != Fail || !strings.Contains(r.Summary, "NUL") {
		t.Errorf("binary file: %+v", r)
	}
}

func TestOnLink(t *testing.T) {
	f := facts()
	f.Addrs = append(f.Addrs, validate.HeldAddr{Iface: "eth3", Prefix: netip.MustParsePrefix("fd00:20::1:9/124")})
	r := OnLink(pfx("10.20.0.128/26", "fd00:20::1:0/120", "fd00:99::/64"), f)
	wantResult(t, r, Pass, "2 ranges of 3 on the link of 1 interface; 1 behind a router",
		"eth0 (fd00:20::/64): fd00:20::1:0/120: neighbour solicitations answered by anyip-routes watch",
		"eth0 (10.20.0.0/24): 10.20.0.128/26: ARP answered by the kernel",
		"fd00:99::/64: on no interface's subnet")
	if strings.Contains(strings.Join(r.Details, "\n"), "eth3") {
		t.Errorf("eth3's /124 only overlaps the /120 but is named:\n%s", strings.Join(r.Details, "\n"))
	}
	// The probe asks on the NIC that answers: the one whose subnet holds
	// the range, not the longest subnet that overlaps it.
	if plan := PlanProbes(pfx("fd00:20::1:0/120"), f, 4, nil); plan[0].Iface != "eth0" {
		t.Errorf("probe of fd00:20::1:0/120 on %q, want eth0 (the responder's NIC)", plan[0].Iface)
	}
	wantResult(t, OnLink(nil, f), Skip, "no ranges")
}

// A local route on lo the file does not list (proto boot, static, by
// hand) makes the appliance answer for its addresses: a warning naming it
// and how to remove it. The kernel's own and loopback are not counted.
func TestRoutesNotInTheFile(t *testing.T) {
	f := mustCfg(t, "10.20.0.0/28")
	cur := routes.Current{
		Ours: pfx("10.20.0.0/28"),
		Foreign: []routes.Route{
			{Prefix: netip.MustParsePrefix("192.168.99.0/24"), Protocol: 3},
			{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Protocol: 2},
			{Prefix: netip.MustParsePrefix("10.9.9.9/32"), Protocol: 2},
		},
	}
	r := Routes(f, cur, true)
	wantResult(t, r, Warn, "1 of 1 range in table local (1 proto anyip); 1 local route on lo not in the file",
		"192.168.99.0/24: a local route on lo (proto boot) that the file does not list: the appliance answers for its addresses")
	if len(r.Details) != 1 {
		t.Errorf("details %q", r.Details)
	}
	if want := "if the appliance should not answer for 192.168.99.0/24, remove the route (`ip route del local 192.168.99.0/24 dev lo table local`); if it should, add it to the ranges file"; r.Hint != want {
		t.Errorf("hint %q\nwant %q", r.Hint, want)
	}
}

// A bind inside the range of a line that does not parse is named with
// that line, not as "outside every range", and each failing item gets the
// hint that is written for what failed, and only that.
func TestHAProxyNamesTheBrokenLine(t *testing.T) {
	f, fs := cfgfile.Parse(cfgPath, []byte("10.20.0.128/26\n10.20.1.70/26\n"))
	if !fs.HasErrors() || len(f.Unparsed) != 1 {
		t.Fatalf("findings %v, unparsed %v", fs, f.Unparsed)
	}
	sys := sysWith(nil, []string{"10.20.0.128/26"})
	sys.Unparsed, sys.Config = f.Unparsed, cfgPath
	hc := parseHA(t, "frontend web", "    bind 10.20.1.80:80", "frontend ok", "    bind 10.20.0.130:80")
	r := HAProxy(hc, f.Prefixes(), sys)
	wantResult(t, r, Fail, "1 frontend of 2 would fail to bind",
		"frontend web (/etc/haproxy/haproxy.cfg:2): 10.20.1.80:80 is inside 10.20.1.64/26, the range of "+cfgPath+":2, which does not parse (config check): cannot bind until that line is fixed")
	if r.Hint != "fix the ranges file's lines named above (config check)" {
		t.Errorf("hint %q", r.Hint)
	}

	hc = parseHA(t, "frontend a", "    bind 10.30.0.1:80")
	if r := HAProxy(hc, f.Prefixes(), sys); r.Hint != "add a range holding the addresses outside every range to the ranges file, or move those frontends to a VIP inside a range" {
		t.Errorf("hint for an address outside every range: %q", r.Hint)
	}
	hc = parseHA(t, "frontend a", "    bind 10.20.0.300:80")
	if r := HAProxy(hc, f.Prefixes(), sys); r.Hint != "fix or remove the malformed bind lines" {
		t.Errorf("hint for a malformed bind: %q", r.Hint)
	}
}

// The vip check never connects to a gateway or a name server: behind a
// wildcard bind it takes the range's first usable address that is
// neither, and a bind on one is not a target.
func TestPlanVIPsAvoidsGateways(t *testing.T) {
	gw := netip.MustParseAddr("10.20.0.129")
	avoid := func(a netip.Addr) bool { return a == gw || a == netip.MustParseAddr("10.20.0.130") }
	targets, idle := PlanVIPs(parseHA(t, "frontend a", "    bind :80"), pfx("10.20.0.128/26"), avoid)
	if len(targets) != 1 || targets[0].AddrPort.String() != "10.20.0.131:80" || len(idle) != 0 {
		t.Errorf("targets %+v, idle %v", targets, idle)
	}
	targets, idle = PlanVIPs(parseHA(t, "frontend a", "    bind 10.20.0.129:80"), pfx("10.20.0.128/26"), avoid)
	if len(targets) != 0 || len(idle) != 1 {
		t.Errorf("a bind on the gateway: targets %+v, idle %v", targets, idle)
	}
	targets, idle = PlanVIPs(parseHA(t, "frontend a", "    bind :80"), pfx("10.20.0.129/32"), avoid)
	if len(targets) != 0 || len(idle) != 1 {
		t.Errorf("a range of the gateway alone: targets %+v, idle %v", targets, idle)
	}
}

// Every shape of line the parser suggests a meaning for names its range:
// a first-last line that is not one CIDR its span, a short address and a
// netmask the CIDR its "did you mean" names.
func TestHAProxyNamesEveryBrokenLineShape(t *testing.T) {
	f, _ := cfgfile.Parse(cfgPath, []byte("10.40.30.192-10.40.30.250\n10.40.35/24\n10.40.32.0/255.255.255.0\n"))
	sys := sysWith(nil, nil)
	sys.Unparsed, sys.Config = f.Unparsed, cfgPath
	hc := parseHA(t, "frontend a", "    bind 10.40.30.200:80", "frontend b", "    bind 10.40.35.7:80", "frontend c", "    bind 10.40.32.9:80")
	r := HAProxy(hc, f.Prefixes(), sys)
	wantResult(t, r, Fail, "3 frontends of 3 would fail to bind",
		"frontend a (/etc/haproxy/haproxy.cfg:2): 10.40.30.200:80 is inside 10.40.30.192-10.40.30.250, the range of "+cfgPath+":1, which does not parse (config check): cannot bind until that line is fixed",
		"frontend b (/etc/haproxy/haproxy.cfg:4): 10.40.35.7:80 is inside 10.40.35.0/24, the range of "+cfgPath+":2, which does not parse",
		"frontend c (/etc/haproxy/haproxy.cfg:6): 10.40.32.9:80 is inside 10.40.32.0/24, the range of "+cfgPath+":3, which does not parse")
	if strings.Contains(strings.Join(r.Details, "\n"), "outside every range") {
		t.Errorf("details %q", r.Details)
	}
}

// The vip check connects only to ranges the safety check accepts and
// whose route is in place; one detail line names the others and why.
func TestServable(t *testing.T) {
	ranges := pfx("10.20.0.0/30", "10.20.0.64/28", "10.20.0.128/26")
	refused := func(p netip.Prefix) bool { return p == ranges[0] }
	routed := func(p netip.Prefix) bool { return p == ranges[2] }
	keep, left := Servable(ranges, refused, routed)
	if len(keep) != 1 || keep[0] != ranges[2] {
		t.Errorf("keep %v", keep)
	}
	if want := "not connected to 2 ranges, whose traffic would leave the NIC: 10.20.0.0/30 (refused by the safety check, no local route on lo); 10.20.0.64/28 (no local route on lo)"; left != want {
		t.Errorf("left %q\nwant %q", left, want)
	}
	keep, left = Servable(ranges, nil, nil)
	if len(keep) != 0 || !strings.HasPrefix(left, "not connected to 3 ranges, whose traffic would leave the NIC: 10.20.0.0/30 (the safety check could not run, table local could not be read); ") {
		t.Errorf("keep %v, left %q", keep, left)
	}
	if keep, left = Servable(ranges[2:], refused, routed); len(keep) != 1 || left != "" {
		t.Errorf("keep %v, left %q", keep, left)
	}
	hc := parseHA(t, "frontend a", "    bind :80")
	targets, idle := PlanVIPs(hc, nil, nil)
	r := VIP(context.Background(), targets, idle, "not connected to 1 range, whose traffic would leave the NIC: 10.20.0.0/30 (refused by the safety check)", nil, time.Second)
	wantResult(t, r, Skip, "no frontend binds inside a range that is accepted and routed: nothing to connect to", "not connected to 1 range")
}

// The safety item lists one file's findings by line, errors first, and
// its count counts what it lists.
func TestSafetyInLineOrder(t *testing.T) {
	r := Safety(mustCfg(t, "10.20.0.128/26", "fd00:99::/112", "10.20.0.48/28", "10.10.0.0/28"), facts(), 0, 0)
	want := []string{
		cfgPath + `:3 = "10.20.0.48/28": 10.20.0.48/28 contains 10.20.0.53, a name server in use (/etc/resolv.conf): the appliance would answer for it and cut it off the network (move or shrink the range so it leaves out 10.20.0.53)`,
		cfgPath + `:4 = "10.10.0.0/28": 10.10.0.0/28 contains 10.10.0.1, the current default gateway (via eth1): the appliance would answer for it and cut it off the network (move or shrink the range so it leaves out 10.10.0.1)`,
		cfgPath + `:4 = "10.10.0.0/28": 10.10.0.0/28 contains 10.10.0.5, an address already held (on eth1): the appliance would answer for it and cut it off the network (move or shrink the range so it leaves out 10.10.0.5)`,
		cfgPath + `:2 = "fd00:99::/112": fd00:99::/112 lies outside every attached network (10.20.0.0/24, fd00:20::/64, 10.10.0.0/24) (make sure the upstream router routes it to this appliance)`,
		cfgPath + `:4 = "10.10.0.0/28": 10.10.0.0/28 includes 10.10.0.0, the network address of 10.10.0.0/24 (on eth1) (leave 10.10.0.0 out of the range)`,
	}
	if !slices.Equal(r.Details, want) {
		t.Errorf("details\n  %s\nwant\n  %s", strings.Join(r.Details, "\n  "), strings.Join(want, "\n  "))
	}
	if !strings.HasPrefix(r.Summary, "3 errors, 2 warnings (errors first): a range takes addresses the network needs (checked against ") {
		t.Errorf("summary %q", r.Summary)
	}
}

// The config item's count counts the warnings it lists too.
func TestConfigCountsWhatItLists(t *testing.T) {
	r, _ := Config(cfgPath, []byte("10.20.0.128/26\n10.20.0.128/26\n10.20.1.70/26\n"), nil)
	want := []string{
		cfgPath + `:3 = "10.20.1.70/26": has host bits set (did you mean 10.20.1.64/26?)`,
		cfgPath + `:2 = "10.20.0.128/26": 10.20.0.128/26 is listed again (first on line 1) (delete one of them)`,
	}
	if r.Summary != cfgPath+": 1 line does not parse, and 1 warning (listed after the errors)" || !slices.Equal(r.Details, want) {
		t.Errorf("summary %q\ndetails %q", r.Summary, r.Details)
	}
}

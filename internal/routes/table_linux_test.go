package routes

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/netnstest"
)

// open gives the test a fresh namespace and a Table on it.
func open(t *testing.T) (*netnstest.NS, *Table) {
	t.Helper()
	t.Parallel() // each test has a namespace of its own
	ns := netnstest.New(t)
	tbl, err := OpenAt(ns.Handle)
	if err != nil {
		t.Fatalf("OpenAt(%s): %v", ns.Name, err)
	}
	t.Cleanup(func() { tbl.Close() })
	return ns, tbl
}

// kroute is a route as iproute2 reports it: the kernel's view, read by a
// tool independent of the code under test.
type kroute struct {
	Type     string `json:"type"`
	Dst      string `json:"dst"`
	Dev      string `json:"dev"`
	Table    string `json:"table"`
	Protocol string `json:"protocol"`
	Scope    string `json:"scope"`
	Metric   int    `json:"metric"`
}

func (r kroute) String() string {
	return fmt.Sprintf("%s %s dev %s table %s proto %s scope %s metric %d", r.Type, r.Dst, r.Dev, r.Table, r.Protocol, r.Scope, r.Metric)
}

// kernelRoutes lists every route of both families in all tables of ns.
func kernelRoutes(t testing.TB, ns *netnstest.NS) []kroute {
	t.Helper()
	var all []kroute
	for _, fam := range []string{"-4", "-6"} {
		out, err := ns.Command("ip", "-d", "-j", fam, "route", "show", "table", "all").Output()
		if err != nil {
			t.Fatalf("ip %s route show: %v", fam, err)
		}
		var rs []kroute
		if err := json.Unmarshal(out, &rs); err != nil {
			t.Fatalf("decode ip -j output: %v\n%s", err, out)
		}
		for _, r := range rs {
			switch {
			case r.Dst == "default" && fam == "-4":
				r.Dst = "0.0.0.0/0"
			case r.Dst == "default":
				r.Dst = "::/0"
			case !strings.Contains(r.Dst, "/") && fam == "-4":
				r.Dst += "/32"
			case !strings.Contains(r.Dst, "/"):
				r.Dst += "/128"
			}
			if r.Protocol == ProtocolName {
				r.Protocol = strconv.Itoa(Protocol)
			}
			if r.Table == "" {
				r.Table = "main"
			}
			all = append(all, r)
		}
	}
	return all
}

// anyipRoutes are the routes of ours per the kernel, as sorted prefixes,
// after checking each has exactly the identity we promise.
func anyipRoutes(t testing.TB, ns *netnstest.NS) []netip.Prefix {
	t.Helper()
	var ps []netip.Prefix
	for _, r := range kernelRoutes(t, ns) {
		if r.Protocol != strconv.Itoa(Protocol) {
			continue
		}
		if r.Type != "local" || r.Dev != "lo" || r.Table != "local" {
			continue // planted by a test to check we leave it alone
		}
		if strings.Contains(r.Dst, ".") && r.Scope != "host" {
			t.Errorf("route of ours with scope %q: %v", r.Scope, r)
		}
		ps = append(ps, netip.MustParsePrefix(r.Dst))
	}
	slices.SortFunc(ps, netip.Prefix.Compare)
	return ps
}

// routesFor returns every route whose destination is p, in any table.
func routesFor(t testing.TB, ns *netnstest.NS, p netip.Prefix) []kroute {
	t.Helper()
	var rs []kroute
	for _, r := range kernelRoutes(t, ns) {
		if r.Dst == p.String() {
			rs = append(rs, r)
		}
	}
	return rs
}

// notOurs is every route in ns but the ones Table manages, without IPv6
// link-local and multicast routes (which come and go with DAD on veths).
func notOurs(t testing.TB, ns *netnstest.NS) []string {
	t.Helper()
	var out []string
	for _, r := range kernelRoutes(t, ns) {
		if r.Protocol == strconv.Itoa(Protocol) && r.Type == "local" && r.Dev == "lo" && r.Table == "local" {
			continue
		}
		if strings.HasPrefix(r.Dst, "fe80:") || strings.HasPrefix(r.Dst, "ff00:") {
			continue
		}
		out = append(out, r.String())
	}
	slices.Sort(out)
	return out
}

// setRcvBuf sets SO_RCVBUF as an unprivileged process would (never
// FORCE, so rmem_max holds).
func setRcvBuf(tbl *Table, size int) error {
	var serr error
	if err := tbl.raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size)
	}); err != nil {
		return err
	}
	return serr
}

func sorted(ps []netip.Prefix) []netip.Prefix {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, netip.Prefix.Compare)
	return slices.Compact(ps)
}

func mustReconcile(t testing.TB, tbl *Table, desired []netip.Prefix) (Plan, Result) {
	t.Helper()
	plan, res, err := tbl.Reconcile(desired)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	return plan, res
}

func checkPrefixes(t testing.TB, what string, got, want []netip.Prefix) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func TestReconcileAddKeepDelete(t *testing.T) {
	ns, tbl := open(t)

	first := pfxs("10.0.0.0/24", "10.0.1.0/28", "192.0.2.128/25", "2001:db8:1::/64", "2001:db8:2::/48", "2001:db8:3::1/128")
	plan, res := mustReconcile(t, tbl, first)
	checkPrefixes(t, "first plan Add", plan.Add, sorted(first))
	if res.Added != len(first) || res.Deleted != 0 || res.Adopted != 0 {
		t.Errorf("first result %+v, want %d added", res, len(first))
	}
	checkPrefixes(t, "routes after first reconcile", anyipRoutes(t, ns), sorted(first))

	second := pfxs("10.0.1.0/28", "192.0.2.128/25", "10.5.0.0/16", "2001:db8:2::/48", "2001:db8:4::/64")
	plan, res = mustReconcile(t, tbl, second)
	want := Plan{
		Add:    pfxs("10.5.0.0/16", "2001:db8:4::/64"),
		Delete: pfxs("10.0.0.0/24", "2001:db8:1::/64", "2001:db8:3::1/128"),
		Keep:   pfxs("10.0.1.0/28", "192.0.2.128/25", "2001:db8:2::/48"),
	}
	if !reflect.DeepEqual(plan, want) {
		t.Errorf("second plan\n got %+v\nwant %+v", plan, want)
	}
	if res.Added != 2 || res.Deleted != 3 || len(res.Failures) != 0 {
		t.Errorf("second result %+v, want 2 added, 3 deleted", res)
	}
	checkPrefixes(t, "routes after second reconcile", anyipRoutes(t, ns), sorted(second))

	// The kernel delivers the ranges: an address in one is local now.
	out := ns.Run(t, "ip", "route", "get", "10.5.77.1")
	if !strings.HasPrefix(out, "local 10.5.77.1 dev lo") {
		t.Errorf("ip route get 10.5.77.1 = %q, want a local route via lo", out)
	}
	out = ns.Run(t, "ip", "-6", "route", "get", "2001:db8:4::99")
	if !strings.HasPrefix(out, "local 2001:db8:4::99") || !strings.Contains(out, "dev lo") {
		t.Errorf("ip -6 route get 2001:db8:4::99 = %q, want a local route via lo", out)
	}

	plan, res = mustReconcile(t, tbl, nil)
	checkPrefixes(t, "third plan Delete", plan.Delete, sorted(second))
	if res.Deleted != len(second) {
		t.Errorf("third result %+v", res)
	}
	checkPrefixes(t, "routes after reconciling to nothing", anyipRoutes(t, ns), nil)
}

func TestListSplitsOursAndForeign(t *testing.T) {
	ns, tbl := open(t)
	ns.Run(t, "ip", "route", "add", "local", "10.1.0.0/24", "dev", "lo", "table", "local", "proto", "static")
	ns.Run(t, "ip", "route", "add", "local", "10.2.0.0/24", "dev", "lo", "metric", "7")
	ns.Run(t, "ip", "route", "add", "local", "10.3.0.0/24", "dev", "lo", "table", "local", "proto", "241")
	ns.Run(t, "ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "local", "proto", "241")
	ns.Run(t, "ip", "-6", "route", "add", "local", "2001:db8:1::/64", "dev", "lo", "proto", "241")
	ns.Run(t, "ip", "-6", "route", "add", "local", "2001:db8:2::/64", "dev", "lo", "proto", "static")
	// Not in table local, or not local, or not on lo: not listed at all.
	ns.Veth(t, "eth0", "198.51.100.1/24", ns, "eth0-peer", "")
	ns.Run(t, "ip", "route", "add", "local", "10.4.0.0/24", "dev", "lo", "table", "100", "proto", "241")
	ns.Run(t, "ip", "route", "add", "local", "10.5.0.0/24", "dev", "eth0", "table", "local", "proto", "241")
	ns.Run(t, "ip", "route", "add", "unicast", "10.6.0.0/24", "dev", "lo", "table", "local", "proto", "241")
	ns.Run(t, "ip", "route", "add", "blackhole", "10.7.0.0/24", "table", "local", "proto", "241")

	cur, err := tbl.List()
	if err != nil {
		t.Fatal(err)
	}
	checkPrefixes(t, "Ours", sorted(cur.Ours), pfxs("0.0.0.0/0", "10.3.0.0/24", "2001:db8:1::/64"))

	got := map[string]Route{}
	for _, r := range cur.Foreign {
		got[r.Prefix.String()] = r
	}
	for _, want := range []Route{
		{Prefix: netip.MustParsePrefix("10.1.0.0/24"), Protocol: protoStatic},
		{Prefix: netip.MustParsePrefix("10.2.0.0/24"), Protocol: protoBoot, Metric: 7},
		{Prefix: netip.MustParsePrefix("2001:db8:2::/64"), Protocol: protoStatic, Metric: 1024},
		{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Protocol: protoKernel},
		{Prefix: netip.MustParsePrefix("127.0.0.1/32"), Protocol: protoKernel},
		{Prefix: netip.MustParsePrefix("::1/128"), Protocol: protoKernel},
	} {
		if g, ok := got[want.Prefix.String()]; !ok {
			t.Errorf("Foreign lacks %v", want)
		} else if g != want {
			t.Errorf("Foreign has %v, want %v", g, want)
		}
	}
	for _, r := range cur.Foreign {
		if r.Prefix.Addr().Is4() && netip.MustParsePrefix("198.51.100.0/24").Contains(r.Prefix.Addr()) {
			t.Errorf("Foreign has %v, a route on eth0", r)
		}
		if r.Protocol == Protocol {
			t.Errorf("Foreign has a route with our protocol: %v", r)
		}
	}
	if len(got) != len(cur.Foreign) {
		t.Errorf("Foreign has duplicates: %v", cur.Foreign)
	}
}

// TestForeignRoutesSurvive plants every kind of route that is not ours and
// checks that reconciling (up and down) and Down leave each exactly as it was.
func TestForeignRoutesSurvive(t *testing.T) {
	ns, tbl := open(t)
	ns.Veth(t, "eth0", "198.51.100.1/24", ns, "eth0-peer", "")
	ns.Run(t, "ip", "addr", "add", "10.9.9.9/32", "dev", "lo")
	ns.Run(t, "ip", "-6", "addr", "add", "2001:db8:99::1/128", "dev", "lo")
	for _, args := range [][]string{
		{"route", "add", "local", "10.1.0.0/24", "dev", "lo", "table", "local", "proto", "static"},
		{"route", "add", "local", "10.2.0.0/24", "dev", "lo"}, // proto boot, like the old shell service
		{"-6", "route", "add", "local", "2001:db8:11::/64", "dev", "lo", "table", "local", "proto", "static"},
		{"-6", "route", "add", "local", "2001:db8:12::/64", "dev", "lo"},
		// Our protocol, but not our identity: other table, other device.
		{"route", "add", "local", "10.4.0.0/24", "dev", "lo", "table", "100", "proto", "241"},
		{"route", "add", "local", "10.5.0.0/24", "dev", "eth0", "table", "local", "proto", "241"},
		{"route", "add", "10.6.0.0/24", "dev", "eth0", "proto", "241"},
		{"-6", "route", "add", "local", "2001:db8:14::/64", "dev", "lo", "table", "100", "proto", "241"},
	} {
		ns.Run(t, "ip", args...)
	}
	before := notOurs(t, ns)
	for _, want := range []string{
		"local 10.1.0.0/24 dev lo table local proto static",
		"local 10.2.0.0/24 dev lo table local proto boot",
		"local 10.9.9.9/32 dev lo table local proto kernel",
		"local 198.51.100.1/32 dev eth0 table local proto kernel",
		"local 2001:db8:99::1/128 dev lo table local proto kernel",
		"local 2001:db8:12::/64 dev lo table local proto boot",
	} {
		if !slices.ContainsFunc(before, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Fatalf("test setup: no route %q among\n%s", want, strings.Join(before, "\n"))
		}
	}

	desired := pfxs("10.20.0.0/24", "10.21.0.0/28", "2001:db8:20::/64")
	mustReconcile(t, tbl, desired)
	checkPrefixes(t, "ours after reconcile", anyipRoutes(t, ns), sorted(desired))
	if after := notOurs(t, ns); !reflect.DeepEqual(after, before) {
		t.Errorf("Reconcile changed routes that are not ours:\nbefore\n%s\nafter\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}

	mustReconcile(t, tbl, pfxs("10.20.0.0/24"))
	if after := notOurs(t, ns); !reflect.DeepEqual(after, before) {
		t.Errorf("Reconcile (deleting) changed routes that are not ours:\nbefore\n%s\nafter\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}

	deleted, err := tbl.Down()
	if err != nil {
		t.Fatal(err)
	}
	checkPrefixes(t, "Down deleted", deleted, pfxs("10.20.0.0/24"))
	checkPrefixes(t, "ours after Down", anyipRoutes(t, ns), nil)
	if after := notOurs(t, ns); !reflect.DeepEqual(after, before) {
		t.Errorf("Down changed routes that are not ours:\nbefore\n%s\nafter\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}

	deleted, err = tbl.Down()
	if err != nil || len(deleted) != 0 {
		t.Errorf("second Down = %v, %v; want nothing to do", deleted, err)
	}
}

func TestAdoptForeign(t *testing.T) {
	ns, tbl := open(t)
	for _, args := range [][]string{
		{"route", "add", "local", "10.20.0.0/24", "dev", "lo"}, // boot
		{"route", "add", "local", "10.21.0.0/24", "dev", "lo", "table", "local", "proto", "static"},
		{"route", "add", "local", "10.22.0.0/24", "dev", "lo", "proto", "static", "metric", "7"},
		{"-6", "route", "add", "local", "2001:db8:20::/64", "dev", "lo"}, // boot, metric 1024
		{"-6", "route", "add", "local", "2001:db8:21::/64", "dev", "lo", "proto", "static", "metric", "5"},
		// Foreign and not desired: stays foreign.
		{"route", "add", "local", "10.30.0.0/24", "dev", "lo"},
	} {
		ns.Run(t, "ip", args...)
	}
	adopt := pfxs("10.20.0.0/24", "10.21.0.0/24", "10.22.0.0/24", "2001:db8:20::/64", "2001:db8:21::/64")
	desired := append(pfxs("10.40.0.0/24"), adopt...)

	plan, res := mustReconcile(t, tbl, desired)
	checkPrefixes(t, "Adopt", plan.Adopt, adopt)
	checkPrefixes(t, "Add", plan.Add, pfxs("10.40.0.0/24"))
	if res.Adopted != len(adopt) || res.Added != 1 {
		t.Errorf("result %+v, want %d adopted, 1 added", res, len(adopt))
	}
	for _, p := range adopt {
		rs := routesFor(t, ns, p)
		if len(rs) != 1 {
			t.Errorf("%v: %d routes after adoption, want exactly 1: %v", p, len(rs), rs)
			continue
		}
		if r := rs[0]; r.Protocol != strconv.Itoa(Protocol) || r.Type != "local" || r.Dev != "lo" || r.Table != "local" {
			t.Errorf("%v after adoption: %v, want local dev lo table local proto %d", p, r, Protocol)
		}
	}
	// The metric is kept: it is the same route, now ours.
	if rs := routesFor(t, ns, netip.MustParsePrefix("10.22.0.0/24")); len(rs) == 1 && rs[0].Metric != 7 {
		t.Errorf("adopted 10.22.0.0/24 has metric %d, want 7", rs[0].Metric)
	}
	if rs := routesFor(t, ns, netip.MustParsePrefix("2001:db8:21::/64")); len(rs) == 1 && rs[0].Metric != 5 {
		t.Errorf("adopted 2001:db8:21::/64 has metric %d, want 5", rs[0].Metric)
	}
	if rs := routesFor(t, ns, netip.MustParsePrefix("10.30.0.0/24")); len(rs) != 1 || rs[0].Protocol != "boot" {
		t.Errorf("undesired foreign 10.30.0.0/24: %v, want it untouched (proto boot)", rs)
	}

	plan, _ = mustReconcile(t, tbl, desired)
	if !plan.Empty() || len(plan.Keep) != len(desired) {
		t.Errorf("plan after adoption %+v, want all %d kept", plan, len(desired))
	}

	// Adopted routes are ours: dropping them from the desired set deletes them.
	mustReconcile(t, tbl, pfxs("10.40.0.0/24"))
	for _, p := range adopt {
		if rs := routesFor(t, ns, p); len(rs) != 0 {
			t.Errorf("%v still routed after it was no longer desired: %v", p, rs)
		}
	}
}

// TestApplyAdoptKeepsMetric adopts through Apply, which has to look the
// metric up itself.
func TestApplyAdoptKeepsMetric(t *testing.T) {
	ns, tbl := open(t)
	ns.Run(t, "ip", "-6", "route", "add", "local", "2001:db8:21::/64", "dev", "lo", "proto", "static", "metric", "5")
	res, err := tbl.Apply(Plan{Adopt: pfxs("2001:db8:21::/64")})
	if err != nil || res.Adopted != 1 {
		t.Fatalf("Apply = %+v, %v", res, err)
	}
	rs := routesFor(t, ns, netip.MustParsePrefix("2001:db8:21::/64"))
	if len(rs) != 1 || rs[0].Protocol != strconv.Itoa(Protocol) || rs[0].Metric != 5 {
		t.Errorf("after adoption: %v, want one route, proto %d, metric 5", rs, Protocol)
	}
}

func TestKernelRoutesSatisfyAndSurvive(t *testing.T) {
	ns, tbl := open(t)
	ns.Run(t, "ip", "addr", "add", "10.9.9.9/32", "dev", "lo")
	desired := pfxs("10.9.9.9/32", "127.0.0.0/8", "::1/128", "10.10.0.0/24")
	plan, _ := mustReconcile(t, tbl, desired)
	checkPrefixes(t, "Kernel", plan.Kernel, pfxs("10.9.9.9/32", "127.0.0.0/8", "::1/128"))
	checkPrefixes(t, "Add", plan.Add, pfxs("10.10.0.0/24"))
	if len(plan.Adopt) != 0 {
		t.Errorf("adopted kernel routes: %v", plan.Adopt)
	}
	for _, p := range pfxs("10.9.9.9/32", "127.0.0.0/8", "::1/128") {
		if rs := routesFor(t, ns, p); len(rs) != 1 || rs[0].Protocol != "kernel" {
			t.Errorf("%v: %v, want the kernel's route alone", p, rs)
		}
	}
	plan, _ = mustReconcile(t, tbl, desired)
	if !plan.Empty() {
		t.Errorf("second plan not empty: %+v", plan)
	}
	if _, err := tbl.Down(); err != nil {
		t.Fatal(err)
	}
	for _, p := range pfxs("10.9.9.9/32", "127.0.0.0/8", "::1/128") {
		if rs := routesFor(t, ns, p); len(rs) != 1 || rs[0].Protocol != "kernel" {
			t.Errorf("after Down %v: %v, want the kernel's route alone", p, rs)
		}
	}
}

func TestReconcileTwiceChangesNothing(t *testing.T) {
	ns, tbl := open(t)
	ns.Run(t, "ip", "route", "add", "local", "10.20.0.0/24", "dev", "lo")
	desired := pfxs("10.20.0.0/24", "10.0.0.0/24", "2001:db8:1::/64")
	mustReconcile(t, tbl, desired)
	before := kernelRoutes(t, ns)

	plan, res := mustReconcile(t, tbl, desired)
	if !plan.Empty() {
		t.Errorf("second plan not empty: %+v", plan)
	}
	checkPrefixes(t, "second plan Keep", plan.Keep, sorted(desired))
	if !reflect.DeepEqual(res, Result{}) {
		t.Errorf("second result %+v, want nothing done", res)
	}
	if after := kernelRoutes(t, ns); !reflect.DeepEqual(notLinkLocal(after), notLinkLocal(before)) {
		t.Errorf("second Reconcile changed the routes:\nbefore %v\nafter  %v", before, after)
	}
}

func notLinkLocal(rs []kroute) []kroute {
	return slices.DeleteFunc(slices.Clone(rs), func(r kroute) bool { return strings.HasPrefix(r.Dst, "fe80:") })
}

func TestRepairsRouteDeletedByHand(t *testing.T) {
	ns, tbl := open(t)
	desired := pfxs("10.0.0.0/24", "10.0.1.0/24", "2001:db8:1::/64")
	mustReconcile(t, tbl, desired)
	ns.Run(t, "ip", "route", "del", "local", "10.0.1.0/24", "dev", "lo", "table", "local")
	ns.Run(t, "ip", "-6", "route", "del", "local", "2001:db8:1::/64", "dev", "lo", "table", "local")
	checkPrefixes(t, "routes after deleting by hand", anyipRoutes(t, ns), pfxs("10.0.0.0/24"))

	plan, res := mustReconcile(t, tbl, desired)
	checkPrefixes(t, "repair plan Add", plan.Add, pfxs("10.0.1.0/24", "2001:db8:1::/64"))
	if res.Added != 2 {
		t.Errorf("result %+v, want 2 added", res)
	}
	checkPrefixes(t, "routes after repair", anyipRoutes(t, ns), sorted(desired))
}

// ranges returns n consecutive /28s from 10.0.0.0 and m /64s from 2001:db8::.
func ranges(n, m int) []netip.Prefix {
	ps := make([]netip.Prefix, 0, n+m)
	for i := range n {
		v := 10<<24 | uint32(i)*16
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 28))
	}
	for i := range m {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, byte(i >> 8), byte(i)}), 64))
	}
	return ps
}

func TestLargeSet(t *testing.T) {
	ns, tbl := open(t)
	desired := ranges(5000, 500)
	plan, res := mustReconcile(t, tbl, desired)
	if len(plan.Add) != len(desired) || res.Added != len(desired) {
		t.Fatalf("plan %v, result %+v; want %d added", plan, res, len(desired))
	}
	checkPrefixes(t, "routes after large reconcile", anyipRoutes(t, ns), sorted(desired))
	if tbl.overruns != 0 {
		t.Errorf("%d windows overran the receive buffer (window %d): the window is sized wrong", tbl.overruns, tbl.window)
	}
	// Same check, the way an operator would count.
	out := ns.Run(t, "ip", "-4", "route", "show", "table", "local", "proto", strconv.Itoa(Protocol))
	if n := strings.Count(out, "\n"); n != 5000 {
		t.Errorf("ip -4 route show table local proto %d: %d lines, want 5000", Protocol, n)
	}

	// Drop every other range and add some new ones.
	var next []netip.Prefix
	for i, p := range desired {
		if i%2 == 0 {
			next = append(next, p)
		}
	}
	next = append(next, pfxs("172.16.0.0/12", "2001:db8:ffff::/48")...)
	plan, res = mustReconcile(t, tbl, next)
	if len(plan.Delete) != 2750 || len(plan.Add) != 2 || res.Deleted != 2750 || res.Added != 2 {
		t.Errorf("second plan %v, result %+v; want 2750 deleted, 2 added", plan, res)
	}
	checkPrefixes(t, "routes after second large reconcile", anyipRoutes(t, ns), sorted(next))

	if plan, _ := mustReconcile(t, tbl, next); !plan.Empty() {
		t.Errorf("third plan not empty: %v", plan)
	}
}

// TestSmallWindows runs a mixed plan through windows of the smallest size,
// so that sequence numbers are matched across many sendmsg calls.
func TestSmallWindows(t *testing.T) {
	ns, tbl := open(t)
	tbl.setWindow(minWindow, 1<<20)
	old := ranges(100, 20)
	mustReconcile(t, tbl, old)
	for _, p := range old[50:60] {
		ns.Run(t, "ip", "route", "del", "local", p.String(), "dev", "lo", "table", "local")
		ns.Run(t, "ip", "route", "add", "local", p.String(), "dev", "lo", "table", "local", "proto", "static")
	}
	desired := append(ranges(90, 10), pfxs("192.0.2.0/24", "198.51.100.0/24")...)
	plan, res := mustReconcile(t, tbl, desired)
	if len(plan.Adopt) != 10 || res.Adopted != 10 || res.Deleted != 20 || res.Added != 2 {
		t.Errorf("plan %v, result %+v", plan, res)
	}
	checkPrefixes(t, "routes", anyipRoutes(t, ns), sorted(desired))
}

// TestAckOverrun forces acks to overflow the receive buffer and checks that
// the outcome is still exact (the lost acks are settled by listing).
func TestAckOverrun(t *testing.T) {
	ns, tbl := open(t)
	if err := setRcvBuf(tbl, 0); err != nil {
		t.Fatal(err)
	}
	tbl.setWindow(maxWindow, maxBatchBytes)
	desired := ranges(3000, 0)
	plan, res, err := tbl.Reconcile(desired)
	if err != nil {
		t.Fatalf("Reconcile with overruns: %v", err)
	}
	if tbl.overruns == 0 {
		t.Fatal("test setup: no receive buffer overrun happened")
	}
	if len(plan.Add) != 3000 || res.Added != 3000 {
		t.Errorf("plan %v, result %+v, want 3000 added", plan, res)
	}
	checkPrefixes(t, "routes", anyipRoutes(t, ns), sorted(desired))

	// The socket is still in step for the next requests.
	plan, res = mustReconcile(t, tbl, desired[:1000])
	if res.Deleted != 2000 {
		t.Errorf("after overrun: plan %v, result %+v, want 2000 deleted", plan, res)
	}
	checkPrefixes(t, "routes", anyipRoutes(t, ns), sorted(desired[:1000]))
}

// TestWindowFitsReceiveBuffer sizes the window from the receive buffer an
// unprivileged process gets by default (rmem_default, doubled by the kernel)
// and checks that the acks of full windows fit in it.
func TestWindowFitsReceiveBuffer(t *testing.T) {
	ns, tbl := open(t)
	if err := setRcvBuf(tbl, 212992); err != nil {
		t.Fatal(err)
	}
	rcv, err := tbl.c.ReadBuffer()
	if err != nil {
		t.Fatal(err)
	}
	tbl.setWindow(rcv/ackCost, maxBatchBytes)
	desired := ranges(3000, 1000)
	mustReconcile(t, tbl, desired)
	mustReconcile(t, tbl, nil)
	if tbl.overruns != 0 {
		t.Errorf("receive buffer %d, window %d: %d windows overran", rcv, tbl.window, tbl.overruns)
	}
	checkPrefixes(t, "routes", anyipRoutes(t, ns), nil)
}

func TestApplyReportsFailuresAndGoesOn(t *testing.T) {
	ns, tbl := open(t)
	// 198.51.100.1 is the address of eth0: the kernel's local route for it
	// (on eth0, so not among the routes on lo) makes our add fail.
	ns.Veth(t, "eth0", "198.51.100.1/24", ns, "eth0-peer", "")
	conflict := netip.MustParsePrefix("198.51.100.1/32")
	plan := Plan{
		Add: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/24"),
			conflict,
			{},                                   // invalid
			netip.MustParsePrefix("10.0.1.7/24"), // not masked
			netip.MustParsePrefix("2001:db8:1::/64"),
		},
		Delete: pfxs("10.99.0.0/24"), // not there: done already
	}
	res, err := tbl.Apply(plan)
	if err == nil {
		t.Fatal("Apply succeeded, want failures")
	}
	if res.Added != 2 || res.Deleted != 1 || len(res.Failures) != 3 {
		t.Errorf("result %+v, want 2 added, 1 deleted, 3 failures", res)
	}
	var ae *ApplyError
	if !errors.As(err, &ae) || ae.Total != 6 || len(ae.Failures) != 3 {
		t.Fatalf("error %#v, want an *ApplyError with 3 of 6 failed", err)
	}
	if !errors.Is(err, unix.EEXIST) {
		t.Errorf("errors.Is(%v, EEXIST) = false", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"3 of 6 route changes failed",
		"add local 198.51.100.1/32 dev lo: file exists",
		"add local invalid Prefix dev lo: invalid prefix",
		"add local 10.0.1.7/24 dev lo: invalid prefix",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	checkPrefixes(t, "routes", anyipRoutes(t, ns), pfxs("10.0.0.0/24", "2001:db8:1::/64"))
	if rs := routesFor(t, ns, conflict); len(rs) != 1 || rs[0].Dev != "eth0" || rs[0].Protocol != "kernel" {
		t.Errorf("routes for %v: %v, want only the kernel's on eth0", conflict, rs)
	}
}

// TestApplyDoneAlready covers the state a crash or a concurrent run leaves:
// an add whose route is there with our protocol, and a delete whose route
// is gone, both count as done.
func TestApplyDoneAlready(t *testing.T) {
	ns, tbl := open(t)
	ns.Run(t, "ip", "route", "add", "local", "10.0.0.0/24", "dev", "lo", "table", "local", "proto", "241")
	ns.Run(t, "ip", "-6", "route", "add", "local", "2001:db8:1::/64", "dev", "lo", "table", "local", "proto", "241")
	res, err := tbl.Apply(Plan{
		Add:    pfxs("10.0.0.0/24", "2001:db8:1::/64"),
		Delete: pfxs("10.1.0.0/24", "2001:db8:2::/64"),
	})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if res.Added != 2 || res.Deleted != 2 {
		t.Errorf("result %+v, want 2 added, 2 deleted", res)
	}
	checkPrefixes(t, "routes", anyipRoutes(t, ns), pfxs("10.0.0.0/24", "2001:db8:1::/64"))
	for _, p := range pfxs("10.0.0.0/24", "2001:db8:1::/64") {
		if rs := routesFor(t, ns, p); len(rs) != 1 {
			t.Errorf("%v: %d routes, want 1: %v", p, len(rs), rs)
		}
	}
}

// TestDeleteHitsOnlyOurs deletes a range that has our route and a foreign
// one: only ours goes.
func TestDeleteHitsOnlyOurs(t *testing.T) {
	ns, tbl := open(t)
	ns.Run(t, "ip", "route", "add", "local", "10.0.0.0/24", "dev", "lo", "table", "local", "proto", "241")
	ns.Run(t, "ip", "route", "append", "local", "10.0.0.0/24", "dev", "lo", "table", "local", "proto", "static")
	ns.Run(t, "ip", "-6", "route", "add", "local", "2001:db8:1::/64", "dev", "lo", "table", "local", "proto", "241")
	ns.Run(t, "ip", "-6", "route", "add", "local", "2001:db8:1::/64", "dev", "lo", "table", "local", "proto", "static", "metric", "100")
	deleted, err := tbl.Down()
	if err != nil {
		t.Fatal(err)
	}
	checkPrefixes(t, "deleted", deleted, pfxs("10.0.0.0/24", "2001:db8:1::/64"))
	for _, p := range pfxs("10.0.0.0/24", "2001:db8:1::/64") {
		if rs := routesFor(t, ns, p); len(rs) != 1 || rs[0].Protocol != "static" {
			t.Errorf("%v after Down: %v, want the static route alone", p, rs)
		}
	}
}

func TestOpenUsesCurrentNamespace(t *testing.T) {
	ns := netnstest.New(t)
	ns.Run(t, "ip", "route", "add", "local", "10.77.0.0/24", "dev", "lo", "table", "local", "proto", "241")
	var tbl *Table
	if err := ns.Do(func() (err error) { tbl, err = Open(); return err }); err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	cur, err := tbl.List()
	if err != nil {
		t.Fatal(err)
	}
	checkPrefixes(t, "Ours", cur.Ours, pfxs("10.77.0.0/24"))
}

func TestOpenAtFindsLo(t *testing.T) {
	ns, tbl := open(t)
	lo, err := ns.Netlink(t).LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if tbl.lo != uint32(lo.Attrs().Index) {
		t.Errorf("lo index %d, want %d", tbl.lo, lo.Attrs().Index)
	}
}

func TestClosed(t *testing.T) {
	_, tbl := open(t)
	if err := tbl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := tbl.List(); !errors.Is(err, ErrClosed) {
		t.Errorf("List after Close: %v", err)
	}
	if _, _, err := tbl.Reconcile(pfxs("10.0.0.0/24")); !errors.Is(err, ErrClosed) {
		t.Errorf("Reconcile after Close: %v", err)
	}
	if _, err := tbl.Apply(Plan{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v", err)
	}
	if _, err := tbl.Down(); !errors.Is(err, ErrClosed) {
		t.Errorf("Down after Close: %v", err)
	}
}

// TestIPBatchComparable checks that the routes we make are the very routes
// `ip route add local ... dev lo` makes, but for the protocol: the
// benchmark compares like with like, and ip shows ours as expected.
func TestIPBatchComparable(t *testing.T) {
	ns, tbl := open(t)
	ps := pfxs("10.0.0.0/28", "2001:db8:1::/64")
	mustReconcile(t, tbl, ps)
	ours := kernelRoutes(t, ns)
	if _, err := tbl.Down(); err != nil {
		t.Fatal(err)
	}
	batch := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(batch, []byte("route add local 10.0.0.0/28 dev lo proto 241\nroute add local 2001:db8:1::/64 dev lo proto 241\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ns.Run(t, "ip", "-batch", batch)
	if theirs := kernelRoutes(t, ns); !reflect.DeepEqual(notLinkLocal(ours), notLinkLocal(theirs)) {
		t.Errorf("our routes differ from ip's:\nours %v\nip's %v", ours, theirs)
	}
}

// TestOpenAtRefusesWhatIsNoNamespace: descriptor 0 means the calling
// thread's namespace to the netlink library, so OpenAt must not hand it
// on as it is: here 0 is the test's standard input, no namespace at all,
// and a table of this machine's own namespace would be the worst answer.
func TestOpenAtRefusesWhatIsNoNamespace(t *testing.T) {
	for _, ns := range []netns.NsHandle{0, netns.None()} {
		if tbl, err := OpenAt(ns); err == nil {
			tbl.Close()
			t.Errorf("OpenAt(%d) opened a table", ns)
		}
	}
}

package routes

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestAdoptTouchesOnlyTheRouteItAdopts plants, next to the old service's
// route of a range (local … dev lo, proto boot), routes for the same prefix
// and metric that are not it: on another device, of another type, in
// another table. The kernel keeps such routes in one list per prefix and
// metric, in the order they came, and a "replace" takes the first of them
// whatever it is. Adoption must change the one lo route and nothing else,
// and leave one route on lo for the range, whichever order the routes came
// in.
func TestAdoptTouchesOnlyTheRouteItAdopts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant [][]string
	}{
		{"eth0 first", [][]string{
			{"route", "add", "10.99.7.0/24", "dev", "eth0", "proto", "static", "table", "local"},
			{"route", "append", "local", "10.99.7.0/24", "dev", "lo", "table", "local"},
			{"-6", "route", "add", "2001:db8:7::/64", "dev", "eth0", "proto", "static", "table", "local"},
			{"-6", "route", "append", "local", "2001:db8:7::/64", "dev", "lo", "table", "local"},
		}},
		{"lo first", [][]string{
			{"route", "add", "local", "10.99.7.0/24", "dev", "lo", "table", "local"},
			{"route", "append", "10.99.7.0/24", "dev", "eth0", "proto", "static", "table", "local"},
			{"-6", "route", "add", "local", "2001:db8:7::/64", "dev", "lo", "table", "local"},
			{"-6", "route", "append", "2001:db8:7::/64", "dev", "eth0", "proto", "static", "table", "local"},
		}},
		{"other type first", [][]string{
			{"route", "add", "unicast", "10.99.7.0/24", "dev", "lo", "proto", "static", "table", "local"},
			{"route", "append", "local", "10.99.7.0/24", "dev", "lo", "table", "local", "metric", "0"},
			{"route", "add", "local", "10.99.7.0/24", "dev", "lo", "table", "main"},
			{"-6", "route", "add", "local", "2001:db8:7::/64", "dev", "lo", "table", "main"},
			{"-6", "route", "add", "local", "2001:db8:7::/64", "dev", "lo", "table", "local", "metric", "9"},
			{"-6", "route", "append", "2001:db8:7::/64", "dev", "eth0", "proto", "static", "table", "local", "metric", "9"},
		}},
		{"boot and static on lo, other metrics", [][]string{
			{"route", "add", "local", "10.99.7.0/24", "dev", "lo", "table", "local", "metric", "5"},
			{"route", "add", "local", "10.99.7.0/24", "dev", "lo", "table", "local", "proto", "static", "metric", "8"},
			{"route", "append", "10.99.7.0/24", "dev", "eth0", "proto", "static", "table", "local", "metric", "5"},
			{"-6", "route", "add", "local", "2001:db8:7::/64", "dev", "lo", "table", "local", "metric", "5"},
			{"-6", "route", "append", "2001:db8:7::/64", "dev", "eth0", "proto", "static", "table", "local", "metric", "5"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, tbl := open(t)
			ns.Veth(t, "eth0", "", ns, "eth0-peer", "")
			for _, args := range tc.plant {
				ns.Run(t, "ip", args...)
			}
			desired := pfxs("10.99.7.0/24", "2001:db8:7::/64")
			// The lo route the adoption takes: the lowest metric among
			// the local routes on lo in table local.
			adopted := map[string]kroute{}
			var before []string
			for _, r := range kernelRoutes(t, ns) {
				if !slices.Contains([]string{"10.99.7.0/24", "2001:db8:7::/64"}, r.Dst) {
					continue
				}
				if r.Type == "local" && r.Dev == "lo" && r.Table == "local" {
					if a, ok := adopted[r.Dst]; !ok || r.Metric < a.Metric {
						adopted[r.Dst] = r
					}
				}
				before = append(before, r.String())
			}
			if len(adopted) != 2 {
				t.Fatalf("test setup: no lo route to adopt for each range: %v", before)
			}
			plan, res := mustReconcile(t, tbl, desired)
			checkPrefixes(t, "Adopt", plan.Adopt, desired)
			if res.Adopted != 2 || len(res.Failures) != 0 {
				t.Errorf("result %+v, want 2 adopted", res)
			}

			// Every route of before is still there, except the adopted
			// one, which is now ours with its metric.
			var want []string
			for _, s := range before {
				skip := false
				for _, a := range adopted {
					if s == a.String() {
						skip = true
					}
				}
				if !skip {
					want = append(want, s)
				}
			}
			for _, a := range adopted {
				a.Protocol = strconv.Itoa(Protocol)
				want = append(want, a.String())
			}
			var got []string
			for _, r := range kernelRoutes(t, ns) {
				if r.Dst == "10.99.7.0/24" || r.Dst == "2001:db8:7::/64" {
					got = append(got, r.String())
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("routes for the ranges after adoption:\n%s\nwant\n%s\n(before:\n%s)",
					strings.Join(got, "\n"), strings.Join(want, "\n"), strings.Join(before, "\n"))
			}

			plan, _ = mustReconcile(t, tbl, desired)
			if !plan.Empty() {
				t.Errorf("second plan %+v, want nothing to do", plan)
			}
		})
	}
}

// TestApplyAdoptWithoutTheRoute: a plan to adopt a range whose foreign
// route has gone meanwhile adds ours, exclusively: a route that has come
// back on lo since is refused, not doubled.
func TestApplyAdoptWithoutTheRoute(t *testing.T) {
	ns, tbl := open(t)
	res, err := tbl.Apply(Plan{Adopt: pfxs("10.99.8.0/24", "2001:db8:8::/64")})
	if err != nil || res.Adopted != 2 {
		t.Fatalf("Apply = %+v, %v; want 2 adopted", res, err)
	}
	checkPrefixes(t, "ours", anyipRoutes(t, ns), pfxs("10.99.8.0/24", "2001:db8:8::/64"))
}

// Many adoptions through windows far smaller than the plan: each pair of
// messages (ours, the old route's removal) goes into one sendmsg whatever
// the window's room, and every range ends with exactly one route, ours.
func TestAdoptManyInSmallWindows(t *testing.T) {
	ns, tbl := open(t)
	tbl.setWindow(64, 17*maxRouteMsg) // bytes for an odd count of the longest messages
	var batch strings.Builder
	var desired []netip.Prefix
	for i := range 45 {
		p4 := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 60, byte(i), 0}), 24)
		p6 := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x60, byte(i)}), 48)
		fmt.Fprintf(&batch, "route add local %s dev lo table local\nroute add local %s dev lo table local proto static\n", p4, p6)
		desired = append(desired, p4, p6)
	}
	for i := range 7 { // plain additions among them
		desired = append(desired, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 61, byte(i), 0}), 24))
	}
	f := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(f, []byte(batch.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ns.Run(t, "ip", "-batch", f)

	plan, res := mustReconcile(t, tbl, desired)
	if len(plan.Adopt) != 90 || res.Adopted != 90 || res.Added != 7 {
		t.Fatalf("plan %v, result %+v; want 90 adopted, 7 added", plan, res)
	}
	if tbl.split != 0 {
		t.Errorf("%d adoptions were sent in two windows", tbl.split)
	}
	checkPrefixes(t, "ours", anyipRoutes(t, ns), sorted(desired))
	n := 0
	for _, r := range kernelRoutes(t, ns) {
		if r.Table == "local" && r.Dev == "lo" && r.Protocol != "kernel" {
			n++
			if r.Protocol != strconv.Itoa(Protocol) {
				t.Errorf("left behind: %v", r)
			}
		}
	}
	if n != len(desired) {
		t.Errorf("%d routes on lo, want one for each of the %d ranges", n, len(desired))
	}
}

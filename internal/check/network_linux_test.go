package check

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/netconf"
	"github.com/anyip/anyip/internal/netnstest"
)

// The network checks against the real kernel: an appliance namespace with
// the routes and rules first boot's files give (set here with ip, as
// networkd would), read through SystemKernel. They pass; with the rules
// gone, the reply path and the backends fail, naming where traffic goes.
func TestNetworkChecksRealKernel(t *testing.T) {
	vm, rt := netnstest.New(t), netnstest.New(t)
	vm.Veth(t, "management", "10.40.10.5/24", rt, "r-mgmt", "10.40.10.1/24")
	vm.Veth(t, "workload", "10.40.20.5/24", rt, "r-wl", "10.40.20.1/24")
	vm.Veth(t, "frontend", "10.40.30.5/24", rt, "r-fe", "10.40.30.1/24")
	n := netconf.Network{
		NICs: []netconf.NIC{
			{Role: "management", Addr: netip.MustParsePrefix("10.40.10.5/24"), Gateway: netip.MustParseAddr("10.40.10.1")},
			{Role: "workload", Addr: netip.MustParsePrefix("10.40.20.5/24"), Gateway: netip.MustParseAddr("10.40.20.1")},
			{Role: "frontend", Addr: netip.MustParsePrefix("10.40.30.5/24"), Gateway: netip.MustParseAddr("10.40.30.1")},
		},
		Ranges:   []netip.Prefix{netip.MustParsePrefix("10.40.30.64/26"), netip.MustParsePrefix("192.168.77.0/28")},
		Backends: []netip.Prefix{netip.MustParsePrefix("10.41.0.0/16")},
	}
	var ws []*netconf.Written
	for _, f := range netconf.Render(n) {
		w, err := netconf.Parse(f.Name, f.Data)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	for _, cmd := range [][]string{
		{"route", "add", "default", "via", "10.40.10.1", "dev", "management"},
		{"route", "add", "10.40.20.0/24", "dev", "workload", "table", "2", "src", "10.40.20.5"},
		{"route", "add", "default", "via", "10.40.20.1", "dev", "workload", "table", "2"},
		{"route", "add", "10.40.30.0/24", "dev", "frontend", "table", "3", "src", "10.40.30.5"},
		{"route", "add", "default", "via", "10.40.30.1", "dev", "frontend", "table", "3"},
		{"rule", "add", "to", "10.41.0.0/16", "lookup", "2", "priority", "10100"},
		{"rule", "add", "from", "10.40.20.0/24", "lookup", "2", "priority", "10200"},
		{"rule", "add", "from", "10.40.30.0/24", "lookup", "3", "priority", "10300"},
		{"rule", "add", "from", "192.168.77.0/28", "lookup", "3", "priority", "10300"},
		{"route", "add", "local", "10.40.30.64/26", "dev", "lo", "table", "local"},
		{"route", "add", "local", "192.168.77.0/28", "dev", "lo", "table", "local"},
	} {
		vm.Run(t, "ip", cmd...)
	}
	ranges := n.Ranges
	run := func() (nw, rp, be Result) {
		t.Helper()
		err := vm.Do(func() error {
			k := SystemKernel{}
			nw, rp, be = Network(ws, k), ReplyPath(ws, ranges, k), Backends(ws, k)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	nw, rp, be := run()
	for _, r := range []Result{nw, rp, be} {
		if r.Status != Pass {
			t.Errorf("%s: %s: %s\n%s", r.Name, r.Status, r.Summary, strings.Join(r.Details, "\n"))
		}
	}

	vm.Run(t, "ip", "rule", "del", "priority", "10300", "from", "10.40.30.0/24")
	vm.Run(t, "ip", "rule", "del", "priority", "10100")
	_, rp, be = run()
	if rp.Status != Fail || !strings.Contains(strings.Join(rp.Details, "\n"), "10.40.30.64/26: a reply from 10.40.30.65 leaves through management via 10.40.10.1, not through frontend") {
		t.Errorf("reply-path without the rules: %s %s\n%s", rp.Status, rp.Summary, strings.Join(rp.Details, "\n"))
	}
	// The way back is networkd configuring the NICs again: `networkctl
	// reload` alone does nothing while the files are unchanged.
	if want := "`networkctl reconfigure management workload frontend` restores them"; !strings.Contains(rp.Hint, want) {
		t.Errorf("reply-path hint %q, want %q", rp.Hint, want)
	}
	if want := "`networkctl reconfigure workload` restores them"; !strings.Contains(be.Hint, want) {
		t.Errorf("backends hint %q, want %q", be.Hint, want)
	}
	if !strings.Contains(strings.Join(rp.Details, "\n"), "192.168.77.0/28: replies leave through frontend") {
		t.Errorf("the range whose rule is still there:\n%s", strings.Join(rp.Details, "\n"))
	}
	if be.Status != Fail || !strings.Contains(strings.Join(be.Details, "\n"), "10.41.0.0/16: routed through management via 10.40.10.1") {
		t.Errorf("backends without the rule: %s\n%s", be.Status, strings.Join(be.Details, "\n"))
	}
}

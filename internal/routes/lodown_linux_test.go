package routes

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/anyip/anyip/internal/netnstest"
)

// In a new namespace whose lo was never brought up, table local does not
// exist yet and a filtered dump says "FIB table does not exist". That is an
// empty table, not a failure: a first run there must work.
func TestListAndReconcileWithoutTableLocal(t *testing.T) {
	netnstest.New(t) // skips, or fails under ANYIP_REQUIRE_NETNS=1, where namespaces are unavailable
	name := fmt.Sprintf("anyip-t-lodown-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tbl, err := OpenAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()

	cur, err := tbl.List()
	if err != nil {
		t.Fatalf("List before table local exists: %v", err)
	}
	if len(cur.Ours)+len(cur.Foreign) != 0 {
		t.Fatalf("List = %+v, want an empty table", cur)
	}
	want := netip.MustParsePrefix("10.20.0.128/26")
	if _, _, err := tbl.Reconcile([]netip.Prefix{want}); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	out, err := exec.Command("ip", "-n", name, "route", "show", "table", "local", "proto", "241").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, w := string(out), "local "+want.String()+" dev lo scope host \n"; got != w {
		t.Fatalf("our routes: %q, want %q", got, w)
	}
}

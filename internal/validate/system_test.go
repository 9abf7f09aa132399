package validate_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/finding"
	. "github.com/anyip/anyip/internal/validate"
)

// One entry point serves the route service and check (the file as it is)
// and first boot (the file it is about to write): findings name the file's
// lines, the system's facts and the limits apply to both, and first boot's
// own rules come first.
func TestAgainst(t *testing.T) {
	const path = "/etc/vmware/anyip-routes.cfg"
	f, fs := cfgfile.Parse(path, []byte("10.1.0.0/24\n"+cfgfile.BeginMarker+"\n10.2.0.0/24\n"+cfgfile.EndMarker+"\n10.128.0.0/9\n"))
	if len(fs) != 0 {
		t.Fatalf("Parse: %v", fs)
	}
	facts := Facts{Gateways: []HeldAddr{{"eth0", pfx("10.2.0.1/32")}}}
	a := Against{Facts: facts, MinBits4: 16, MinBits6: 48}

	// The file as it is: the managed line holds the gateway, the last
	// line is too large.
	got := a.File(f)
	if len(got) != 2 || !has(got, path+":3", "10.2.0.1", "the current default gateway") || !has(got, path+":5", "10.128.0.0/9", "") {
		t.Errorf("File:\n%v", got)
	}

	// The file first boot would write: the wizard's range replaces the
	// managed block and its own gateway is named by its key.
	a.Own = Rules{Forbidden: []Point{{Addr: addr("10.4.0.1"), What: "the workload gateway", Where: "network.workload_gateway"}}}
	got = a.Rewrite(f, []Range{{Prefix: pfx("10.4.0.0/24"), Where: "loadbalance.service_ip_range"}})
	if len(got) != 2 || !has(got, "loadbalance.service_ip_range", "10.4.0.1", "network.workload_gateway") || !has(got, path+":5", "10.128.0.0/9", "") {
		t.Errorf("Rewrite:\n%v", got)
	}
	if has(got, path+":3", "", "") {
		t.Errorf("Rewrite checked the managed line it replaces:\n%v", got)
	}
}

func has(fs finding.List, where, addr, in string) bool {
	for _, f := range fs {
		if f.Where == where && f.Severity == finding.Error && strings.Contains(f.Message, addr) && strings.Contains(f.Message, in) {
			return true
		}
	}
	return false
}

// A resolv.conf that does not exist is a warning naming it, not a silent
// end of the name-server check.
func TestAgainstMissingResolvConf(t *testing.T) {
	f, _ := cfgfile.Parse("/etc/vmware/anyip-routes.cfg", []byte("10.1.0.0/24\n"))
	a := Against{Facts: Facts{ResolvConf: "/etc/resolv.conf.typo", ResolvConfMissing: true}, MinBits4: 16, MinBits6: 48}
	for name, got := range map[string]finding.List{"File": a.File(f), "Rewrite": a.Rewrite(f, nil)} {
		if len(got) != 1 || got[0].Severity != finding.Warning || got[0].Where != "/etc/resolv.conf.typo" || !strings.Contains(got[0].Message, "does not exist") {
			t.Errorf("%s: %v", name, got)
		}
	}
	a.Facts.ResolvConfMissing = false
	if got := a.File(f); len(got) != 0 {
		t.Errorf("present: %v", got)
	}
}

// A conflict with the running system names its place in a form automation
// can use, one of a fixed few (README.md, JSON); the message says it in
// words.
func TestSystemConflictPlaces(t *testing.T) {
	facts := Facts{
		Gateways:    []HeldAddr{{"eth0", pfx("10.1.0.1/32")}},
		Addrs:       []HeldAddr{{"eth1", pfx("10.2.0.5/24")}},
		Nameservers: []netip.Addr{addr("10.3.0.53")},
		ResolvConf:  "/etc/resolv.conf",
	}
	const path = "/etc/vmware/anyip-routes.cfg"
	f, _ := cfgfile.Parse(path, []byte("10.1.0.0/28\n10.2.0.0/28\n10.3.0.48/28\n127.0.0.0/28\n"))
	got := map[string]string{}
	for _, f := range (Against{Facts: facts}).File(f) {
		if f.Severity == finding.Error {
			got[f.Where] = f.Conflict + " @ " + f.ConflictWhere + " | " + f.Message
		}
	}
	for where, want := range map[string]string{
		path + ":1": "10.1.0.1 @ route:table=main,dst=default,dev=eth0 | 10.1.0.0/28 contains 10.1.0.1, the current default gateway (via eth0): the appliance would answer for it and cut it off the network",
		path + ":2": "10.2.0.5 @ interface:eth1 | 10.2.0.0/28 contains 10.2.0.5, an address already held (on eth1): the appliance would answer for it and cut it off the network",
		path + ":3": "10.3.0.53 @ /etc/resolv.conf | 10.3.0.48/28 contains 10.3.0.53, a name server in use (/etc/resolv.conf): the appliance would answer for it and cut it off the network",
		path + ":4": "127.0.0.0/8 @ rfc:1122 | 127.0.0.0/28 overlaps loopback space (127.0.0.0/8) (RFC 1122)",
	} {
		if got[where] != want {
			t.Errorf("%s:\n got %q\nwant %q", where, got[where], want)
		}
	}
}

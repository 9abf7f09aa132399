package validate_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/finding"
	. "github.com/anyip/anyip/internal/validate"
)

const key = appliance.KeyServiceRanges

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

// wizard builds ranges as they come from the vApp property.
func wizard(ss ...string) []Range {
	var out []Range
	for _, s := range ss {
		out = append(out, Range{Prefix: pfx(s), Where: key})
	}
	return out
}

// lines builds ranges as they come from anyip-routes.cfg, one a line.
func lines(ss ...string) []Range {
	var out []Range
	for i, s := range ss {
		out = append(out, Range{Prefix: pfx(s), Where: fmt.Sprintf("/etc/vmware/anyip-routes.cfg:%d", i+1)})
	}
	return out
}

func split(fs finding.List) (errs, warns finding.List) {
	for _, f := range fs {
		if f.Severity == finding.Error {
			errs = append(errs, f)
		} else {
			warns = append(warns, f)
		}
	}
	return errs, warns
}

// config is the appliance of the examples: two static NICs, two name
// servers and a backend network.
func config(t *testing.T, kv ...string) appliance.Config {
	t.Helper()
	raw := map[string]string{
		appliance.KeyHostname:           "lb-01.example.com",
		appliance.KeyNameservers:        "192.168.10.2, 192.168.10.3",
		appliance.KeyManagementIP:       "192.168.10.5/24",
		appliance.KeyManagementGateway:  "192.168.10.1",
		appliance.KeyWorkloadIP:         "192.168.20.5/24",
		appliance.KeyWorkloadGateway:    "192.168.20.1",
		appliance.KeyAdditionalNetworks: "10.10.0.0/16",
		appliance.KeyServiceRanges:      "192.168.20.128/26",
		appliance.KeyRootPassword:       "s3cret-root",
		appliance.KeyHAProxyPassword:    "s3cret-dp",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		raw[kv[i]] = kv[i+1]
	}
	c, _, fs := appliance.FromProperties(raw)
	if fs.HasErrors() {
		t.Fatalf("example config does not parse:\n%v", fs)
	}
	return c
}

// rulesFor is what first boot checks the wizard's ranges against: the
// appliance's own rules, then the system's.
func rulesFor(c appliance.Config, f Facts) Rules {
	return Against{Facts: f, Own: c.Rules()}.Rules()
}

func TestExampleConfigIsClean(t *testing.T) {
	c := config(t)
	if fs := Ranges(c.Ranges(), rulesFor(c, Facts{})); len(fs) != 0 {
		t.Errorf("Ranges:\n%v", fs)
	}
	if fs := c.Check(); len(fs) != 0 {
		t.Errorf("Appliance:\n%v", fs)
	}
}

// Each case is one range set and rules with one thing wrong: the findings
// are exactly the listed ones (severity, where, value) and each message and
// hint says what the spec says it must.
func TestRanges(t *testing.T) {
	type want struct {
		sev   finding.Severity
		where string
		value string
		msg   []string // substrings of Message
		hint  string   // substring of Hint; "=..." means exactly
	}
	E, W := finding.Error, finding.Warning
	for _, c := range []struct {
		name   string
		ranges []Range
		rules  Rules
		want   []want
	}{
		{"valid IPv4", wizard("192.168.20.128/25", "192.168.21.0/24"), Rules{}, nil},
		{"valid IPv6", wizard("2001:db8:20::/64", "2001:db8:21::/56", "2001:db8:22::7/128"), Rules{}, nil},
		{"IPv6 inside attached: the route service answers on the link", wizard("2001:db8:20:0:8000::/65"), Rules{Attached: []Network{{pfx("2001:db8:20::/64"), "the workload network", appliance.KeyWorkloadIP}}}, nil},
		{"IPv6 only overlapping attached: behind a router", wizard("2001:db8:20::/63"), Rules{Attached: []Network{{pfx("2001:db8:20::/64"), "the workload network", appliance.KeyWorkloadIP}}},
			[]want{{W, key, "2001:db8:20::/63", []string{"outside every attached network"}, "routes it to this appliance"}}},
		{"IPv4 inside attached answers ARP: no warning", wizard("10.20.0.128/26"), Rules{Attached: []Network{{pfx("10.20.0.0/24"), "the workload network", appliance.KeyWorkloadIP}}}, nil},
		{"adjacent ranges do not overlap", wizard("10.0.0.0/25", "10.0.0.128/25"), Rules{}, nil},
		{"exactly the size limit", wizard("10.0.0.0/16", "2001:db8::/48"), Rules{}, nil},

		{"host bits set", wizard("172.16.10.70/26"), Rules{},
			[]want{{E, key, "172.16.10.70/26", []string{"host bits set"}, "=did you mean 172.16.10.64/26?"}}},
		{"host bits set, IPv6", wizard("2001:db8::1/64"), Rules{},
			[]want{{E, key, "2001:db8::1/64", []string{"host bits set"}, "=did you mean 2001:db8::/64?"}}},
		{"the whole IPv4 space", wizard("0.0.0.0/0"), Rules{},
			[]want{{E, key, "0.0.0.0/0", []string{"every address"}, "e.g."}}},
		{"the whole IPv6 space", wizard("::/0"), Rules{},
			[]want{{E, key, "::/0", []string{"every address"}, "e.g."}}},
		{"larger than /16", wizard("10.0.0.0/15"), Rules{},
			[]want{{E, key, "10.0.0.0/15", []string{"131072 addresses", "largest allowed: /16"}, "/16 or smaller"}}},
		{"a /8", lines("10.0.0.0/8"), Rules{},
			[]want{{E, "/etc/vmware/anyip-routes.cfg:1", "10.0.0.0/8", []string{"16777216 addresses"}, "/16 or smaller"}}},
		{"larger than /48", wizard("2001:db8::/47"), Rules{},
			[]want{{E, key, "2001:db8::/47", []string{"2^81 addresses", "/48"}, "/48 or smaller"}}},
		{"custom MinBits4", wizard("10.0.0.0/23", "10.0.2.0/24"), Rules{MinBits4: 24},
			[]want{{E, key, "10.0.0.0/23", []string{"largest allowed: /24"}, "/24 or smaller"}}},
		{"custom MinBits4 smaller than default", wizard("10.0.0.0/12"), Rules{MinBits4: 12}, nil},
		{"custom MinBits6", wizard("2001:db8::/56", "2001:db8:1::/64"), Rules{MinBits6: 60},
			[]want{{E, key, "2001:db8::/56", []string{"largest allowed: /60"}, "/60 or smaller"}}},

		{"loopback", wizard("127.0.0.0/24"), Rules{},
			[]want{{E, key, "127.0.0.0/24", []string{"loopback"}, "outside 127.0.0.0/8"}}},
		{"this network", wizard("0.0.0.0/24"), Rules{},
			[]want{{E, key, "0.0.0.0/24", []string{"this network"}, "outside 0.0.0.0/8"}}},
		{"link-local", wizard("169.254.10.0/24"), Rules{},
			[]want{{E, key, "169.254.10.0/24", []string{"link-local"}, "outside 169.254.0.0/16"}}},
		{"multicast", wizard("224.0.0.0/24"), Rules{},
			[]want{{E, key, "224.0.0.0/24", []string{"multicast"}, "outside 224.0.0.0/4"}}},
		{"multicast, high end", wizard("239.255.255.0/24"), Rules{},
			[]want{{E, key, "239.255.255.0/24", []string{"multicast"}, "outside 224.0.0.0/4"}}},
		{"reserved", wizard("240.0.0.0/24"), Rules{},
			[]want{{E, key, "240.0.0.0/24", []string{"reserved"}, "outside 240.0.0.0/4"}}},
		{"limited broadcast", wizard("255.255.255.255/32"), Rules{},
			[]want{{E, key, "255.255.255.255/32", []string{"reserved"}, ""}}},
		{"IPv6 link-local", wizard("fe80::/64"), Rules{},
			[]want{{E, key, "fe80::/64", []string{"link-local"}, "outside fe80::/10"}}},
		{"IPv6 multicast", wizard("ff02::/64"), Rules{},
			[]want{{E, key, "ff02::/64", []string{"multicast"}, "outside ff00::/8"}}},
		{"IPv6 loopback", wizard("::1/128"), Rules{},
			[]want{{E, key, "::1/128", []string{"loopback"}, ""}}},
		{"IPv6 unspecified", wizard("::/128"), Rules{},
			[]want{{E, key, "::/128", []string{"unspecified"}, ""}}},
		{"IPv4-mapped", wizard("::ffff:10.0.0.0/120"), Rules{},
			[]want{{E, key, "::ffff:10.0.0.0/120", []string{"IPv4-mapped"}, ""}}},

		{"nested overlap", lines("10.0.0.0/24", "10.0.0.64/26"), Rules{},
			[]want{{E, "/etc/vmware/anyip-routes.cfg:2", "10.0.0.64/26", []string{"overlaps 10.0.0.0/24", "anyip-routes.cfg:1"}, "merge"}}},
		{"nested overlap, larger one second", lines("10.0.0.64/26", "10.0.0.0/24"), Rules{},
			[]want{{E, "/etc/vmware/anyip-routes.cfg:1", "10.0.0.64/26", []string{"overlaps 10.0.0.0/24", "anyip-routes.cfg:2"}, "merge"}}},
		{"nested overlap, same start", lines("10.0.0.0/25", "10.0.0.0/24"), Rules{},
			[]want{{E, "/etc/vmware/anyip-routes.cfg:1", "10.0.0.0/25", []string{"overlaps 10.0.0.0/24", "anyip-routes.cfg:2"}, ""}}},
		{"nested overlap between sources", append(wizard("10.0.0.0/24"), lines("10.0.0.200/32")...), Rules{},
			[]want{{E, "/etc/vmware/anyip-routes.cfg:1", "10.0.0.200/32", []string{"overlaps 10.0.0.0/24", key}, ""}}},
		{"identical ranges", lines("10.0.0.0/24", "10.0.0.0/24"), Rules{},
			[]want{{W, "/etc/vmware/anyip-routes.cfg:2", "10.0.0.0/24", []string{"listed twice", "anyip-routes.cfg:1"}, "delete one"}}},
		{"identical IPv6 ranges", wizard("2001:db8::/64", "2001:db8::/64"), Rules{},
			[]want{{W, key, "2001:db8::/64", []string{"listed twice"}, "delete one"}}},
		{"an IPv4 and an IPv6 range with the same bits", wizard("10.0.0.0/24", "a00::/24"), Rules{MinBits6: 24}, nil},

		{"range inside an avoided network", wizard("10.10.5.0/24"),
			Rules{Avoid: []Network{{pfx("10.10.0.0/16"), "an additional workload network (backends)", appliance.KeyAdditionalNetworks}}},
			[]want{{E, key, "10.10.5.0/24", []string{"overlaps an additional workload network", appliance.KeyAdditionalNetworks}, "outside 10.10.0.0/16"}}},
		{"avoided network inside a range", wizard("10.10.0.0/16"),
			Rules{Avoid: []Network{{pfx("10.10.5.0/24"), "an additional workload network (backends)", appliance.KeyAdditionalNetworks}}},
			[]want{{E, key, "10.10.0.0/16", []string{"overlaps an additional workload network", appliance.KeyAdditionalNetworks}, "outside 10.10.5.0/24"}}},
		{"avoided network equal to a range", wizard("10.10.5.0/24"),
			Rules{Avoid: []Network{{pfx("10.10.5.0/24"), "backends", appliance.KeyAdditionalNetworks}}},
			[]want{{E, key, "10.10.5.0/24", []string{"overlaps backends"}, ""}}},
		{"avoided network next to a range", wizard("10.10.4.0/24", "10.10.6.0/24"),
			Rules{Avoid: []Network{{pfx("10.10.5.0/24"), "backends", appliance.KeyAdditionalNetworks}}}, nil},

		{"outside every attached network", wizard("192.168.99.0/24"),
			Rules{Attached: []Network{{pfx("192.168.20.0/24"), "the workload network", appliance.KeyWorkloadIP}, {pfx("192.168.10.0/24"), "the management network", appliance.KeyManagementIP}}},
			[]want{{W, key, "192.168.99.0/24", []string{"outside every attached network", "192.168.20.0/24, 192.168.10.0/24"}, "upstream router"}}},
		{"larger than the attached network", wizard("192.168.20.0/23"),
			Rules{Attached: []Network{{pfx("192.168.20.0/24"), "the workload network", appliance.KeyWorkloadIP}}},
			[]want{
				{W, key, "192.168.20.0/23", []string{"outside every attached network"}, ""},
				{W, key, "192.168.20.0/23", []string{"includes 192.168.20.0, the network address of 192.168.20.0/24", appliance.KeyWorkloadIP}, "leave 192.168.20.0 out"},
				{W, key, "192.168.20.0/23", []string{"includes 192.168.20.255, the broadcast address of 192.168.20.0/24", appliance.KeyWorkloadIP}, "leave 192.168.20.255 out"},
			}},
		{"includes the broadcast address", wizard("192.168.20.192/26"),
			Rules{Attached: []Network{{pfx("192.168.20.0/24"), "the workload network", appliance.KeyWorkloadIP}}},
			[]want{{W, key, "192.168.20.192/26", []string{"includes 192.168.20.255, the broadcast address of 192.168.20.0/24 (" + appliance.KeyWorkloadIP + ")"}, "leave 192.168.20.255 out"}}},
		{"includes the network address", wizard("192.168.20.0/28"),
			Rules{Attached: []Network{{pfx("192.168.20.0/24"), "a network", "eth1"}}},
			[]want{{W, key, "192.168.20.0/28", []string{"includes 192.168.20.0, the network address of 192.168.20.0/24 (eth1)"}, "leave 192.168.20.0 out"}}},
		{"inside, clear of network and broadcast", wizard("192.168.20.128/26"),
			Rules{Attached: []Network{{pfx("192.168.20.0/24"), "the workload network", appliance.KeyWorkloadIP}}}, nil},
		{"same attached subnet twice warns once", wizard("192.168.20.192/26"),
			Rules{Attached: []Network{{pfx("192.168.20.0/24"), "the workload network", appliance.KeyWorkloadIP}, {pfx("192.168.20.0/24"), "a network", "eth1"}}},
			[]want{{W, key, "192.168.20.192/26", []string{"broadcast address", appliance.KeyWorkloadIP}, ""}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := Ranges(c.ranges, c.rules)
			if len(fs) != len(c.want) {
				t.Fatalf("want %d findings, got %d:\n%v", len(c.want), len(fs), fs)
			}
			for _, w := range c.want {
				var match *finding.Finding
				for i, f := range fs {
					if f.Severity == w.sev && f.Where == w.where && f.Value == w.value && strings.Contains(f.Message, w.msg[0]) {
						match = &fs[i]
						break
					}
				}
				if match == nil {
					t.Errorf("no %v at %s = %q saying %q in:\n%v", w.sev, w.where, w.value, w.msg[0], fs)
					continue
				}
				for _, m := range w.msg {
					if !strings.Contains(match.Message, m) {
						t.Errorf("Message %q lacks %q", match.Message, m)
					}
				}
				if exact, ok := strings.CutPrefix(w.hint, "="); ok {
					if match.Hint != exact {
						t.Errorf("Hint = %q, want exactly %q", match.Hint, exact)
					}
				} else if !strings.Contains(match.Hint, w.hint) {
					t.Errorf("Hint = %q, want it to contain %q", match.Hint, w.hint)
				}
				if match.Hint == "" {
					t.Errorf("finding without a hint: %v", match)
				}
			}
		})
	}
}

// The rules built from the appliance configuration and the running system:
// a range that contains an address in use is an error that names the range,
// the address, and where the address comes from (property key, interface,
// resolv.conf).
func TestRulesForForbiddenAddresses(t *testing.T) {
	c := config(t)
	facts := Facts{
		Addrs: []HeldAddr{
			{"eth0", pfx("192.168.10.5/24")},  // the configured management address, observed too
			{"eth2", pfx("192.168.40.7/24")},  // an address only the system shows
			{"eth1", pfx("fe80::1234/64")},    // link-local: not a network a range should lie in
			{"eth1", pfx("192.168.20.77/24")}, // a secondary address
		},
		Gateways:    []HeldAddr{{"eth0", pfx("192.168.10.1/32")}, {"eth2", pfx("192.168.40.1/32")}},
		Nameservers: []netip.Addr{addr("192.168.10.2"), addr("192.168.40.53")},
		ResolvConf:  "/run/systemd/resolve/resolv.conf",
	}
	for _, tc := range []struct {
		name  string
		rng   string
		addr  string
		names []string // in the message besides the address
		not   []string // must not be in the message
	}{
		{"workload gateway", "192.168.20.0/30", "192.168.20.1", []string{"the workload gateway", appliance.KeyWorkloadGateway}, nil},
		{"management gateway, configured and observed", "192.168.10.0/31", "192.168.10.1", []string{"the management gateway", appliance.KeyManagementGateway}, []string{"eth0"}},
		{"configured name server, also in resolv.conf", "192.168.10.2/32", "192.168.10.2", []string{"a name server", appliance.KeyNameservers}, []string{"resolv.conf"}},
		{"second configured name server", "192.168.10.3/32", "192.168.10.3", []string{appliance.KeyNameservers}, nil},
		{"own workload address", "192.168.20.4/30", "192.168.20.5", []string{"the appliance's workload address", appliance.KeyWorkloadIP}, nil},
		{"own management address, also observed", "192.168.10.4/30", "192.168.10.5", []string{"the appliance's management address", appliance.KeyManagementIP}, []string{"eth0"}},
		{"observed address", "192.168.40.4/30", "192.168.40.7", []string{"an address already held", "on eth2"}, nil},
		{"observed secondary address", "192.168.20.64/26", "192.168.20.77", []string{"an address already held", "on eth1"}, nil},
		{"observed default gateway", "192.168.40.0/31", "192.168.40.1", []string{"the current default gateway", "via eth2"}, nil},
		{"resolv.conf name server", "192.168.40.48/28", "192.168.40.53", []string{"a name server in use", "/run/systemd/resolve/resolv.conf"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := lines(tc.rng)
			errs, _ := split(Ranges(rs, rulesFor(c, facts)))
			if len(errs) != 1 {
				t.Fatalf("want exactly one error, got:\n%v", errs)
			}
			f := errs[0]
			if f.Where != rs[0].Where || f.Value != tc.rng {
				t.Errorf("finding at %s = %q, want %s = %q", f.Where, f.Value, rs[0].Where, tc.rng)
			}
			for _, s := range append([]string{tc.rng + " contains " + tc.addr}, tc.names...) {
				if !strings.Contains(f.Message, s) {
					t.Errorf("Message %q lacks %q", f.Message, s)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(f.Message, s) {
					t.Errorf("Message %q names %q: one address is reported once, naming the property", f.Message, s)
				}
			}
			if !strings.Contains(f.Hint, tc.addr) {
				t.Errorf("Hint %q does not name %s", f.Hint, tc.addr)
			}
		})
	}
}

func TestRulesForDefaultResolvConf(t *testing.T) {
	errs, _ := split(Ranges(wizard("172.16.0.0/24"), SystemRules(Facts{Nameservers: []netip.Addr{addr("172.16.0.53")}})))
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "/etc/resolv.conf") {
		t.Errorf("want one error naming /etc/resolv.conf, got:\n%v", errs)
	}
}

func TestRulesForAdditionalNetworks(t *testing.T) {
	c := config(t, appliance.KeyAdditionalNetworks, "10.10.0.0/16, 10.30.0.0/24")
	for _, tc := range []struct {
		name, rng, net string
	}{
		{"range inside a network", "10.10.8.0/24", "10.10.0.0/16"},
		{"network inside a range", "10.30.0.0/23", "10.30.0.0/24"},
		{"network equal to a range", "10.30.0.0/24", "10.30.0.0/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, _ := split(Ranges(wizard(tc.rng), rulesFor(c, Facts{})))
			if len(errs) != 1 {
				t.Fatalf("want one error, got:\n%v", errs)
			}
			if f := errs[0]; f.Value != tc.rng || !strings.Contains(f.Message, appliance.KeyAdditionalNetworks) || !strings.Contains(f.Hint, tc.net) {
				t.Errorf("finding %v: want it to name %s and %s", f, appliance.KeyAdditionalNetworks, tc.net)
			}
		})
	}
	if errs, _ := split(Ranges(wizard("10.11.0.0/24", "10.30.1.0/24"), rulesFor(c, Facts{}))); len(errs) != 0 {
		t.Errorf("ranges next to the networks: %v", errs)
	}
}

// A range of the workload subnet seen by the system is attached; a range
// elsewhere draws a warning, and link-local addresses attach nothing.
func TestRulesForAttachedFromFacts(t *testing.T) {
	facts := Facts{Addrs: []HeldAddr{{"eth1", pfx("192.168.20.5/24")}, {"eth1", pfx("fe80::1/64")}}}
	if fs := Ranges(wizard("192.168.20.128/26"), SystemRules(facts)); len(fs) != 0 {
		t.Errorf("range in an observed subnet: %v", fs)
	}
	_, warns := split(Ranges(wizard("192.168.99.0/24"), SystemRules(facts)))
	if len(warns) != 1 || !strings.Contains(warns[0].Message, "(192.168.20.0/24)") {
		t.Errorf("want one warning listing only 192.168.20.0/24, got:\n%v", warns)
	}
}

// Configured and observed, the workload subnet draws one broadcast warning,
// naming the property.
func TestAttachedConfiguredAndObservedWarnOnce(t *testing.T) {
	c := config(t, appliance.KeyServiceRanges, "192.168.20.192/26")
	facts := Facts{Addrs: []HeldAddr{{"eth1", pfx("192.168.20.5/24")}, {"eth0", pfx("192.168.10.5/24")}}}
	fs := Ranges(c.Ranges(), rulesFor(c, facts))
	if len(fs) != 1 || fs[0].Severity != finding.Warning || !strings.Contains(fs[0].Message, appliance.KeyWorkloadIP) {
		t.Errorf("want one warning naming %s, got:\n%v", appliance.KeyWorkloadIP, fs)
	}
}

// Everything wrong is reported in one pass.
func TestAllFindingsAtOnce(t *testing.T) {
	c := config(t, appliance.KeyServiceRanges, "172.16.10.70/26, 192.168.20.0/30, 10.10.4.0/24")
	errs, _ := split(Ranges(c.Ranges(), rulesFor(c, Facts{})))
	if len(errs) != 3 {
		t.Fatalf("want 3 errors, got %d:\n%v", len(errs), errs)
	}
	for i, want := range []string{"host bits", "192.168.20.1", "additional workload network"} {
		found := false
		for _, f := range errs {
			found = found || strings.Contains(f.Message, want)
		}
		if !found {
			t.Errorf("problem %d (%s) not reported:\n%v", i+1, want, errs)
		}
	}
}

func TestWizard(t *testing.T) {
	c := config(t, appliance.KeyServiceRanges, "192.168.20.128/26, 192.168.20.200/29")
	rs := c.Ranges()
	if len(rs) != 2 || rs[0].Prefix != pfx("192.168.20.128/26") || rs[1].Prefix != pfx("192.168.20.200/29") {
		t.Fatalf("Wizard = %v", rs)
	}
	for _, r := range rs {
		if r.Where != key {
			t.Errorf("Where = %q, want %q", r.Where, key)
		}
	}
}

func mkNIC(role, a, gw string) appliance.NIC {
	keys := map[string][2]string{
		"management": {appliance.KeyManagementIP, appliance.KeyManagementGateway},
		"workload":   {appliance.KeyWorkloadIP, appliance.KeyWorkloadGateway},
		"frontend":   {appliance.KeyFrontendIP, appliance.KeyFrontendGateway},
	}[role]
	n := appliance.NIC{Role: role, Key: keys[0], GatewayKey: keys[1]}
	if a != "" {
		n.Addr = pfx(a)
	}
	if gw != "" {
		n.Gateway = addr(gw)
	}
	return n
}

func TestAppliance(t *testing.T) {
	mgmt := mkNIC("management", "192.168.10.5/24", "192.168.10.1")
	wl := mkNIC("workload", "192.168.20.5/24", "192.168.20.1")
	ranges := []netip.Prefix{pfx("192.168.20.128/25")}
	type want struct {
		sev   finding.Severity
		where string
		msg   string
	}
	E, W := finding.Error, finding.Warning
	for _, c := range []struct {
		name   string
		nics   []appliance.NIC
		addnet []string
		ranges []netip.Prefix
		want   []want
	}{
		{"valid", []appliance.NIC{mgmt, wl}, []string{"10.10.0.0/16"}, ranges, nil},
		{"valid three NICs", []appliance.NIC{mgmt, wl, mkNIC("frontend", "192.168.30.5/24", "192.168.30.1")}, nil, []netip.Prefix{pfx("192.168.30.128/25")}, nil},
		{"valid IPv6 workload", []appliance.NIC{mgmt, mkNIC("workload", "2001:db8:20::5/64", "2001:db8:20::1")}, nil, ranges, nil},
		{"valid /31 point-to-point", []appliance.NIC{mkNIC("management", "192.168.10.0/31", "192.168.10.1"), wl}, nil, ranges, nil},
		{"all DHCP", []appliance.NIC{mkNIC("management", "", ""), mkNIC("workload", "", "")}, nil, ranges, nil},
		{"static IP is the network address", []appliance.NIC{mkNIC("management", "192.168.10.0/24", "192.168.10.1"), wl}, nil, ranges,
			[]want{{E, appliance.KeyManagementIP, "192.168.10.0 is the network address of 192.168.10.0/24"}}},
		{"static IP is the broadcast address", []appliance.NIC{mgmt, mkNIC("workload", "192.168.20.255/24", "192.168.20.1")}, nil, ranges,
			[]want{{E, appliance.KeyWorkloadIP, "192.168.20.255 is the broadcast address of 192.168.20.0/24"}}},
		{"static IP is loopback", []appliance.NIC{mkNIC("management", "127.0.0.5/8", ""), wl}, nil, ranges,
			[]want{{E, appliance.KeyManagementIP, "not a usable interface address"}}},
		{"static IP with prefix length 0", []appliance.NIC{mkNIC("management", "192.168.10.5/0", "192.168.10.1"), wl}, nil, ranges,
			[]want{{E, appliance.KeyManagementIP, "prefix length 0"}, {E, appliance.KeyWorkloadIP, "overlaps the management network 0.0.0.0/0"}}},
		{"gateway outside the subnet", []appliance.NIC{mkNIC("management", "192.168.10.5/24", "192.168.11.1"), wl}, nil, ranges,
			[]want{{E, appliance.KeyManagementGateway, "192.168.11.1 is outside the management subnet 192.168.10.0/24"}}},
		{"gateway outside a too-narrow subnet", []appliance.NIC{mgmt, mkNIC("workload", "192.168.20.5/30", "192.168.20.1")}, nil, ranges,
			[]want{{E, appliance.KeyWorkloadGateway, "outside the workload subnet 192.168.20.4/30"}}},
		{"gateway family mismatch", []appliance.NIC{mgmt, mkNIC("workload", "192.168.20.5/24", "2001:db8::1")}, nil, ranges,
			[]want{{E, appliance.KeyWorkloadGateway, "different IP versions"}}},
		{"gateway family mismatch, IPv6 NIC", []appliance.NIC{mgmt, mkNIC("workload", "2001:db8::5/64", "192.168.20.1")}, nil, ranges,
			[]want{{E, appliance.KeyWorkloadGateway, "different IP versions"}}},
		{"gateway is the own address", []appliance.NIC{mgmt, mkNIC("workload", "192.168.20.5/24", "192.168.20.5")}, nil, ranges,
			[]want{{E, appliance.KeyWorkloadGateway, "the appliance's own workload address"}}},
		{"no management gateway", []appliance.NIC{mkNIC("management", "192.168.10.5/24", ""), wl}, nil, ranges,
			[]want{{W, appliance.KeyManagementGateway, "no default gateway"}}},
		{"overlapping NIC subnets", []appliance.NIC{mgmt, mkNIC("workload", "192.168.10.6/24", "192.168.10.1")}, nil, ranges,
			[]want{{E, appliance.KeyWorkloadIP, "the workload network 192.168.10.0/24 overlaps the management network 192.168.10.0/24"}}},
		{"nested NIC subnets", []appliance.NIC{mgmt, wl, mkNIC("frontend", "192.168.20.130/25", "192.168.20.129")}, nil, ranges,
			[]want{{E, appliance.KeyFrontendIP, "the frontend network 192.168.20.128/25 overlaps the workload network 192.168.20.0/24"}}},
		{"gateway with a DHCP NIC", []appliance.NIC{mgmt, mkNIC("workload", "", "192.168.20.1")}, nil, ranges,
			[]want{{W, appliance.KeyWorkloadGateway, "is ignored"}}},
		{"additional networks without workload gateway", []appliance.NIC{mgmt, mkNIC("workload", "192.168.20.5/24", "")}, []string{"10.10.0.0/16"}, ranges,
			[]want{{E, appliance.KeyWorkloadGateway, "additional workload networks are reached through it"}}},
		{"additional networks with DHCP workload", []appliance.NIC{mgmt, mkNIC("workload", "", "")}, []string{"10.10.0.0/16"}, ranges, nil},
		{"additional networks, workload NIC missing from config", []appliance.NIC{mgmt}, []string{"10.10.0.0/16"}, ranges, nil},
		{"additional network with host bits", []appliance.NIC{mgmt, wl}, []string{"10.10.1.0/16"}, ranges,
			[]want{{E, appliance.KeyAdditionalNetworks, "host bits set"}}},
		{"empty service ranges", []appliance.NIC{mgmt, wl}, nil, nil,
			[]want{{W, appliance.KeyServiceRanges, "is empty"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := appliance.Config{NICs: c.nics, ServiceRanges: c.ranges}
			for _, s := range c.addnet {
				cfg.AdditionalNetworks = append(cfg.AdditionalNetworks, pfx(s))
			}
			fs := cfg.Check()
			if len(fs) != len(c.want) {
				t.Fatalf("want %d findings, got:\n%v", len(c.want), fs)
			}
			for i, w := range c.want {
				f := fs[i]
				if f.Severity != w.sev || f.Where != w.where || !strings.Contains(f.Message, w.msg) {
					t.Errorf("finding %d = %v\nwant %v at %s saying %q", i, f, w.sev, w.where, w.msg)
				}
				if f.Hint == "" {
					t.Errorf("finding without a hint: %v", f)
				}
			}
		})
	}
}

// Appliance reports every NIC problem at once.
func TestApplianceAllAtOnce(t *testing.T) {
	cfg := appliance.Config{NICs: []appliance.NIC{
		mkNIC("management", "192.168.10.0/24", "192.168.11.1"),
		mkNIC("workload", "192.168.20.255/24", "2001:db8::1"),
	}, ServiceRanges: []netip.Prefix{pfx("192.168.20.128/26")}}
	if n, _ := cfg.Check().Count(); n != 4 {
		t.Errorf("want 4 errors, got:\n%v", cfg.Check())
	}
}

// scale builds n disjoint /28 ranges (with a /28 gap after each) and m
// observed addresses, every third of which lies inside a range. It returns
// the number of addresses inside a range.
func scale(n, m int) ([]Range, Facts, int) {
	base := addr("10.0.0.0").As4()
	at := func(off uint32) netip.Addr {
		v := uint32(base[0])<<24 + off
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	rs := make([]Range, n)
	for i := range rs {
		rs[i] = Range{Prefix: netip.PrefixFrom(at(uint32(i)*32), 28), Where: fmt.Sprintf("/etc/vmware/anyip-routes.cfg:%d", i+1)}
	}
	var f Facts
	inside := 0
	for j := 0; j < m; j++ {
		r := (j * 7919) % n // spread over the ranges
		off := uint32(r)*32 + 1 + uint32(j%13)
		if j%3 == 0 {
			inside++
		} else {
			off += 16 // in the gap after range r
		}
		f.Addrs = append(f.Addrs, HeldAddr{Iface: fmt.Sprintf("eth%d", j%4), Prefix: netip.PrefixFrom(at(off), 8)})
	}
	return rs, f, inside
}

// errorCount is the number of errors fs stands for: those shown, and those
// a bounded list counts in its last one.
func errorCount(fs finding.List) int {
	n, _ := fs.Count()
	return n
}

func TestRangesAtScale(t *testing.T) {
	rs, facts, inside := scale(100_000, 10_000)
	fs := Ranges(rs, SystemRules(facts))
	if n := errorCount(fs); n != inside {
		t.Fatalf("want %d errors (one per held address inside a range), got %d", inside, n)
	}
	errs, _ := split(fs)
	if len(errs) != finding.DefaultMax+1 {
		t.Fatalf("%d errors kept, want %d and one that counts the rest", len(errs), finding.DefaultMax)
	}
	for _, f := range errs[:len(errs)-1] {
		if !strings.Contains(f.Message, "an address already held") || !strings.HasPrefix(f.Where, "/etc/vmware/anyip-routes.cfg:") {
			t.Fatalf("unexpected error: %v", f)
		}
	}
}

// One range repeated 300,000 times is one finding, and so is each thing
// wrong with it, not one per repeat.
func TestRepeatedRangeIsReportedOnce(t *testing.T) {
	rs := make([]Range, 300_000)
	for i := range rs {
		rs[i] = Range{Prefix: netip.MustParsePrefix("10.20.0.0/30"), Where: "loadbalance.service_ip_range"}
	}
	rules := Rules{Forbidden: []Point{{Addr: addr("10.20.0.1"), What: "the workload gateway", Where: "network.workload_gateway"}}}
	fs := Ranges(rs, rules)
	if len(fs) != 2 {
		t.Fatalf("%d findings, want 2:\n%v", len(fs), fs)
	}
	all := fs.Error()
	for _, w := range []string{"10.20.0.0/30 is listed 300000 times in loadbalance.service_ip_range (first as item 1)", "contains 10.20.0.1, the workload gateway"} {
		if !strings.Contains(all, w) {
			t.Errorf("findings lack %q:\n%s", w, all)
		}
	}
}

func BenchmarkRanges(b *testing.B) {
	rs, facts, inside := scale(100_000, 10_000)
	rules := SystemRules(facts)
	b.ReportAllocs()
	for b.Loop() {
		if n := errorCount(Ranges(rs, rules)); n != inside {
			b.Fatalf("%d errors, want %d", n, inside)
		}
	}
}

// For automation a collision names what the range collides with and where
// that is held as fields of the finding, not only inside its message.
func TestConflictFields(t *testing.T) {
	rules := Rules{
		Forbidden: []Point{{Addr: addr("10.20.0.1"), What: "the workload gateway", Where: appliance.KeyWorkloadGateway}},
		Avoid:     []Network{{Prefix: pfx("10.40.0.0/16"), What: "an additional workload network (backends)", Where: appliance.KeyAdditionalNetworks}},
	}
	fs := Ranges(append(wizard("10.20.0.0/28", "10.40.1.0/24"), Range{Prefix: pfx("10.20.0.8/29"), Where: "/etc/vmware/anyip-routes.cfg:3"}), rules)
	got := map[string]string{}
	for _, f := range fs {
		got[f.Value+" "+f.Message[:12]] = f.Conflict + " @ " + f.ConflictWhere
	}
	for k, want := range map[string]string{
		"10.20.0.0/28 10.20.0.0/28": "10.20.0.1 @ network.workload_gateway",
		"10.40.1.0/24 10.40.1.0/24": "10.40.0.0/16 @ network.additional_workload_networks",
		"10.20.0.8/29 10.20.0.8/29": "10.20.0.0/28 @ loadbalance.service_ip_range",
	} {
		if got[k] != want {
			t.Errorf("%s: conflict %q, want %q (all: %v)", k, got[k], want, got)
		}
	}
	b, err := json.Marshal(fs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"conflict":"`) || !strings.Contains(string(b), `"conflict_where":"`) {
		t.Errorf("JSON %s", b)
	}
}

// With the Frontend Network option, a VIP range inside the workload or the
// management subnet draws a warning naming that network; one in the
// frontend subnet, or any range of a 2-NIC appliance, does not.
func TestVIPsOnTheWrongNetwork(t *testing.T) {
	three := []string{appliance.KeyFrontendIP, "192.168.30.5/24", appliance.KeyFrontendGateway, "192.168.30.1"}
	for _, c := range []struct {
		name string
		kv   []string
		want string
	}{
		{"frontend option, range in the workload network", append(three, appliance.KeyServiceRanges, "192.168.20.128/26"), "lies in the workload network 192.168.20.0/24 (network.workload_ip)"},
		{"frontend option, range in the management network", append(three, appliance.KeyServiceRanges, "192.168.10.128/26"), "lies in the management network 192.168.10.0/24"},
		{"frontend option, range in the frontend network", append(three, appliance.KeyServiceRanges, "192.168.30.128/26"), ""},
		{"two NICs, range in the workload network", []string{appliance.KeyServiceRanges, "192.168.20.128/26"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, f := range config(t, c.kv...).Check() {
				if strings.Contains(f.Message, "belong on the frontend network") {
					got = append(got, f.Message)
				}
			}
			switch {
			case c.want == "" && len(got) != 0:
				t.Errorf("unexpected warning: %q", got)
			case c.want != "" && (len(got) != 1 || !strings.Contains(got[0], c.want)):
				t.Errorf("warnings %q, want one with %q", got, c.want)
			}
		})
	}
}

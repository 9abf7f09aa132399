package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestStatusLine(t *testing.T) {
	p := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/28"), netip.MustParsePrefix("10.0.0.16/28")}
	five := append(slices.Clone(p), netip.MustParsePrefix("10.0.0.32/28"), netip.MustParsePrefix("10.0.0.48/28"), netip.MustParsePrefix("10.0.0.64/28"))
	cfg := "/etc/vmware/anyip-routes.cfg"
	for _, tc := range []struct {
		name string
		s    service
		want string
	}{
		{"never applied", service{fileErr: cfg + `:2 = "x": is not a CIDR`},
			"no ranges applied yet (the routes stay as they were); last error: " + cfg + `:2 = "x": is not a CIDR`},
		{"in sync", service{desired: p, applied: true, tableKnown: true, inPlace: 2},
			"2 ranges in place from " + cfg},
		{"one range", service{desired: p[:1], applied: true, tableKnown: true, inPlace: 1},
			"1 range in place from " + cfg},
		{"file rejected", service{desired: p, applied: true, tableKnown: true, inPlace: 2, fileErr: cfg + ": the ranges file does not exist"},
			"2 ranges in place from the last good version of " + cfg + "; last error: " + cfg + ": the ranges file does not exist"},
		{"a range refused", service{desired: five, applied: true, tableKnown: true, inPlace: 4,
			missing: []string{"10.0.0.32/28: file exists"}, nMissing: 1, routeErr: "1 of 5 route changes failed: add local 10.0.0.32/28 dev lo: file exists"},
			"4 of 5 ranges in place from " + cfg + "; 10.0.0.32/28: file exists"},
		{"no permission", service{desired: p, applied: true, tableKnown: true, inPlace: 0,
			missing: []string{"10.0.0.0/28: operation not permitted", "10.0.0.16/28: operation not permitted"}, nMissing: 2},
			"0 of 2 ranges in place from " + cfg + "; 10.0.0.0/28: operation not permitted; 10.0.0.16/28: operation not permitted"},
		{"many refused", service{desired: five, applied: true, tableKnown: true, inPlace: 0,
			missing: []string{"a: x", "b: x", "c: x"}, nMissing: 5},
			"0 of 5 ranges in place from " + cfg + "; a: x; b: x; c: x; and 2 more"},
		{"not removed", service{desired: p, applied: true, tableKnown: true, inPlace: 2, stuck: []string{"10.9.0.0/28: operation not permitted"}, nStuck: 1},
			"2 ranges in place from " + cfg + "; not removed: 10.9.0.0/28: operation not permitted"},
		{"table unreadable", service{desired: p, applied: true, routeErr: "routes: list IPv4 table local: permission denied"},
			"2 ranges wanted from " + cfg + "; the routing table could not be read; last error: routes: list IPv4 table local: permission denied"},
		{"waiting for the lock", service{desired: p, applied: true, tableKnown: true, inPlace: 2, routeErr: "another anyip run holds the lock"},
			"2 ranges in place from " + cfg + "; last error: another anyip run holds the lock"},
	} {
		tc.s.o.config = cfg
		if got := tc.s.status(); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
		if strings.Contains(tc.s.status(), "\n") {
			t.Errorf("%s: status spans lines", tc.name)
		}
	}
}

package main

import (
	"net/netip"
	"strings"
	"testing"
)

func TestStatusLine(t *testing.T) {
	p := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/28"), netip.MustParsePrefix("10.0.0.16/28")}
	cfg := "/etc/vmware/anyip-routes.cfg"
	for _, tc := range []struct {
		name string
		s    service
		want string
	}{
		{"never applied", service{fileErr: cfg + `:2 = "x": is not a CIDR`},
			"no ranges applied yet (the routes stay as they were); last error: " + cfg + `:2 = "x": is not a CIDR`},
		{"in sync", service{desired: p, applied: true},
			"2 ranges in place from " + cfg},
		{"one range", service{desired: p[:1], applied: true},
			"1 range in place from " + cfg},
		{"file rejected", service{desired: p, applied: true, fileErr: cfg + ": the ranges file does not exist"},
			"2 ranges in place from the last good version of " + cfg + "; last error: " + cfg + ": the ranges file does not exist"},
		{"netlink failed", service{desired: p, applied: true, routeErr: "1 of 2 route changes failed"},
			"2 ranges in place from " + cfg + "; last error: 1 of 2 route changes failed"},
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

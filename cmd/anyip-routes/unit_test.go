package main

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/routes"
)

func TestChangesOfLeavesOutFailures(t *testing.T) {
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	plan := routes.Plan{
		Add:    []netip.Prefix{p("10.0.0.0/28"), p("10.0.0.16/28")},
		Adopt:  []netip.Prefix{p("10.0.1.0/28")},
		Delete: []netip.Prefix{p("10.0.2.0/28")},
		Keep:   []netip.Prefix{p("10.0.3.0/28")},
	}
	res := routes.Result{Added: 1, Adopted: 1, Deleted: 1, Failures: []routes.Failure{
		{Op: "add", Prefix: p("10.0.0.16/28"), Err: errors.New("EEXIST")},
	}}
	got := changesOf(plan, res)
	want := changes{
		list:  []change{{"adopted", p("10.0.1.0/28")}, {"added", p("10.0.0.0/28")}, {"removed", p("10.0.2.0/28")}},
		added: 1, adopted: 1, removed: 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changesOf = %+v, want %+v", got, want)
	}
	if got.summary() != "1 added, 1 adopted, 1 removed" {
		t.Errorf("summary = %q", got.summary())
	}
	if !changesOf(routes.Plan{Keep: plan.Keep}, routes.Result{}).empty() {
		t.Error("a plan with only kept ranges has changes")
	}
}

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

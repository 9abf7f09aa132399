package routes

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestChangesOfLeavesOutFailures(t *testing.T) {
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	plan := Plan{
		Add:    []netip.Prefix{p("10.0.0.0/28"), p("10.0.0.16/28")},
		Adopt:  []netip.Prefix{p("10.0.1.0/28")},
		Delete: []netip.Prefix{p("10.0.2.0/28")},
		Keep:   []netip.Prefix{p("10.0.3.0/28")},
	}
	res := Result{Added: 1, Adopted: 1, Deleted: 1, Failures: []Failure{
		{Op: "add", Prefix: p("10.0.0.16/28"), Err: errors.New("EEXIST")},
	}}
	got := ChangesOf(plan, res)
	want := Changes{
		List:  []Change{{"adopted", p("10.0.1.0/28")}, {"added", p("10.0.0.0/28")}, {"removed", p("10.0.2.0/28")}},
		Added: 1, Adopted: 1, Removed: 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ChangesOf = %+v, want %+v", got, want)
	}
	if got.Summary() != "1 added, 1 adopted, 1 removed" {
		t.Errorf("summary = %q", got.Summary())
	}
	if !ChangesOf(Plan{Keep: plan.Keep}, Result{}).Empty() {
		t.Error("a plan with only kept ranges has changes")
	}
}

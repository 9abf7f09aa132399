package routes

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/anyip/anyip/internal/rtnl"
)

func pfxs(ss ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

func route(s string, proto uint8) Route {
	return Route{Prefix: netip.MustParsePrefix(s), Protocol: proto}
}

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		desired []netip.Prefix
		cur     Current
		want    Plan
	}{
		{
			name: "nothing",
		},
		{
			name:    "empty table: add everything, sorted, IPv4 first",
			desired: pfxs("2001:db8:1::/64", "10.0.1.0/24", "10.0.0.0/24", "10.0.0.0/16"),
			want:    Plan{Add: pfxs("10.0.0.0/16", "10.0.0.0/24", "10.0.1.0/24", "2001:db8:1::/64")},
		},
		{
			name:    "in sync: keep",
			desired: pfxs("10.0.0.0/24", "2001:db8:1::/64"),
			cur:     Current{Ours: pfxs("2001:db8:1::/64", "10.0.0.0/24")},
			want:    Plan{Keep: pfxs("10.0.0.0/24", "2001:db8:1::/64")},
		},
		{
			name: "nothing desired: delete ours, never foreign",
			cur: Current{
				Ours:    pfxs("10.0.0.0/24", "2001:db8:1::/64"),
				Foreign: []Route{route("10.1.0.0/24", protoBoot), route("127.0.0.1/32", protoKernel), route("10.2.0.0/24", protoStatic)},
			},
			want: Plan{Delete: pfxs("10.0.0.0/24", "2001:db8:1::/64")},
		},
		{
			name:    "add, keep and delete together",
			desired: pfxs("10.0.1.0/24", "10.0.2.0/24"),
			cur:     Current{Ours: pfxs("10.0.0.0/24", "10.0.1.0/24")},
			want:    Plan{Add: pfxs("10.0.2.0/24"), Delete: pfxs("10.0.0.0/24"), Keep: pfxs("10.0.1.0/24")},
		},
		{
			name:    "same address, other length, is another range",
			desired: pfxs("10.0.0.0/25"),
			cur:     Current{Ours: pfxs("10.0.0.0/24")},
			want:    Plan{Add: pfxs("10.0.0.0/25"), Delete: pfxs("10.0.0.0/24")},
		},
		{
			name:    "desired with proto boot or static or other: adopt",
			desired: pfxs("10.1.0.0/24", "10.2.0.0/24", "2001:db8:2::/64", "10.3.0.0/24"),
			cur: Current{Foreign: []Route{
				route("10.1.0.0/24", protoBoot), route("10.2.0.0/24", protoStatic),
				route("2001:db8:2::/64", protoBoot), route("10.3.0.0/24", 16),
			}},
			want: Plan{Adopt: pfxs("10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24", "2001:db8:2::/64")},
		},
		{
			name:    "desired with proto kernel: satisfied, not adopted",
			desired: pfxs("127.0.0.0/8", "10.9.9.9/32", "::1/128"),
			cur: Current{Foreign: []Route{
				route("127.0.0.0/8", protoKernel), route("10.9.9.9/32", protoKernel), route("::1/128", protoKernel),
			}},
			want: Plan{Kernel: pfxs("10.9.9.9/32", "127.0.0.0/8", "::1/128")},
		},
		{
			name:    "kernel and boot on the same prefix: the kernel's wins, nothing adopted",
			desired: pfxs("10.9.9.9/32"),
			cur:     Current{Foreign: []Route{route("10.9.9.9/32", protoBoot), route("10.9.9.9/32", protoKernel)}},
			want:    Plan{Kernel: pfxs("10.9.9.9/32")},
		},
		{
			name:    "ours and foreign on the same prefix, desired: keep ours, leave the foreign one",
			desired: pfxs("10.1.0.0/24"),
			cur:     Current{Ours: pfxs("10.1.0.0/24"), Foreign: []Route{route("10.1.0.0/24", protoBoot)}},
			want:    Plan{Keep: pfxs("10.1.0.0/24")},
		},
		{
			name: "ours and foreign on the same prefix, not desired: delete ours only",
			cur:  Current{Ours: pfxs("10.1.0.0/24"), Foreign: []Route{route("10.1.0.0/24", protoBoot)}},
			want: Plan{Delete: pfxs("10.1.0.0/24")},
		},
		{
			name: "foreign and not desired: not our business",
			cur:  Current{Foreign: []Route{route("10.1.0.0/24", protoBoot), route("10.2.0.0/24", protoStatic)}},
			want: Plan{},
		},
		{
			name:    "duplicates count once",
			desired: pfxs("10.0.0.0/24", "10.0.0.0/24", "10.1.0.0/24", "10.1.0.0/24"),
			cur:     Current{Ours: pfxs("10.1.0.0/24", "10.2.0.0/24", "10.2.0.0/24")},
			want:    Plan{Add: pfxs("10.0.0.0/24"), Delete: pfxs("10.2.0.0/24"), Keep: pfxs("10.1.0.0/24")},
		},
		{
			name:    "unmasked desired is taken masked",
			desired: pfxs("10.0.0.77/24", "2001:db8:1::5/64"),
			cur:     Current{Ours: pfxs("10.0.0.0/24")},
			want:    Plan{Add: pfxs("2001:db8:1::/64"), Keep: pfxs("10.0.0.0/24")},
		},
		{
			name:    "IPv4 and IPv6 of the same bits are different ranges",
			desired: pfxs("::ffff:10.0.0.0/120"),
			cur:     Current{Ours: pfxs("10.0.0.0/24")},
			want:    Plan{Add: pfxs("::ffff:10.0.0.0/120"), Delete: pfxs("10.0.0.0/24")},
		},
		{
			name:    "an invalid prefix is planned as an add, for Apply to report",
			desired: []netip.Prefix{{}, netip.MustParsePrefix("10.0.0.0/24")},
			want:    Plan{Add: []netip.Prefix{{}, netip.MustParsePrefix("10.0.0.0/24")}},
		},
		{
			name:    "default routes",
			desired: pfxs("0.0.0.0/0"),
			cur:     Current{Ours: pfxs("::/0")},
			want:    Plan{Add: pfxs("0.0.0.0/0"), Delete: pfxs("::/0")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := Current{Ours: append([]netip.Prefix(nil), tc.cur.Ours...), Foreign: append([]Route(nil), tc.cur.Foreign...)}
			got := Diff(tc.desired, tc.cur)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Diff(%v, %+v)\n got %+v\nwant %+v", tc.desired, tc.cur, got, tc.want)
			}
			if !reflect.DeepEqual(cur, tc.cur) {
				t.Errorf("Diff modified its input: %+v, was %+v", tc.cur, cur)
			}
			// Deterministic: the same inputs in another order give the same plan.
			rev := append([]netip.Prefix(nil), tc.desired...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			if again := Diff(rev, tc.cur); !reflect.DeepEqual(again, got) {
				t.Errorf("Diff depends on input order: %+v vs %+v", again, got)
			}
		})
	}
}

func TestPlanEmpty(t *testing.T) {
	for _, tc := range []struct {
		plan Plan
		want bool
	}{
		{Plan{}, true},
		{Plan{Keep: pfxs("10.0.0.0/24"), Kernel: pfxs("127.0.0.0/8")}, true},
		{Plan{Add: pfxs("10.0.0.0/24")}, false},
		{Plan{Adopt: pfxs("10.0.0.0/24")}, false},
		{Plan{Delete: pfxs("10.0.0.0/24")}, false},
	} {
		if got := tc.plan.Empty(); got != tc.want {
			t.Errorf("%+v.Empty() = %v, want %v", tc.plan, got, tc.want)
		}
	}
}

func TestApplyErrorMessage(t *testing.T) {
	f := Failure{Op: "add", Prefix: netip.MustParsePrefix("10.0.0.0/24"), Err: syscall.EEXIST}
	if got, want := f.Error(), "add local 10.0.0.0/24 dev lo: file exists"; got != want {
		t.Errorf("Failure.Error() = %q, want %q", got, want)
	}

	e := &ApplyError{Total: 20}
	for i := range 12 {
		e.Failures = append(e.Failures, Failure{Op: "delete", Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 0}), 24), Err: syscall.EPERM})
	}
	e.Failures[3].Err = &rtnl.Error{Errno: syscall.EINVAL, Msg: "Invalid prefix for given prefix length"}
	msg := e.Error()
	for _, want := range []string{
		"12 of 20 route changes failed: ",
		"delete local 10.0.0.0/24 dev lo: operation not permitted; delete local 10.0.1.0/24",
		"delete local 10.0.3.0/24 dev lo: invalid argument (Invalid prefix for given prefix length)",
		"delete local 10.0.9.0/24 dev lo: operation not permitted; and 2 more",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("ApplyError message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "10.0.10.0/24") {
		t.Errorf("ApplyError message lists more than %d failures:\n%s", maxListed, msg)
	}
	if !errors.Is(e, syscall.EPERM) || !errors.Is(e, syscall.EINVAL) || errors.Is(e, syscall.EEXIST) {
		t.Error("errors.Is does not see the errnos of the failures")
	}
	var got Failure
	if !errors.As(e, &got) || got.Prefix != e.Failures[0].Prefix {
		t.Errorf("errors.As(Failure) = %v", got)
	}
}

func TestRouteString(t *testing.T) {
	for _, tc := range []struct {
		r    Route
		want string
	}{
		{route("10.0.0.0/24", protoBoot), "local 10.0.0.0/24 dev lo proto boot"},
		{Route{Prefix: netip.MustParsePrefix("2001:db8::/64"), Protocol: protoStatic, Metric: 1024}, "local 2001:db8::/64 dev lo proto static metric 1024"},
		{route("10.0.0.0/24", Protocol), "local 10.0.0.0/24 dev lo proto " + ProtocolName},
		{route("10.0.0.0/24", 99), "local 10.0.0.0/24 dev lo proto 99"},
	} {
		if got := fmt.Sprint(tc.r); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

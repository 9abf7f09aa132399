// Package routes keeps the AnyIP routes of the kernel in step with a list of
// desired ranges.
//
// An AnyIP range is a route of type local, in table local, on the loopback
// device:
//
//	ip route add local 192.168.20.128/25 dev lo table local scope host proto anyip
//
// Every route this package installs carries one route protocol number of its
// own, Protocol. That tag is the whole ownership model: a route on lo with
// our protocol is ours to add and delete; anything else (kernel routes of
// interface addresses, routes the old shell service left with proto boot or
// static, routes in other tables or on other devices) is never deleted or
// changed, with one exception: a desired range that is present with a
// foreign, non-kernel protocol is adopted, that is, ours is added with the
// same metric and that one route is deleted by its whole key (table local,
// type local, dev lo, its protocol and metric), both in one request to the
// kernel, so the range is left with one route on lo. Never by "replace":
// the kernel replaces the first route with the prefix and metric, whatever
// its device, type or protocol.
//
// The pure core is Diff (desired ranges + what the kernel holds -> Plan);
// Table does the netlink I/O (List, Apply, Reconcile, Down).
package routes

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Protocol is the route protocol (RTPROT_*) number that marks a route as
// installed by anyip. It must not be one the kernel or common routing daemons
// use; iproute2 prints it by name once rt_protos.d maps it (see
// ProtocolName).
const Protocol = 241

// ProtocolName is the name `ip route` shows for Protocol, given the line
// "241 anyip" in /etc/iproute2/rt_protos.d/anyip.conf.
const ProtocolName = "anyip"

// Route protocols with a meaning to Diff or worth naming in messages.
const (
	protoKernel = 2 // RTPROT_KERNEL: the kernel's own (addresses, lo's 127/8)
	protoBoot   = 3 // RTPROT_BOOT: `ip route add` without proto
	protoStatic = 4 // RTPROT_STATIC
)

// ProtoKernel is the protocol of the routes the kernel adds itself (one
// for each local address).
const ProtoKernel = protoKernel

// Route is a local route on lo in table local that someone else installed.
type Route struct {
	Prefix   netip.Prefix
	Protocol uint8 // RTPROT_* number: 2 kernel, 3 boot, 4 static, ...
	// Metric is the route's priority. Ours takes the metric of the route
	// it adopts, so the kernel prefers it exactly as it did the old one.
	Metric uint32
}

func (r Route) String() string {
	s := "local " + r.Prefix.String() + " dev lo proto " + ProtoString(r.Protocol)
	if r.Metric != 0 {
		s += " metric " + strconv.FormatUint(uint64(r.Metric), 10)
	}
	return s
}

// ProtoString names a route protocol number the way iproute2 does for the
// common ones, and falls back to the number.
func ProtoString(p uint8) string {
	switch p {
	case protoKernel:
		return "kernel"
	case protoBoot:
		return "boot"
	case protoStatic:
		return "static"
	case 16:
		return "dhcp"
	case Protocol:
		return ProtocolName
	}
	return strconv.Itoa(int(p))
}

// Current is what table local holds on lo, split by owner.
type Current struct {
	// Ours are the prefixes of routes with our protocol.
	Ours []netip.Prefix
	// Foreign are the other local routes on lo in table local (kernel,
	// boot, static, ...).
	Foreign []Route
}

// Plan is what Reconcile will do to make the table match the desired ranges.
// Every list is sorted (IPv4 before IPv6, then by address and length).
type Plan struct {
	// Add: desired, no route on lo for it.
	Add []netip.Prefix
	// Adopt: desired and present on lo with a foreign protocol other than
	// kernel (left by the old shell service, or by hand): ours is added
	// with its metric and that route removed, in one request.
	Adopt []netip.Prefix
	// Delete: ours, no longer desired.
	Delete []netip.Prefix
	// Keep: desired and already ours.
	Keep []netip.Prefix
	// Kernel: desired and present on lo as a kernel route (an address on
	// lo). Satisfied as it is; never adopted, never deleted.
	Kernel []netip.Prefix
}

// Empty reports whether applying the plan would change nothing.
func (p Plan) Empty() bool {
	return len(p.Add) == 0 && len(p.Adopt) == 0 && len(p.Delete) == 0
}

func (p Plan) String() string {
	return fmt.Sprintf("add %d, adopt %d, delete %d, keep %d, kernel %d",
		len(p.Add), len(p.Adopt), len(p.Delete), len(p.Keep), len(p.Kernel))
}

// Diff compares the desired ranges with what the table holds. It is a pure
// function: the same inputs give the same Plan, in sorted order. Duplicate
// desired ranges count once; a range given unmasked (10.0.0.1/24) is taken
// as its masked form (10.0.0.0/24), which is how the kernel stores it.
//
// It sorts copies of its inputs and walks them side by side, which is
// cheaper than hashing for the common case of a large table already in sync
// (the dump arrives sorted, and so does a tidy config file).
func Diff(desired []netip.Prefix, cur Current) Plan {
	want := make([]netip.Prefix, len(desired))
	for i, p := range desired {
		want[i] = p.Masked()
	}
	want = slices.Compact(sortPrefixes(want))
	ours := slices.Compact(sortPrefixes(slices.Clone(cur.Ours))) // the kernel may hold a prefix of ours twice
	foreign := slices.SortedFunc(slices.Values(cur.Foreign), func(a, b Route) int { return comparePrefix(a.Prefix, b.Prefix) })

	plan := Plan{Keep: make([]netip.Prefix, 0, min(len(want), len(ours)))}
	o, f := 0, 0
	for _, p := range want {
		for ; o < len(ours) && comparePrefix(ours[o], p) < 0; o++ {
			plan.Delete = append(plan.Delete, ours[o])
		}
		isOurs := o < len(ours) && ours[o] == p
		if isOurs {
			o++
		}
		for f < len(foreign) && comparePrefix(foreign[f].Prefix, p) < 0 {
			f++
		}
		kernel, other := false, false
		for ; f < len(foreign) && foreign[f].Prefix == p; f++ {
			if foreign[f].Protocol == protoKernel {
				kernel = true
			} else {
				other = true
			}
		}
		switch {
		case isOurs:
			plan.Keep = append(plan.Keep, p)
		case kernel:
			plan.Kernel = append(plan.Kernel, p)
		case other:
			plan.Adopt = append(plan.Adopt, p)
		default:
			plan.Add = append(plan.Add, p)
		}
	}
	plan.Delete = append(plan.Delete, ours[o:]...)
	if len(plan.Keep) == 0 {
		plan.Keep = nil
	}
	return plan
}

// comparePrefix orders masked prefixes: IPv4 before IPv6, then by address,
// then by length. (netip.Prefix.Compare gives the same order, but masks
// both prefixes on every call.)
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

func sortPrefixes(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, comparePrefix)
	return ps
}

// Result is what Apply did.
type Result struct {
	Added, Adopted, Deleted int
	// Failures are the changes that did not happen, in plan order.
	Failures []Failure
}

// Failure is one route change that failed.
type Failure struct {
	Op     string // "add", "adopt" or "delete"
	Prefix netip.Prefix
	Err    error // wraps the errno: errors.Is(f, unix.EEXIST) works
}

func (f Failure) Error() string {
	return fmt.Sprintf("%s local %s dev lo: %v", f.Op, f.Prefix, f.Err)
}

func (f Failure) Unwrap() error { return f.Err }

// ApplyError reports the route changes of a plan that failed. The others
// were applied: Apply is best effort over the whole plan.
type ApplyError struct {
	Failures []Failure
	Total    int // changes attempted
}

// maxListed bounds how many failures the message spells out; all of them
// are in Failures.
const maxListed = 10

func (e *ApplyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d route changes failed: ", len(e.Failures), e.Total)
	for i, f := range e.Failures {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more", len(e.Failures)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

// Unwrap gives the individual failures to errors.Is and errors.As.
func (e *ApplyError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f
	}
	return errs
}

// errInvalidPrefix is the failure of a zero or otherwise invalid prefix.
var errInvalidPrefix = errors.New("invalid prefix")

package check

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/ipx"
	"github.com/anyip/anyip/internal/onlink"
	"github.com/anyip/anyip/internal/validate"
)

// OnLink says, per NIC, which ranges the link reaches directly: IPv6
// ranges the responder of `anyip-routes watch` answers neighbour
// solicitations for, IPv4 ranges the kernel answers ARP for (both
// announced by the service). The rule is the service's own
// (onlink.Assign): the NIC whose subnet holds the whole range. A range on
// no NIC's subnet is reached only through a router that routes it here.
func OnLink(ranges []netip.Prefix, facts validate.Facts) Result {
	r := Result{Name: NameOnLink}
	if len(ranges) == 0 {
		r.Status, r.Summary = Skip, "no ranges"
		return r
	}
	plan := onlink.Assign(ranges, facts)
	for _, sv := range plan.V6 {
		r.Details = append(r.Details, fmt.Sprintf("%s (%s): %s: neighbour solicitations answered by anyip-routes watch",
			sv.Iface, ipx.FormatPrefixes(sv.Subnets), ipx.FormatPrefixes(sv.Ranges)))
	}
	for _, sv := range plan.V4 {
		r.Details = append(r.Details, fmt.Sprintf("%s (%s): %s: ARP answered by the kernel",
			sv.Iface, ipx.FormatPrefixes(sv.Subnets), ipx.FormatPrefixes(sv.Ranges)))
	}
	for _, p := range plan.Unserved {
		r.Details = append(r.Details, fmt.Sprintf("%s: on no interface's subnet: reached only if the router routes it to this appliance", p))
	}
	served := len(ranges) - len(plan.Unserved)
	nics := map[string]bool{}
	for _, sv := range append(plan.V6[:len(plan.V6):len(plan.V6)], plan.V4...) {
		nics[sv.Iface] = true
	}
	r.Status = Pass
	var b strings.Builder
	fmt.Fprintf(&b, "%s of %d on the link of %s", cli.Plural(served, "range"), len(ranges), cli.Plural(len(nics), "interface"))
	if len(plan.Unserved) > 0 {
		fmt.Fprintf(&b, "; %d behind a router", len(plan.Unserved))
	}
	r.Summary = b.String()
	return r
}

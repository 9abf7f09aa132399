package upgrade

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/netconf"
)

// OldRules removes the policy rules routetablectl.sh made (from a NIC's
// subnet, or to an additional workload network, into table 2 or 3) once a
// rule of ours sends traffic to the same table: ours come first (lower
// priority numbers), so the replies never lack a path. A table without a
// rule of ours keeps its old rules, counted in left. Rules of other tables
// and ours (priorities netconf.PriorityFirst..PriorityLast) are never
// touched. With remove false nothing is removed: removed counts what would
// be.
func OldRules(remove bool) (removed, left int, err error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return 0, 0, err
	}
	defer h.Close()
	for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
		rules, err := h.RuleList(family)
		if err != nil {
			return removed, left, fmt.Errorf("list the policy rules: %w", err)
		}
		covered := map[int]bool{}
		for _, r := range rules {
			if ours(r) {
				covered[r.Table] = true
			}
		}
		for _, r := range rules {
			if ours(r) || (r.Table != netconf.TableWorkload && r.Table != netconf.TableFrontend) {
				continue
			}
			if !covered[r.Table] {
				left++
				continue
			}
			r := r
			if !remove {
				removed++
				continue
			}
			if err := h.RuleDel(&r); err != nil {
				return removed, left, fmt.Errorf("remove the old rule %v: %w", r, err)
			}
			removed++
		}
	}
	return removed, left, nil
}

func ours(r netlink.Rule) bool {
	return r.Priority >= netconf.PriorityFirst && r.Priority <= netconf.PriorityLast
}

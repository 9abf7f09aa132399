package validate

import (
	"net/netip"
	"testing"

	"github.com/anyip/anyip/internal/finding"
)

// A range listed twice in one property says so, with both items; the
// network and broadcast warnings name the address and its key as fields.
func TestRepeatsAndSubnetEdges(t *testing.T) {
	const key = "loadbalance.service_ip_range"
	r := func(p string) Range { return Range{Prefix: netip.MustParsePrefix(p), Where: key} }
	rules := Rules{Attached: []Network{{Prefix: netip.MustParsePrefix("10.20.0.5/24"), What: "the workload network", Where: "network.workload_ip"}}}
	for _, c := range []struct {
		name string
		rs   []Range
		want []finding.Finding
	}{
		{"twice", []Range{r("10.20.0.128/26"), r("10.20.0.64/26"), r("10.20.0.128/26")}, []finding.Finding{{
			Severity: finding.Warning, Where: key, Value: "10.20.0.128/26", Hint: "delete one of them",
			Message:  "10.20.0.128/26 is listed twice in loadbalance.service_ip_range (items 1 and 3)",
			Conflict: "10.20.0.128/26", ConflictWhere: key}}},
		{"twice, typed apart", []Range{r("10.20.0.64/26"), r("10.20.0.65/26")}, []finding.Finding{{
			Severity: finding.Warning, Where: key, Value: "10.20.0.65/26", Hint: "delete one of them",
			Message:  "10.20.0.64/26 is listed twice in loadbalance.service_ip_range (items 1 and 2, as 10.20.0.64/26 and 10.20.0.65/26)",
			Conflict: "10.20.0.64/26", ConflictWhere: key}}},
		{"three times", []Range{r("10.20.0.64/26"), r("10.20.0.64/26"), r("10.20.0.64/26")}, []finding.Finding{{
			Severity: finding.Warning, Where: key, Value: "10.20.0.64/26", Hint: "list each range once",
			Message:  "10.20.0.64/26 is listed 3 times in loadbalance.service_ip_range (first as item 1)",
			Conflict: "10.20.0.64/26", ConflictWhere: key}}},
		{"network address", []Range{r("10.20.0.0/28")}, []finding.Finding{{
			Severity: finding.Warning, Where: key, Value: "10.20.0.0/28", Hint: "leave 10.20.0.0 out of the range",
			Message:  "10.20.0.0/28 includes 10.20.0.0, the network address of 10.20.0.0/24 (network.workload_ip)",
			Conflict: "10.20.0.0", ConflictWhere: "network.workload_ip"}}},
		{"broadcast address", []Range{r("10.20.0.240/28")}, []finding.Finding{{
			Severity: finding.Warning, Where: key, Value: "10.20.0.240/28", Hint: "leave 10.20.0.255 out of the range",
			Message:  "10.20.0.240/28 includes 10.20.0.255, the broadcast address of 10.20.0.0/24 (network.workload_ip)",
			Conflict: "10.20.0.255", ConflictWhere: "network.workload_ip"}}},
	} {
		var got []finding.Finding
		for _, f := range Ranges(c.rs, rules) {
			if f.Severity == finding.Warning {
				got = append(got, f)
			}
		}
		if len(got) != len(c.want) || (len(got) == 1 && got[0] != c.want[0]) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.name, got, c.want)
		}
	}
}

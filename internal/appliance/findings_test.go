package appliance

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/validate"
)

func checked(kv ...string) finding.List {
	c, _, fs := FromProperties(with(kv...))
	return append(fs, c.Check()...)
}

func matching(fs finding.List, substr string) finding.List {
	var out finding.List
	for _, f := range fs {
		if strings.Contains(f.Message, substr) {
			out = append(out, f)
		}
	}
	return out
}

// A range in the management network is on the wrong network with either
// deployment option, and the finding says where it belongs for the option
// in use and names the network as its conflict.
func TestRangeInTheManagementNetwork(t *testing.T) {
	frontend := []string{KeyFrontendIP, "192.168.30.5/24", KeyFrontendGateway, "192.168.30.1"}
	for _, c := range []struct {
		name string
		kv   []string
		want finding.Finding
	}{
		{"default option", []string{KeyServiceRanges, "192.168.10.128/26"}, finding.Finding{
			Severity: finding.Warning, Where: KeyServiceRanges, Value: "192.168.10.128/26",
			Message: "192.168.10.128/26 lies in the management network 192.168.10.0/24 (network.management_ip): VIPs never belong on the management network; with the Default option they belong on the workload network",
			Hint:    "move the range to the workload network", Conflict: "192.168.10.0/24", ConflictWhere: KeyManagementIP}},
		{"frontend option", append(frontend, KeyServiceRanges, "192.168.10.128/26"), finding.Finding{
			Severity: finding.Warning, Where: KeyServiceRanges, Value: "192.168.10.128/26",
			Message: "192.168.10.128/26 lies in the management network 192.168.10.0/24 (network.management_ip): VIPs never belong on the management network; with the Frontend Network option they belong on the frontend network",
			Hint:    "move the range to the frontend network", Conflict: "192.168.10.0/24", ConflictWhere: KeyManagementIP}},
	} {
		got := matching(checked(c.kv...), "lies in the")
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: got %#v\nwant %#v", c.name, got, c.want)
		}
	}
	b, _ := json.Marshal(matching(checked(KeyServiceRanges, "192.168.10.128/26"), "lies in the")[0])
	if !strings.Contains(string(b), `"conflict":"192.168.10.0/24","conflict_where":"network.management_ip"`) {
		t.Errorf("JSON %s", b)
	}
}

// An address key that did not parse keeps the address it names in the
// ranges' rules; one that names none leaves the ranges unchecked.
func TestInvalidAddressKeysAndTheRanges(t *testing.T) {
	for _, c := range []struct {
		key, value string
		point      *validate.Point
		unchecked  []Unchecked
	}{
		{KeyManagementIP, "192.168.10.5", &validate.Point{Addr: netip.MustParseAddr("192.168.10.5"), What: "the appliance's management address", Where: KeyManagementIP}, nil},
		{KeyManagementGateway, "192.168.10.1/24", &validate.Point{Addr: netip.MustParseAddr("192.168.10.1"), What: "the management gateway", Where: KeyManagementGateway}, nil},
		{KeyNameservers, "192.168.10.2/32, 192.168.10.3", &validate.Point{Addr: netip.MustParseAddr("192.168.10.2"), What: "a name server", Where: KeyNameservers}, nil},
		{KeyWorkloadIP, "workload", nil, []Unchecked{{KeyWorkloadIP, "the appliance's workload address"}}},
		{KeyNameservers, "dns.example.com", nil, []Unchecked{{KeyNameservers, "the name servers"}}},
		{KeyAdditionalNetworks, "10.10.0.0/16, 10.11.0.0", nil, []Unchecked{{KeyAdditionalNetworks, "the additional workload networks"}}},
	} {
		c0, _, fs := FromProperties(with(c.key, c.value))
		if len(errorsAt(fs, c.key)) == 0 {
			t.Fatalf("%s = %q parses", c.key, c.value)
		}
		if c.point != nil && !slices.Contains(c0.Rules().Forbidden, *c.point) {
			t.Errorf("%s = %q: rules lack %+v: %+v", c.key, c.value, *c.point, c0.Rules().Forbidden)
		}
		if got := c0.Unchecked(); !slices.Equal(got, c.unchecked) {
			t.Errorf("%s = %q: unchecked %v, want %v", c.key, c.value, got, c.unchecked)
		}
	}
}

// The wizard's lists are comma-separated, as its labels say and the old
// appliance split them; other separators are read but warned about, and
// an empty item between two commas is named.
func TestListSeparators(t *testing.T) {
	for _, c := range []struct {
		key, value string
		want       string // the one finding about the list's shape, as printed; "" for none
	}{
		{KeyServiceRanges, "192.168.20.128/26,192.168.20.192/27", ""},
		{KeyServiceRanges, "192.168.20.128/26, 192.168.20.192/27,", ""},
		{KeyServiceRanges, "192.168.20.128/26,,192.168.20.192/27",
			`warning: loadbalance.service_ip_range = "192.168.20.128/26,,192.168.20.192/27": has an empty item between two commas (after item 1, 192.168.20.128/26): is an item missing? (remove the extra comma, or write the missing item)`},
		{KeyServiceRanges, "192.168.20.128/26;192.168.20.192/27",
			`warning: loadbalance.service_ip_range = "192.168.20.128/26;192.168.20.192/27": separates items with ";" rather than commas; read as 2 items: 192.168.20.128/26, 192.168.20.192/27 (separate the items with commas, e.g. "192.168.20.128/26, 192.168.20.192/27")`},
		{KeyServiceRanges, "192.168.20.128/26 192.168.20.192/27",
			`warning: loadbalance.service_ip_range = "192.168.20.128/26 192.168.20.192/27": separates items with white space rather than commas; read as 2 items: 192.168.20.128/26, 192.168.20.192/27 (separate the items with commas, e.g. "192.168.20.128/26, 192.168.20.192/27")`},
		{KeyAdditionalNetworks, "10.10.0.0/16,,10.11.0.0/16",
			`warning: network.additional_workload_networks = "10.10.0.0/16,,10.11.0.0/16": has an empty item between two commas (after item 1, 10.10.0.0/16): is an item missing? (remove the extra comma, or write the missing item)`},
	} {
		var got []string
		for _, f := range checked(c.key, c.value) {
			if strings.Contains(f.Message, "commas") {
				got = append(got, f.String())
			}
		}
		switch {
		case c.want == "" && len(got) != 0:
			t.Errorf("%q: unexpected %q", c.value, got)
		case c.want != "" && (len(got) != 1 || got[0] != c.want):
			t.Errorf("%q: got\n%q\nwant\n%q", c.value, got, c.want)
		}
	}
}

// Backend networks that overlap each other are warned about, both named.
func TestOverlappingAdditionalNetworks(t *testing.T) {
	for _, c := range []struct{ value, want string }{
		{"10.41.0.0/16,10.41.0.0/24", `warning: network.additional_workload_networks = "10.41.0.0/24": 10.41.0.0/24 (item 2) overlaps 10.41.0.0/16 (item 1) (list each backend network once: keep the larger one, or make them disjoint)`},
		{"10.41.0.0/24, 10.42.0.0/16, 10.41.0.0/16", `warning: network.additional_workload_networks = "10.41.0.0/16": 10.41.0.0/16 (item 3) overlaps 10.41.0.0/24 (item 1) (list each backend network once: keep the larger one, or make them disjoint)`},
		{"10.41.0.0/16, 10.41.0.0/16", `warning: network.additional_workload_networks = "10.41.0.0/16": 10.41.0.0/16 is listed twice (items 1 and 2) (list each backend network once: keep the larger one, or make them disjoint)`},
		{"10.41.0.0/16, 10.42.0.0/16", ""},
	} {
		var got []string
		for _, f := range checked(KeyAdditionalNetworks, c.value) {
			if f.Where == KeyAdditionalNetworks {
				got = append(got, f.String())
			}
		}
		switch {
		case c.want == "" && len(got) != 0:
			t.Errorf("%q: unexpected %q", c.value, got)
		case c.want != "" && (len(got) != 1 || got[0] != c.want):
			t.Errorf("%q: got\n%q\nwant\n%q", c.value, got, c.want)
		}
	}
}

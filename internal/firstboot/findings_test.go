package firstboot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/finding"
)

// example reads an example environment with some values replaced (each
// key's value, whole).
func example(t *testing.T, name string, kv ...string) *Wizard {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	env := string(data)
	for i := 0; i+1 < len(kv); i += 2 {
		at := `oe:key="` + kv[i] + `" oe:value="`
		s := strings.Index(env, at)
		if s < 0 {
			t.Fatalf("%s has no %s", name, kv[i])
		}
		v := s + len(at)
		end := v + strings.IndexByte(env[v:], '"')
		env = env[:v] + kv[i+1] + env[end:]
	}
	w, err := ReadWizard([]byte(env), name)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func printed(fs finding.List) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.String())
	}
	return out
}

// An error on a NIC's address that still names the address (no prefix
// length) refuses that NIC only: the ranges are checked as before, that
// address kept out of them, and applied. One no address reads from
// refuses the ranges too, and says why: a range might hold it.
func TestNICErrorAndTheRanges(t *testing.T) {
	sys := System{Links: []string{"management", "workload", "frontend"}}
	for _, c := range []struct {
		name, key, value, ranges string
		refused                  bool
		why                      string
		rangeErr                 string // an error the ranges draw
	}{
		{name: "no prefix length", key: "network.management_ip", value: "10.40.10.5", ranges: "10.40.30.64/26"},
		{name: "no prefix length, inside a range", key: "network.management_ip", value: "10.40.10.5", ranges: "10.40.10.0/26",
			refused:  true,
			rangeErr: `error: loadbalance.service_ip_range = "10.40.10.0/26": 10.40.10.0/26 contains 10.40.10.5, the appliance's management address (network.management_ip): the appliance would answer for it and cut it off the network (move or shrink the range so it leaves out 10.40.10.5)`},
		{name: "gateway with a prefix length", key: "network.workload_gateway", value: "10.40.20.1/24", ranges: "10.40.30.64/26"},
		{name: "no address", key: "network.management_ip", value: "mgmt.example", ranges: "10.40.30.64/26",
			refused: true, why: "they cannot be checked against the appliance's management address while network.management_ip is invalid"},
		{name: "gateway no address", key: "network.frontend_gateway", value: "router", ranges: "10.40.30.64/26",
			refused: true, why: "they cannot be checked against the frontend gateway while network.frontend_gateway is invalid"},
		{name: "backends", key: "network.additional_workload_networks", value: "10.41.0.0/33", ranges: "10.40.30.64/26",
			refused: true, why: "they cannot be checked against the additional workload networks while network.additional_workload_networks is invalid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := example(t, "ovf-env-3nic.xml", c.key, c.value, "loadbalance.service_ip_range", c.ranges)
			w.Attach(sys.Links)
			p := MakePlan(w, sys, opts())
			if p.Refused[PartRanges] != c.refused || p.RangesWhy != c.why {
				t.Errorf("ranges refused %v (%q), want %v (%q); findings:\n%s", p.Refused[PartRanges], p.RangesWhy, c.refused, c.why, strings.Join(printed(p.Findings), "\n"))
			}
			if !c.refused && string(p.Cfg) == "" {
				t.Error("no ranges file planned")
			}
			if c.rangeErr != "" && !strings.Contains(strings.Join(printed(p.Findings), "\n"), c.rangeErr) {
				t.Errorf("findings lack\n%s\n:\n%s", c.rangeErr, strings.Join(printed(p.Findings), "\n"))
			}
		})
	}
}

// With the frontend option and the frontend left to DHCP, a range in the
// workload or the management network is warned about as with a static
// frontend: those networks are static and known.
func TestWrongNetworkWithDHCPFrontend(t *testing.T) {
	links := []string{"management", "workload", "frontend"}
	for _, c := range []struct{ ranges, conflict, where, want string }{
		{"10.40.20.128/26", "10.40.20.0/24", "network.workload_ip", `warning: loadbalance.service_ip_range = "10.40.20.128/26": 10.40.20.128/26 lies in the workload network 10.40.20.0/24 (network.workload_ip): with the Frontend Network option the VIPs belong on the frontend network (give the frontend network's ranges, or deploy with the Default option (two NICs) to serve VIPs on the workload network)`},
		{"10.40.10.128/26", "10.40.10.0/24", "network.management_ip", `warning: loadbalance.service_ip_range = "10.40.10.128/26": 10.40.10.128/26 lies in the management network 10.40.10.0/24 (network.management_ip): VIPs never belong on the management network; with the Frontend Network option they belong on the frontend network (move the range to the frontend network)`},
	} {
		w := example(t, "ovf-env-3nic.xml", "network.frontend_ip", "", "network.frontend_gateway", "", "loadbalance.service_ip_range", c.ranges)
		w.Attach(links)
		p := MakePlan(w, System{Links: links}, opts())
		got := printed(p.Findings)
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: findings\n%s\nwant only\n%s", c.ranges, strings.Join(got, "\n"), c.want)
		}
		if len(got) == 1 && (p.Findings[0].Conflict != c.conflict || p.Findings[0].ConflictWhere != c.where) {
			t.Errorf("%s: conflict %q at %q, want %q at %q", c.ranges, p.Findings[0].Conflict, p.Findings[0].ConflictWhere, c.conflict, c.where)
		}
	}
}

package firstboot

import (
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/validate"
)

const cfgPath = "/etc/vmware/anyip-routes.cfg"

func wizard(t *testing.T, name string) *Wizard {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	w, err := ReadWizard(data, name)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func opts() Options {
	return Options{Config: cfgPath, MinBits4: validate.DefaultMinBits4, MinBits6: validate.DefaultMinBits6}
}

// The plan of a fresh appliance: a new file whose block holds the wizard's
// ranges, and exactly those ranges desired.
func TestPlanFreshAppliance(t *testing.T) {
	w := wizard(t, "ovf-env-3nic.xml")
	p := MakePlan(w, System{}, opts())
	if p.Findings.HasErrors() {
		t.Fatalf("findings:\n%v", p.Findings)
	}
	want := slices.Clone(w.Config.ServiceRanges)
	cfgfile.SortPrefixes(want)
	if !slices.Equal(p.Desired, want) || !slices.Equal(p.Gained, p.Desired) || len(p.Lost) != 0 {
		t.Errorf("desired %v, gained %v, lost %v; want %v gained", p.Desired, p.Gained, p.Lost, want)
	}
	if !p.CfgChanged || !strings.Contains(string(p.Cfg), cfgfile.BeginMarker) {
		t.Errorf("no new file:\n%s", p.Cfg)
	}
	if p.Hash == "" || p.Hash != MakePlan(w, System{Cfg: p.Cfg}, opts()).Hash {
		t.Error("the properties' hash is empty or depends on the file")
	}
	// Planned again on its own output, nothing changes.
	again := MakePlan(w, System{Cfg: p.Cfg}, opts())
	if again.CfgChanged || len(again.Gained)+len(again.Lost) != 0 || !slices.Equal(again.Desired, p.Desired) {
		t.Errorf("second plan changes the file: gained %v lost %v", again.Gained, again.Lost)
	}
}

// A hand line that holds the system's default gateway refuses the whole
// plan, naming the line; the wizard's ranges are checked against the
// wizard's own gateways.
func TestPlanRefusesWhatTheSystemNeeds(t *testing.T) {
	w := wizard(t, "ovf-env-3nic.xml")
	sys := System{
		Cfg:   []byte("10.99.0.0/24\n"),
		Facts: validate.Facts{Gateways: []validate.HeldAddr{{Iface: "eth0", Prefix: netip.MustParsePrefix("10.99.0.1/32")}}},
	}
	p := MakePlan(w, sys, opts())
	if !p.Findings.HasErrors() || p.Cfg != nil || p.Desired != nil {
		t.Fatalf("plan not refused: findings %v, cfg %q", p.Findings, p.Cfg)
	}
	found := false
	for _, f := range p.Findings {
		found = found || (f.Severity == finding.Error && f.Where == cfgPath+":1" && strings.Contains(f.Message, "10.99.0.1"))
	}
	if !found {
		t.Errorf("no error naming %s:1 and the gateway:\n%v", cfgPath, p.Findings)
	}
}

// An error refuses the parts that read its key, a ranges file line refuses
// the ranges, and an error naming no part's key refuses every part.
func TestRefused(t *testing.T) {
	e := func(where string) finding.Finding { return finding.Errorf(where, "", "", "bad") }
	wl := []appliance.Unchecked{{Key: "network.workload_ip", What: "the appliance's workload address"}}
	for _, c := range []struct {
		fs        finding.List
		want      []string
		unchecked []appliance.Unchecked
	}{
		{fs: finding.List{e("network.hostname")}, want: []string{PartHostname}},
		{fs: finding.List{finding.Warnf("network.hostname", "", "", "odd")}},
		{fs: finding.List{e(cfgPath + ":3")}, want: []string{PartRanges}},
		// A NIC's error leaves the ranges to their own checks, unless it
		// leaves one of them undone.
		{fs: finding.List{e("network.workload_ip")}, want: []string{PartWorkload}},
		{fs: finding.List{e("network.workload_ip")}, want: []string{PartWorkload, PartRanges}, unchecked: wl},
		{fs: finding.List{e("network.management_ip")}, want: []string{PartManagement}, unchecked: wl},
		{fs: finding.List{e("loadbalance.service_ip_range")}, want: []string{PartRanges}},
		{fs: finding.List{e("appliance.root_pwd")}, want: []string{PartRootPassword}},
		{fs: finding.List{e("appliance.permit_root_login")}, want: []string{PartSSH}},
		{fs: finding.List{e("loadbalance.haproxy_user")}, want: []string{PartDataplane}},
		{fs: finding.List{e("appliance.ca_cert_key")}, want: []string{PartCA}},
		{fs: finding.List{e("LoadBalance.Service_IP_Range")}, want: []string{PartHostname, PartResolver, PartManagement, PartWorkload, PartFrontend, PartRanges,
			PartRootPassword, PartSSH, PartDataplane, PartCA}},
	} {
		got := refused(c.fs, cfgPath, c.unchecked)
		var parts []string
		for p := range got {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(parts, want) {
			t.Errorf("refused(%v) = %v, want %v", c.fs, parts, want)
		}
	}
}

// A frontend left to DHCP has both its keys empty, like a deployment
// without the frontend option; the NIC named frontend tells the two apart.
// With it, the frontend is a DHCP NIC with its file and the VIPs face it;
// without it, there is no frontend.
func TestPlanDHCPFrontendByItsNIC(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "ovf-env-3nic.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"network.frontend_ip", "network.frontend_gateway"} {
		i := strings.Index(string(data), `oe:key="`+k+`" oe:value="`)
		if i < 0 {
			t.Fatalf("the example has no %s", k)
		}
		v := i + len(`oe:key="`+k+`" oe:value="`)
		end := v + strings.IndexByte(string(data[v:]), '"')
		data = append(data[:v:v], data[end:]...)
	}
	const name = "10-anyip-frontend.network"
	for _, links := range [][]string{{"management", "workload"}, {"management", "workload", "frontend"}} {
		w, err := ReadWizard(data, "test")
		if err != nil {
			t.Fatal(err)
		}
		w.Attach(links)
		p := MakePlan(w, System{Links: links}, opts())
		f, ok := p.Network.Files[name]
		if !slices.Contains(links, "frontend") {
			if ok {
				t.Errorf("links %v: a frontend file without a frontend NIC:\n%s", links, f)
			}
			continue
		}
		if !ok {
			t.Fatalf("links %v: no %s; files %v", links, name, slices.Collect(maps.Keys(p.Network.Files)))
		}
		for _, want := range []string{"DHCP=ipv4", "RouteTable=3", "From=10.40.30.64/26", "From=10.40.30.128/26"} {
			if !strings.Contains(string(f), want) {
				t.Errorf("links %v: %s lacks %q:\n%s", links, name, want, f)
			}
		}
	}
}

// One mistake, one finding: what only follows from an error on a key
// (an empty list because its one range did not parse, a gateway "ignored"
// because the address beside it did not parse, ranges "outside every
// attached network" while a NIC's network is unknown) is not reported,
// and the one finding names the mistake.
func TestOneFindingPerMistake(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "ovf-env-3nic.xml"))
	if err != nil {
		t.Fatal(err)
	}
	sys := System{Links: []string{"management", "workload", "frontend"}}
	for _, c := range []struct {
		old, new string
		want     string // the one finding, as printed
	}{
		{`"10.40.30.64/26, 10.40.30.128/26"`, `"10.0.0.0/33"`,
			`error: loadbalance.service_ip_range = "10.0.0.0/33": has a bad prefix length "33" (the prefix length after / must be a number from 0 to 32)`},
		{`"10.40.30.5/24"`, `"10.40.30.5"`,
			`error: network.frontend_ip = "10.40.30.5": needs CIDR form (address/prefix-length) (add the prefix length of the frontend network, e.g. 10.40.30.5/24)`},
		{`"10.40.30.64/26, 10.40.30.128/26"`, `"10.40.30.64 /26"`,
			`error: loadbalance.service_ip_range = "10.40.30.64 /26": has a space next to the / (did you mean 10.40.30.64/26?)`},
		{`"10.40.30.64/26, 10.40.30.128/26"`, `"10.40.30.64/ 26, 10.40.30.128/26"`,
			`error: loadbalance.service_ip_range = "10.40.30.64/ 26": has a space next to the / (did you mean 10.40.30.64/26?)`},
		{`"10.40.30.64/26, 10.40.30.128/26"`, `"10.40.30/24"`,
			`error: loadbalance.service_ip_range = "10.40.30/24": has an address of fewer than four numbers (did you mean 10.40.30.0/24?)`},
	} {
		env := strings.Replace(string(data), c.old, c.new, 1)
		if env == string(data) {
			t.Fatalf("%s is not in the example", c.old)
		}
		w, err := ReadWizard([]byte(env), "env.xml")
		if err != nil {
			t.Fatal(err)
		}
		p := MakePlan(w, sys, opts())
		var got []string
		for _, f := range p.Findings {
			got = append(got, f.String())
		}
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: findings\n%s\nwant only\n%s", c.new, strings.Join(got, "\n"), c.want)
		}
	}
}

// IPv6 ranges to serve while net.ipv6.ip_nonlocal_bind is 0 draw one
// warning that HAProxy will not bind them; with it on, or with IPv4 ranges
// only, none.
func TestPlanWarnsAboutIPv6WithoutNonlocalBind(t *testing.T) {
	w := wizard(t, "ovf-env-ipv6.xml")
	warned := func(on bool) []string {
		var out []string
		for _, f := range MakePlan(w, System{NonlocalBind6: on}, opts()).Findings {
			if strings.Contains(f.Message, "ip_nonlocal_bind is 0") {
				out = append(out, f.Message)
			}
		}
		return out
	}
	if got := warned(false); len(got) != 1 || !strings.Contains(got[0], "IPv6 range") {
		t.Errorf("off: %q", got)
	}
	if got := warned(true); len(got) != 0 {
		t.Errorf("on: %q", got)
	}
	if got := nonlocalBind6([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}, false); len(got) != 0 {
		t.Errorf("IPv4 only: %v", got)
	}
}

package boottest

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"go4.org/netipx"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/netconf"
	"github.com/anyip/anyip/internal/ovfenv"
)

// NIC is one of the appliance's networks: a veth pair with the appliance's
// end (named after the role, as the appliance's .link files name its NICs)
// in VM and the router's end in Net.
type NIC struct {
	Role string
	// Addr is the appliance's address from the environment.
	Addr netip.Prefix
	// Router is the router's address on the network: the gateway the
	// environment names, else the subnet's last address.
	Router netip.Addr
}

// RouterLink is the name of the router's end of the NIC's network.
func (n NIC) RouterLink() string { return "r-" + n.Role }

// Config parses an OVF environment as first boot does.
func Config(env []byte) (appliance.Config, error) {
	e, err := ovfenv.Parse(env)
	if err != nil {
		return appliance.Config{}, err
	}
	cfg, _, findings := appliance.FromProperties(e.Properties)
	if findings.HasErrors() {
		return cfg, fmt.Errorf("environment: %v", findings)
	}
	return cfg, nil
}

// nicsFromEnv gives one network per NIC role the environment configures.
func nicsFromEnv(env []byte) ([]NIC, error) {
	if env == nil {
		return nil, fmt.Errorf("an environment is needed to lay out the networks")
	}
	cfg, err := Config(env)
	if err != nil {
		return nil, err
	}
	var nics []NIC
	for _, n := range cfg.NICs {
		if !n.Static() {
			return nil, fmt.Errorf("NIC %s: DHCP is not supported by the boot test yet", n.Role)
		}
		r := n.Gateway
		if !r.IsValid() {
			r = netipx.PrefixLastIP(n.Subnet()).Prev()
		}
		nics = append(nics, NIC{Role: n.Role, Addr: n.Addr, Router: r})
	}
	return nics, nil
}

// network makes the NICs. The image has no network configuration of its
// own: first boot's early half (anyip-network.service) writes it at boot.
func (a *Appliance) network() {
	a.t.Helper()
	for _, n := range a.NICs {
		a.VM.Veth(a.t, n.Role, "", a.Net, n.RouterLink(), netip.PrefixFrom(n.Router, n.Addr.Bits()).String())
		// The routers ask again for an unanswered address after 100 ms
		// instead of a second, so that the time to VIPs serving measures the
		// appliance rather than ARP's retry interval.
		p := "/proc/sys/net/ipv4/neigh/" + n.RouterLink() + "/retrans_time_ms"
		if err := a.Net.Do(func() error { return os.WriteFile(p, []byte("100"), 0o644) }); err != nil {
			a.t.Fatalf("boottest: %s in %s: %v", p, a.Net.Name, err)
		}
		// No router advertisements come on the test networks; waiting for
		// them would hold network-online.target up for seconds. A drop-in
		// of the test image beside the file first boot writes for the NIC.
		a.writeFile("/etc/systemd/network/"+netconf.FilePrefix+n.Role+".network.d/50-boottest-no-ra.conf",
			[]byte("# Boot test only: no router advertisements on the test networks.\n[Network]\nIPv6AcceptRA=no\n"), 0o644)
	}
	a.sysctls()
}

// sysctls applies the net.* settings of the image's sysctl.d files to the
// appliance's namespace: systemd-sysctl does not run inside nspawn, and
// net.* settings belong to the namespace, so this is what a boot of the
// image on a VM would set.
func (a *Appliance) sysctls() {
	a.t.Helper()
	files, _ := filepath.Glob(filepath.Join(a.Root, "usr/lib/sysctl.d/*anyip*.conf"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			a.t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if l == "" || l[0] == '#' || l[0] == ';' {
				continue
			}
			k, v, ok := strings.Cut(l, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || !strings.HasPrefix(k, "net.") {
				continue
			}
			p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
			if err := a.VM.Do(func() error { return os.WriteFile(p, []byte(v), 0o644) }); err != nil {
				a.t.Fatalf("boottest: %s: set %s=%s in %s: %v", f, k, v, a.VM.Name, err)
			}
		}
	}
}

// VIP is an address HAProxy binds in a range: the range's first address
// after its network address.
func VIP(r netip.Prefix) netip.Addr { return r.Masked().Addr().Next() }

// HAProxyConfig is a configuration with one frontend on a VIP of each range
// (port 80), which HAProxy can bind only once the range's route is in place,
// and one on every address (port 8080), which answers on any range. Each
// answers with the address it was reached on and its name.
func HAProxyConfig(ranges []netip.Prefix) string {
	var b strings.Builder
	b.WriteString(`global
	log /dev/log local0 notice
	stats socket /run/haproxy/admin.sock mode 660 level admin
	user haproxy
	group haproxy

defaults
	log global
	mode http
	timeout connect 2s
	timeout client 10s
	timeout server 10s
`)
	answer := "\thttp-request return status 200 content-type text/plain lf-string \"%[dst] %[fe_name]\\n\"\n"
	for i, r := range ranges {
		fmt.Fprintf(&b, "\nfrontend vip-%d\n\tbind %s\n%s", i+1, netip.AddrPortFrom(VIP(r), 80), answer)
	}
	fmt.Fprintf(&b, "\nfrontend any\n\tbind :8080\n%s", answer)
	return b.String()
}

// FreeRanges returns n ranges of size bits inside subnet, from its top
// down, that overlap none of taken and hold none of avoid.
func FreeRanges(subnet netip.Prefix, bits, n int, taken []netip.Prefix, avoid ...netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	size := uint64(1) << (subnet.Addr().BitLen() - bits)
	last := netipx.PrefixLastIP(subnet)
	for a := netip.PrefixFrom(last, bits).Masked(); subnet.Contains(a.Addr()) && len(out) < n; {
		ok := true
		for _, t := range append(taken, out...) {
			if t.Overlaps(a) {
				ok = false
			}
		}
		for _, x := range avoid {
			if a.Contains(x) {
				ok = false
			}
		}
		if ok {
			out = append(out, a)
		}
		prev := a.Addr()
		for i := uint64(0); i < size; i++ {
			prev = prev.Prev()
		}
		if !prev.IsValid() {
			break
		}
		a = netip.PrefixFrom(prev, bits)
	}
	return out
}

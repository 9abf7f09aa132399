package boottest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

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
	// Addr is the appliance's address from the environment; invalid when
	// it comes from DHCP.
	Addr netip.Prefix
	// Subnet is the network: Addr's, or the one the router leases from.
	Subnet netip.Prefix
	// Router is the router's address on the network: the gateway the
	// environment names, else the subnet's last address; for DHCP the
	// subnet's first, which the lease names as the router.
	Router netip.Addr
	// Pool is the range of addresses DHCP leases (DHCP only).
	Pool netipx.IPRange
}

// DHCP reports whether the NIC's address comes from a lease.
func (n NIC) DHCP() bool { return !n.Addr.IsValid() }

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

// nicsFromEnv gives one network per NIC role the environment configures,
// and the additional workload networks. A role left to DHCP needs its
// network in dhcp.
func nicsFromEnv(env []byte, dhcp map[string]netip.Prefix) ([]NIC, []netip.Prefix, error) {
	if env == nil {
		return nil, nil, fmt.Errorf("an environment is needed to lay out the networks")
	}
	cfg, err := Config(env)
	if err != nil {
		return nil, nil, err
	}
	all := slices.Clone(cfg.NICs)
	// A frontend left to DHCP has no key with a value: the NIC is what
	// makes it one (as the frontend option's NIC does on a VM).
	if _, ok := dhcp[netconf.Frontend]; ok && !slices.ContainsFunc(all, func(n appliance.NIC) bool { return n.Role == netconf.Frontend }) {
		all = append(all, appliance.NIC{Role: netconf.Frontend})
	}
	var nics []NIC
	for _, n := range all {
		if n.Static() {
			r := n.Gateway
			if !r.IsValid() {
				r = netipx.PrefixLastIP(n.Subnet()).Prev()
			}
			nics = append(nics, NIC{Role: n.Role, Addr: n.Addr, Subnet: n.Subnet(), Router: r})
			continue
		}
		s, ok := dhcp[n.Role]
		if !ok {
			return nil, nil, fmt.Errorf("NIC %s: DHCP in the environment: give its network in Options.DHCP", n.Role)
		}
		s = s.Masked()
		// The leases come from a /28 of the subnet that holds no VIP.
		pool := FreeRanges(s, 28, 1, cfg.ServiceRanges, netipx.PrefixLastIP(s), s.Addr())
		if len(pool) == 0 {
			return nil, nil, fmt.Errorf("NIC %s: no room for a DHCP pool in %s outside the VIP ranges", n.Role, s)
		}
		p := netipx.RangeOfPrefix(pool[0])
		nics = append(nics, NIC{Role: n.Role, Subnet: s, Router: s.Addr().Next(),
			Pool: netipx.IPRangeFrom(p.From().Next(), p.To().Prev())})
	}
	return nics, cfg.AdditionalNetworks, nil
}

// network makes the NICs. The image has no network configuration of its
// own: first boot's early half (anyip-network.service) writes it at boot.
func (a *Appliance) network() {
	a.t.Helper()
	for _, n := range a.NICs {
		a.VM.Veth(a.t, n.Role, "", a.Net, n.RouterLink(), netip.PrefixFrom(n.Router, n.Subnet.Bits()).String())
		for _, p := range a.routerAddrs[n.Role] {
			a.Net.Run(a.t, "ip", "addr", "add", p.String(), "dev", n.RouterLink())
		}
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

// ClientNet is the network of the client behind the routers: outside
// every network of the examples, so that only a route through a router
// reaches it.
var ClientNet = netip.MustParsePrefix("172.31.99.0/24")

// outside makes the networks behind the routers: Far, a client network
// (the world beyond the frontend or workload router), and Backend, the
// first additional workload network with a server in it. Net forwards
// between all of them and the appliance's networks, as one router per
// network would.
func (a *Appliance) outside(backends []netip.Prefix) {
	a.t.Helper()
	if err := a.Net.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) }); err != nil {
		a.t.Fatalf("boottest: forwarding in %s: %v", a.Net.Name, err)
	}
	gw := ClientNet.Addr().Next()
	a.Client = gw.Next()
	a.Net.Veth(a.t, "r-far", netip.PrefixFrom(gw, ClientNet.Bits()).String(), a.Far, "eth0", netip.PrefixFrom(a.Client, ClientNet.Bits()).String())
	a.Far.Run(a.t, "ip", "route", "add", "default", "via", gw.String())
	if a.Backend == nil {
		return
	}
	b := backends[0].Masked()
	gw = b.Addr().Next()
	a.BackendAddr = BackendServer(backends)
	addr := a.BackendAddr.Addr()
	a.Net.Veth(a.t, "r-backend", netip.PrefixFrom(gw, b.Bits()).String(), a.Backend, "eth0", netip.PrefixFrom(addr, b.Bits()).String())
	a.Backend.Run(a.t, "ip", "route", "add", "default", "via", gw.String())
	ln, err := a.Backend.Listen("tcp", a.BackendAddr.String())
	if err != nil {
		a.t.Fatalf("boottest: backend server in %s: %v", a.Backend.Name, err)
	}
	// It answers with its own address and the address the request came
	// from: the appliance's on the network it used.
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend %s from %s\n", a.BackendAddr.Addr(), r.RemoteAddr)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	a.t.Cleanup(func() { srv.Close() })
}

// BackendServer is where the backend server listens: the second address
// of the first additional workload network (its router has the first),
// port 8000; invalid when there are none.
func BackendServer(backends []netip.Prefix) netip.AddrPort {
	if len(backends) == 0 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(backends[0].Masked().Addr().Next().Next(), 8000)
}

// dhcp runs dnsmasq (the Debian package's) in the routers' namespace for
// the NICs that take their address from DHCP: it leases from each NIC's
// pool and names its own address the router. It lives as long as the
// appliance, across reboots (which make the routers' links again: hence
// --bind-dynamic), with its leases in the appliance's directory.
func (a *Appliance) dhcp(roles map[string]netip.Prefix) {
	a.t.Helper()
	args := []string{"--net=/run/netns/" + a.Net.Name, "--", "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
		"--port=0", "--bind-dynamic", "--dhcp-authoritative", "--no-ping", "--user=root", "--pid-file=",
		"--dhcp-leasefile=" + filepath.Join(a.dir, "dnsmasq.leases"), "--log-dhcp", "--log-facility=" + filepath.Join(a.dir, "dnsmasq.log")}
	n := 0
	for _, nic := range a.NICs {
		if !nic.DHCP() {
			continue
		}
		n++
		args = append(args, "--interface="+nic.RouterLink(),
			fmt.Sprintf("--dhcp-range=%s,%s,%s,1h", nic.Pool.From(), nic.Pool.To(), net.IP(net.CIDRMask(nic.Subnet.Bits(), 32))))
	}
	if n == 0 {
		return
	}
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		unavailable(a.t, "dnsmasq not found (scripts/deps.sh installs dnsmasq-base): %v", err)
	}
	cmd := exec.Command("nsenter", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Killed with the test binary; the signal comes when the thread that
	// started it ends, so that thread stays locked for dnsmasq's life (as
	// Boot's for nspawn).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started, exited := make(chan error, 1), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(exited)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
	}()
	if err := <-started; err != nil {
		a.t.Fatalf("boottest: start dnsmasq: %v", err)
	}
	// Registered after the appliance's removal, so it runs before it.
	a.t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	select {
	case <-exited:
		a.t.Fatalf("boottest: dnsmasq exited at once: %s\n%s", cmd.ProcessState, out.String())
	case <-time.After(100 * time.Millisecond):
	}
}

// DHCPLog is what dnsmasq logged (for failure messages).
func (a *Appliance) DHCPLog() string {
	b, _ := os.ReadFile(filepath.Join(a.dir, "dnsmasq.log"))
	return string(b)
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

// BackendPort is the VIP port HAProxy hands to the backend server.
const BackendPort = 81

// VIP is an address HAProxy binds in a range: the range's first address
// after its network address.
func VIP(r netip.Prefix) netip.Addr { return r.Masked().Addr().Next() }

// HAProxyConfig is a configuration with one frontend on a VIP of each range
// (port 80), which HAProxy can bind only once the range's route is in place,
// and one on every address (port 8080), which answers on any range. Each
// answers with the address it was reached on and its name. With a backend
// (valid), a frontend on the first range's VIP, port 81, hands requests
// to that server.
func HAProxyConfig(ranges []netip.Prefix, backend netip.AddrPort) string {
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
	if backend.IsValid() && len(ranges) > 0 {
		fmt.Fprintf(&b, "\nfrontend to-backend\n\tbind %s\n\tdefault_backend servers\n\nbackend servers\n\tserver b1 %s\n",
			netip.AddrPortFrom(VIP(ranges[0]), BackendPort), backend)
	}
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

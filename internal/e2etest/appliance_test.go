package e2etest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
)

// appliance is the whole thing in namespaces: "vm" is the appliance with a
// NIC on each network of the shipped 3-NIC example, "net" stands for the
// routers and a client on the frontend network.
type appliance struct {
	t       *testing.T
	vm, net *netnstest.NS
	dir     string
	cfg     string
	haproxy *exec.Cmd
	hapCfg  string
	routes  *exec.Cmd
}

func newAppliance(t *testing.T) *appliance {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Fatal("haproxy is not installed; scripts/deps.sh installs it")
	}
	a := &appliance{t: t, vm: netnstest.New(t), net: netnstest.New(t), dir: t.TempDir()}
	a.cfg = filepath.Join(a.dir, "anyip-routes.cfg")
	a.vm.Veth(t, "eth0", "10.40.10.5/24", a.net, "mgmt", "10.40.10.1/24")
	a.vm.Veth(t, "eth1", "10.40.20.5/24", a.net, "wl", "10.40.20.1/24")
	a.vm.Veth(t, "eth2", "10.40.30.5/24", a.net, "fe", "10.40.30.1/24")
	a.vm.Run(t, "ip", "route", "add", "default", "via", "10.40.10.1")
	os.WriteFile(filepath.Join(a.dir, "resolv.conf"), []byte("nameserver 10.40.10.53\n"), 0o644)
	e2etest.SeedRoot(t, filepath.Join(a.dir, "root"))
	return a
}

func (a *appliance) firstboot(env string) string {
	a.t.Helper()
	out, err := a.vm.Command(e2etest.Binary(a.t, "anyip-firstboot"), "--ovf-env", env, "--config", a.cfg,
		"--state-dir", filepath.Join(a.dir, "state"), "--resolv-conf", filepath.Join(a.dir, "resolv.conf"), "--root", filepath.Join(a.dir, "root"),
		"--publish=false").CombinedOutput()
	if err != nil {
		a.t.Fatalf("anyip-firstboot: %v\n%s", err, out)
	}
	return string(out)
}

// startRoutes starts the route service and waits until the table holds
// every range of the file.
func (a *appliance) startRoutes() {
	a.t.Helper()
	cmd := a.vm.Command(e2etest.Binary(a.t, "anyip-routes"), "--config", a.cfg,
		"--resolv-conf", filepath.Join(a.dir, "resolv.conf"), "watch")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.routes = cmd
	a.t.Cleanup(func() { a.stopRoutes() })
}

func (a *appliance) stopRoutes() {
	if a.routes == nil {
		return
	}
	a.routes.Process.Signal(syscall.SIGTERM)
	a.routes.Wait()
	a.routes = nil
}

// ourRoutes lists the routes with our protocol, IPv4 and IPv6, as
// iproute2 prints them.
func (a *appliance) ourRoutes() string {
	return a.vm.Run(a.t, "ip", "-4", "route", "show", "table", "local", "proto", "241") +
		a.vm.Run(a.t, "ip", "-6", "route", "show", "table", "local", "proto", "241")
}

func (a *appliance) waitRoute(prefix string) {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(a.ourRoutes(), "local "+prefix+" ") {
		if time.Now().After(deadline) {
			a.t.Fatalf("route %s never appeared:\n%s", prefix, a.ourRoutes())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// haproxyConfig is an HAProxy configuration with one HTTP frontend per
// VIP (fe0, fe1, ...) on port 8080, each answering its own name.
func (a *appliance) haproxyConfig(vips ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global\n    pidfile %s/haproxy.pid\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\n", a.dir)
	for i, v := range vips {
		fmt.Fprintf(&b, "frontend fe%d\n    bind %s\n    http-request return status 200 content-type text/plain string \"%s\"\n\n", i, net.JoinHostPort(v, "8080"), v)
	}
	return b.String()
}

// writeHAProxy writes a config with one HTTP frontend per VIP, each
// answering its own name, and (re)loads HAProxy.
func (a *appliance) writeHAProxy(vips ...string) {
	a.t.Helper()
	if a.hapCfg == "" {
		a.hapCfg = filepath.Join(a.dir, "haproxy.cfg")
	}
	if err := os.WriteFile(a.hapCfg, []byte(a.haproxyConfig(vips...)), 0o644); err != nil {
		a.t.Fatal(err)
	}
	if out, err := a.vm.Command("haproxy", "-c", "-f", a.hapCfg).CombinedOutput(); err != nil {
		a.t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	if a.haproxy == nil {
		// Master-worker mode: SIGUSR2 to the master reloads, as
		// `systemctl reload haproxy` does.
		cmd := a.vm.Command("haproxy", "-W", "-db", "-f", a.hapCfg)
		log, err := os.Create(filepath.Join(a.dir, "haproxy.log"))
		if err != nil {
			a.t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		a.t.Cleanup(func() {
			if a.t.Failed() {
				data, _ := os.ReadFile(log.Name())
				a.t.Logf("haproxy output:\n%s", data)
			}
		})
		if err := cmd.Start(); err != nil {
			a.t.Fatal(err)
		}
		a.haproxy = cmd
		a.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return
	}
	a.haproxy.Process.Signal(syscall.SIGUSR2)
}

// client speaks HTTP from the "net" namespace, as a user of a VIP would.
func (a *appliance) client() *http.Client {
	return &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true, // every request a new connection: each one proves the VIP answers
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return a.net.Dial(network, addr)
			},
		},
	}
}

func get(c *http.Client, vip string) error {
	resp, err := c.Get("http://" + net.JoinHostPort(vip, "8080") + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != vip {
		return fmt.Errorf("GET %s: %d %q", vip, resp.StatusCode, body)
	}
	return nil
}

func (a *appliance) waitServed(c *http.Client, vip string) {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := get(c, vip)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("VIP %s never answered: %v", vip, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The appliance's whole life: deploy from the shipped example, serve VIPs
// through a real HAProxy, extend the ranges by hand and serve a new VIP,
// and restart the route service again and again without dropping one
// request.
func TestApplianceServesVIPsThroughRestarts(t *testing.T) {
	a := newAppliance(t)
	a.firstboot(filepath.Join(e2etest.Root(), "examples", "ovf-env-3nic.xml"))
	a.startRoutes()
	a.waitRoute("10.40.30.64/26")
	a.waitRoute("10.40.30.128/26")

	c := a.client()
	vips := []string{"10.40.30.70", "10.40.30.150"}
	a.writeHAProxy(vips...)
	for _, v := range vips {
		a.waitServed(c, v)
	}

	// The operator extends the ranges by hand; the service applies the
	// edit, a new frontend binds on it after a reload, and it answers.
	f, err := os.OpenFile(a.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# web tier, added by hand\n10.40.30.32/28\n")
	f.Close()
	a.waitRoute("10.40.30.32/28")
	vips = append(vips, "10.40.30.33")
	a.writeHAProxy(vips...)
	a.waitServed(c, "10.40.30.33")

	// Restart the route service in a loop while a client keeps asking
	// every VIP: a restart must never take a VIP away.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil && i < 100_000; i++ {
			if err := get(c, vips[i%len(vips)]); err != nil {
				if failed.Add(1) == 1 {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			} else {
				ok.Add(1)
			}
		}
	}()
	// TCP hides a short outage behind SYN retransmits, so also watch the
	// table itself: every range must stay in place the whole time.
	var samples, gaps atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		h := a.vm.Netlink(t)
		filter := &netlink.Route{Table: unix.RT_TABLE_LOCAL, Protocol: 241}
		for ctx.Err() == nil {
			rs, err := h.RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
			if err != nil {
				continue
			}
			samples.Add(1)
			if len(rs) < 3 {
				gaps.Add(1)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	for i := 0; i < 10; i++ {
		a.stopRoutes()
		time.Sleep(50 * time.Millisecond) // the gap a restart leaves
		a.startRoutes()
		time.Sleep(150 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("%d requests answered, %d failed across 10 restarts", ok.Load(), failed.Load())
	if ok.Load() == 0 {
		t.Fatal("no request was answered")
	}
	t.Logf("%d table samples, %d with a range missing", samples.Load(), gaps.Load())
	if samples.Load() == 0 {
		t.Fatal("the table was never sampled")
	}
	if gaps.Load() > 0 {
		t.Errorf("ranges went missing from the table in %d samples during restarts", gaps.Load())
	}
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d requests failed across restarts; first: %v", n, firstErr)
	}
}

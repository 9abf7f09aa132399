// Package boottest boots the appliance under real systemd: a Debian root
// filesystem (scripts/boot-image.sh) with the project installed by `make
// install DESTDIR=... PREFIX=/usr` and its units enabled, started with
// systemd-nspawn inside a network namespace the test creates. A second
// namespace holds the routers and clients, one veth network per NIC role, and
// a guestinfo server on the host side answers the stand-in vmware-rpctool.
//
// How the container is driven, and why:
//   - nspawn runs in the appliance namespace (entered with nsenter --net, not
//     `ip netns exec`, which remounts /sys and so hides the cgroup mounts
//     nspawn needs) without --private-network, so the veth ends the test
//     made are the container's NICs; --capability=CAP_NET_ADMIN lets its
//     systemd-networkd and anyip configure them.
//   - This machine's PID 1 need not be systemd: nspawn runs with
//     --register=no --keep-unit (no machined), and the test reaches the
//     container with nsenter into its PID 1's namespaces (no machinectl).
//   - systemd-sysctl does not run inside nspawn; the test applies the
//     net.* settings of the installed sysctl.d files to the namespace itself.
//
// Nothing here touches this machine's own network, routes or /etc: the
// container's root is a directory under RunsDir, its network the test's
// namespaces; nspawn's own leftovers (/run/systemd/nspawn/propagate/NAME)
// and those of runs that were killed are removed by name.
//
// The tests' appliances boot one after another, never side by side: nspawn
// runs each in the test's own cgroup (--keep-unit; there is no machined
// here), so two containers' systemd would share, and tear down, each
// other's unit cgroups ("Failed at step CGROUP" on a cgroup v1 hybrid
// host, and a guestinfo caller seen in the other container's init.scope).
package boottest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
)

// RunsDir holds one directory per appliance of a running test: its root
// filesystem, console logs and the guestinfo socket.
const RunsDir = "/var/tmp/anyip-boottest"

// namePrefix starts every machine name; the creating process's PID follows,
// so that stale runs can be told from live ones.
const namePrefix = "anyip-b-"

//go:embed image
var imageFiles embed.FS

// Appliance is one appliance: a root filesystem, its namespaces and, while
// booted, its container.
//
// Its methods fail the test they were given; For gives the same appliance
// to a subtest (a scenario).
type Appliance struct {
	t *testing.T
	*machine
}

// For returns the appliance with failures reported to t.
func (a *Appliance) For(t *testing.T) *Appliance { return &Appliance{t: t, machine: a.machine} }

type machine struct {
	Name string
	dir  string
	// Root is the container's root directory on the host.
	Root string
	// VM is the appliance's network namespace, Net the routers' (one end
	// of each NIC's network, forwarding between them) and the clients' on
	// those networks.
	VM, Net *netnstest.NS
	// Far is a client network behind the routers (ClientNet, the client
	// at Client), and Backend the first additional workload network
	// behind them, with an HTTP server at BackendAddr (nil when the
	// environment has none).
	Far, Backend *netnstest.NS
	Client       netip.Addr
	BackendAddr  netip.AddrPort
	// GuestInfo is the VM's guestinfo, kept across reboots.
	GuestInfo *GuestInfo
	// NICs are the appliance's networks.
	NICs []NIC

	// top is the test the appliance was made for: what lives as long as
	// the appliance is cleaned up with it, not with a scenario.
	top *testing.T
	// routerAddrs are addresses added to the routers' ends (AddRouterAddr),
	// by role.
	routerAddrs map[string][]netip.Prefix

	uuid    string
	boots   int
	nspawn  *exec.Cmd
	exited  chan struct{}
	leader  int
	console string
}

// Options say what the appliance is built with.
type Options struct {
	// Env is guestinfo.ovfEnv at the first boot. It also lays out the
	// networks (one per NIC it configures), so it is required; unset
	// guestinfo.ovfEnv with GuestInfo.Set before a boot to boot without.
	Env []byte
	// HAProxy is /etc/haproxy/haproxy.cfg ("" keeps the package's).
	HAProxy string
	// DHCP gives the network of each role whose address the environment
	// leaves to DHCP: its router (the subnet's first address) leases
	// addresses from it.
	DHCP map[string]netip.Prefix
}

// New builds an appliance from the cached image and registers its removal.
// It skips (or fails, with ANYIP_REQUIRE_NETNS=1) where containers cannot be
// run here.
func New(t *testing.T, o Options) *Appliance {
	t.Helper()
	requireTools(t)
	reapOnce.Do(reapStale)
	tarball := image(t)

	name := namePrefix + strconv.FormatInt(int64(os.Getpid()), 36) + "-" + randHex(3)
	a := &Appliance{t: t, machine: &machine{Name: name, dir: filepath.Join(RunsDir, name), uuid: randHex(16), top: t, routerAddrs: map[string][]netip.Prefix{}}}
	a.Root = filepath.Join(a.dir, "root")
	nics, backends, err := nicsFromEnv(o.Env, o.DHCP)
	if err != nil {
		t.Fatalf("boottest: %v", err)
	}
	a.NICs = nics

	// Namespaces first: their cleanups then run after the container's.
	a.VM, a.Net, a.Far = netnstest.New(t), netnstest.New(t), netnstest.New(t)
	if len(backends) > 0 {
		a.Backend = netnstest.New(t)
	}
	if err := os.MkdirAll(a.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.destroy)

	run(t, "tar", "-xf", tarball, "-C", a.Root)
	install(t, a.Root)
	a.overlay(o)
	a.network()
	a.outside(backends)
	a.dhcp(o.DHCP)

	gi, err := newGuestInfo(filepath.Join(a.dir, "guestinfo"))
	if err != nil {
		t.Fatalf("boottest: guestinfo server: %v", err)
	}
	a.GuestInfo = gi
	if o.Env != nil {
		gi.Set("guestinfo.ovfEnv", string(o.Env))
	}
	return a
}

// requireTools checks what booting needs.
func requireTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "booting a container needs root (euid %d)", os.Geteuid())
	}
	for _, c := range []string{"systemd-nspawn", "nsenter", "tar", "make"} {
		if _, err := exec.LookPath(c); err != nil {
			unavailable(t, "%s not found (scripts/deps.sh installs it): %v", c, err)
		}
	}
}

func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := "boottest: cannot boot the appliance here: " + fmt.Sprintf(format, args...)
	if os.Getenv(netnstest.RequireEnv) == "1" {
		t.Fatal(msg + " (" + netnstest.RequireEnv + "=1)")
	}
	t.Skip(msg)
}

// image returns the cached root filesystem tarball, building it if needed.
func image(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(e2etest.Root(), "scripts", "boot-image.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("boottest: scripts/boot-image.sh: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

var (
	installMu sync.Mutex
	binOnce   sync.Once
	binDir    string
)

// install puts the project into root as an image builder would, and enables
// its units. The binaries are static: the image's C library need not be
// this machine's.
func install(t *testing.T, root string) {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	binOnce.Do(func() {
		binDir = filepath.Join(RunsDir, "bin-"+strconv.FormatInt(int64(os.Getpid()), 36))
	})
	cmd := exec.Command("make", "-s", "-C", e2etest.Root(), "install", "DESTDIR="+root, "PREFIX=/usr", "BIN="+binDir)
	// Not the make that may be running the tests: no jobserver, no flags.
	var env []string
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" {
			env = append(env, e)
		}
	}
	cmd.Env = append(env, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("boottest: make install DESTDIR=%s: %v\n%s", root, err, out)
	}
	// Every unit the project ships, so that a new one is booted too.
	units, _ := filepath.Glob(filepath.Join(e2etest.Root(), "systemd", "*.service"))
	if len(units) == 0 {
		t.Fatal("boottest: no units in systemd/")
	}
	args := []string{"--root=" + root, "--quiet", "enable"}
	for _, u := range units {
		args = append(args, filepath.Base(u))
	}
	run(t, "systemctl", args...)
}

// overlay adds what only the test needs: the stand-in vmware-rpctool, a
// shorter watchdog and HAProxy's configuration.
func (a *Appliance) overlay(o Options) {
	a.writeFile("/usr/local/bin/vmware-rpctool", mustRead("image/vmware-rpctool"), 0o755)
	a.writeFile("/etc/systemd/system/anyip-routes.service.d/50-boottest-watchdog.conf", mustRead("image/anyip-routes-watchdog.conf"), 0o644)
	if o.HAProxy != "" {
		a.writeFile("/etc/haproxy/haproxy.cfg", []byte(o.HAProxy), 0o644)
	}
}

func mustRead(name string) []byte {
	b, err := imageFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

// writeFile writes a file into the root filesystem (before a boot, as the
// image build would).
func (a *Appliance) writeFile(path string, data []byte, mode os.FileMode) {
	a.t.Helper()
	p := filepath.Join(a.Root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		a.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		a.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		a.t.Fatal(err)
	}
}

// ReadFile reads a file of the appliance from the host side.
func (a *Appliance) ReadFile(path string) string {
	a.t.Helper()
	b, err := os.ReadFile(filepath.Join(a.Root, path))
	if err != nil {
		a.t.Fatalf("boottest: read %s of the appliance: %v", path, err)
	}
	return string(b)
}

// BootTimes are what one boot took, from the start of nspawn.
type BootTimes struct {
	// Serving is when the first of the probed URLs answered (0: none
	// given, or none answered).
	Serving time.Duration
	// Running is when systemd reported the boot finished (running or
	// degraded).
	Running time.Duration
}

// Boot starts the container and waits until systemd has finished booting.
// Meanwhile it polls probe (URLs reached from Net) to time when the VIPs
// start serving.
func (a *Appliance) Boot(probe ...string) BootTimes {
	a.t.Helper()
	if a.nspawn != nil {
		a.t.Fatal("boottest: Boot: already running")
	}
	if a.boots > 0 {
		a.powerCycle()
	}
	a.boots++
	a.console = filepath.Join(a.dir, fmt.Sprintf("console-%d.log", a.boots))
	logf, err := os.Create(a.console)
	if err != nil {
		a.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("nsenter", "--net=/run/netns/"+a.VM.Name, "--",
		"systemd-nspawn", "--boot", "--directory="+a.Root, "--machine="+a.Name, "--uuid="+a.uuid,
		"--register=no", "--keep-unit", "--capability=CAP_NET_ADMIN",
		"--resolv-conf=off", "--timezone=off", "--link-journal=no", "--console=read-only",
		"--bind="+a.GuestInfo.Dir+":"+guestDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A test binary that dies takes its containers with it (reapStale
	// handles what survives anyway). The signal comes when the thread
	// that started the child ends, so that thread is kept, locked, for the
	// container's life: the Go runtime ends threads whose goroutine exits
	// locked, as netnstest.Do's do.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	started := make(chan error, 1)
	a.exited = make(chan struct{})
	go func(exited chan struct{}) {
		runtime.LockOSThread()
		defer close(exited)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
	}(a.exited)
	if err := <-started; err != nil {
		a.t.Fatalf("boottest: start systemd-nspawn: %v", err)
	}
	a.nspawn = cmd

	var times BootTimes
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		for len(probe) > 0 && ctx.Err() == nil {
			if _, err := a.httpGet(probe[0], 200*time.Millisecond); err == nil {
				times.Serving = time.Since(start)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	// However Boot ends, the probe has stopped before times is read.
	defer func() { cancel(); <-probed }()

	a.leader = 0
	for a.leader == 0 {
		select {
		case <-a.exited:
			a.t.Fatalf("boottest: boot %d: systemd-nspawn exited: %s\n%s", a.boots, cmd.ProcessState, a.consoleTail(30))
		case <-ctx.Done():
			a.t.Fatalf("boottest: boot %d: no container init after 60 s\n%s", a.boots, a.consoleTail(30))
		case <-time.After(10 * time.Millisecond):
		}
		a.leader = containerInit(cmd.Process.Pid)
	}
	writeLeader(a.dir, a.leader)
	// --wait blocks until the boot job is done; it may briefly fail while
	// the container's systemd is still setting up its private socket.
	for {
		code, out, _ := a.exec(ctx, "systemctl", "is-system-running", "--wait")
		state := strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			times.Running = time.Since(start)
			break
		}
		if ctx.Err() != nil {
			a.t.Fatalf("boottest: boot %d: not booted after 60 s (is-system-running: %q, exit %d)\n%s", a.boots, state, code, a.JournalTail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The VIPs may come up after the boot is reported done (HAProxy is not
	// what the boot waits for); give them a few seconds more.
	select {
	case <-probed:
	case <-time.After(10 * time.Second):
	}
	cancel()
	<-probed
	return times
}

// powerCycle gives the next boot what a VM's power cycle gives it: a
// kernel with no routes, rules or addresses of the last boot. The NICs move
// to a new namespace (the old one, emptied, goes with the test); the
// routers' ends are made again, with the addresses added to them.
func (a *Appliance) powerCycle() {
	a.t.Helper()
	for _, n := range a.NICs {
		// Deleting one end of a veth pair deletes both.
		a.VM.Run(a.t, "ip", "link", "del", n.Role)
	}
	a.VM = netnstest.New(a.top)
	a.network()
}

// AddRouterAddr gives the router of a role's network another address, kept
// across reboots.
func (a *Appliance) AddRouterAddr(role string, p netip.Prefix) {
	a.t.Helper()
	a.Net.Run(a.t, "ip", "addr", "add", p.String(), "dev", "r-"+role)
	a.routerAddrs[role] = append(a.routerAddrs[role], p)
}

// containerInit finds the container's PID 1 (as this machine numbers it):
// the child of nspawn that is PID 1 in its own PID namespace.
func containerInit(nspawn int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		var ppid int
		var nspid []string
		sc := bufio.NewScanner(bytes.NewReader(st))
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			switch k {
			case "PPid":
				ppid, _ = strconv.Atoi(strings.TrimSpace(v))
			case "NSpid":
				nspid = strings.Fields(v)
			}
		}
		if ppid == nspawn && len(nspid) >= 2 && nspid[len(nspid)-1] == "1" {
			return pid
		}
	}
	return 0
}

// Shutdown powers the container off as systemd does on SIGTERM to nspawn
// (SIGRTMIN+3 to the container's init) and waits for it to be gone.
func (a *Appliance) Shutdown() {
	a.t.Helper()
	if a.nspawn == nil {
		return
	}
	a.nspawn.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		a.kill()
		a.t.Fatalf("boottest: shutdown: the container did not stop within 30 s\n%s", a.consoleTail(30))
	}
	killContainer(a.Name, a.dir) // should nspawn have left its init behind
	a.nspawn, a.leader = nil, 0
	removePropagate(a.Name)
}

// Reboot is Shutdown then Boot: the root filesystem, the machine ID, the
// NICs and the guestinfo carry over, as across a VM's power cycle.
func (a *Appliance) Reboot(probe ...string) BootTimes {
	a.t.Helper()
	a.Shutdown()
	return a.Boot(probe...)
}

func (a *Appliance) kill() {
	if a.nspawn == nil {
		return
	}
	killContainer(a.Name, a.dir)
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
	}
	a.nspawn, a.leader = nil, 0
}

// destroy stops the container and removes what the run made.
func (a *Appliance) destroy() {
	if a.nspawn != nil {
		a.nspawn.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.exited:
		case <-time.After(20 * time.Second):
		}
		a.kill()
	}
	if a.GuestInfo != nil {
		a.GuestInfo.Close()
	}
	removePropagate(a.Name)
	removeLock(a.Root)
	if err := os.RemoveAll(a.dir); err != nil {
		a.t.Errorf("boottest: remove %s: %v", a.dir, err)
	}
}

// removePropagate removes the directory nspawn keeps for a machine on this
// side (it cannot remove it itself where /run is not a tmpfs).
func removePropagate(name string) {
	os.RemoveAll(filepath.Join("/run/systemd/nspawn/propagate", name))
}

// removeLock removes the lock file nspawn keeps for a root directory, named
// after its device and inode, which it leaves behind where /run is not a
// tmpfs.
func removeLock(root string) {
	var st syscall.Stat_t
	if syscall.Stat(root, &st) == nil {
		os.Remove(fmt.Sprintf("/run/systemd/nspawn/locks/inode-%d:%d", st.Dev, st.Ino))
	}
}

// Cleanup removes what the test binary shares between its appliances (the
// built binaries); call it from TestMain after the tests.
func Cleanup() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// exec runs a command inside the container and returns its exit code and
// output; a command that cannot be started at all is exit code -1.
func (a *Appliance) exec(ctx context.Context, name string, args ...string) (int, string, string) {
	if a.leader == 0 {
		return -1, "", errNoContainer.Error()
	}
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--target", strconv.Itoa(a.leader), "--all", "--", name}, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER="}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	case err != nil:
		return -1, out.String(), err.Error()
	}
	return 0, out.String(), errb.String()
}

var errNoContainer = errors.New("the container is not running")

// Exec runs a command inside the booted appliance (bounded to 60 s) and
// returns its exit code, stdout and stderr.
func (a *Appliance) Exec(name string, args ...string) (int, string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return a.exec(ctx, name, args...)
}

// MustExec runs a command inside the appliance; a non-zero exit fails the
// test with its output and the journal.
func (a *Appliance) MustExec(name string, args ...string) string {
	a.t.Helper()
	code, out, errs := a.Exec(name, args...)
	if code != 0 {
		a.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), code, out, errs)
	}
	return out
}

// Sh runs a shell command line inside the appliance, as an operator would.
func (a *Appliance) Sh(line string) string {
	a.t.Helper()
	return a.MustExec("sh", "-c", line)
}

// Show returns properties of a unit (systemctl show).
func (a *Appliance) Show(unit string, props ...string) map[string]string {
	a.t.Helper()
	out := a.MustExec("systemctl", "show", unit, "--property="+strings.Join(props, ","))
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Mono returns a monotonic timestamp property of a unit, in microseconds.
func (a *Appliance) Mono(unit, prop string) int64 {
	a.t.Helper()
	v := a.Show(unit, prop)[prop]
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		a.Fatalf("systemctl show %s -p %s: %q is not a number", unit, prop, v)
	}
	return n
}

// Journal returns this boot's journal lines (message only) for the given
// journalctl arguments, e.g. "-u", "anyip-firstboot".
func (a *Appliance) Journal(args ...string) string {
	a.t.Helper()
	_, out, _ := a.Exec("journalctl", append([]string{"-b", "--no-pager", "-o", "cat"}, args...)...)
	return out
}

// JournalTail is the end of this boot's journal, for failure messages.
func (a *Appliance) JournalTail(n int) string {
	code, out, errs := a.Exec("journalctl", "-b", "--no-pager", "-o", "short-monotonic", "-n", strconv.Itoa(n))
	if code != 0 {
		return "--- journal unavailable (" + strings.TrimSpace(errs) + "); console:\n" + a.consoleTail(n)
	}
	return "--- journal of the appliance, last " + strconv.Itoa(n) + " lines of this boot:\n" + out
}

func (a *Appliance) consoleTail(n int) string {
	b, _ := os.ReadFile(a.console)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- console of boot " + strconv.Itoa(a.boots) + ":\n" + strings.Join(lines, "\n")
}

// Fatalf fails the scenario (the running test's name) with what was
// expected and the container's journal.
func (a *Appliance) Fatalf(format string, args ...any) {
	a.t.Helper()
	a.t.Fatalf("scenario %s: %s\n%s", a.t.Name(), fmt.Sprintf(format, args...), a.JournalTail(40))
}

// Routes are our routes (protocol 241) in the appliance's table local.
func (a *Appliance) Routes() []string {
	a.t.Helper()
	return a.VM.LocalRoutes(a.t, "241")
}

// HTTPGet fetches url from the routers' and clients' namespace; anything
// but 200 is an error.
func (a *Appliance) HTTPGet(url string) (string, error) { return a.httpGet(url, 2*time.Second) }

// HTTPGetFar fetches url from the client behind the routers (Far).
func (a *Appliance) HTTPGetFar(url string) (string, error) { return httpGet(a.Far, url, 2*time.Second) }

func (a *Appliance) httpGet(url string, timeout time.Duration) (string, error) {
	return httpGet(a.Net, url, timeout)
}

func httpGet(ns *netnstest.NS, url string, timeout time.Duration) (string, error) {
	c := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			// The client's socket belongs to Net; the context bounds the
			// connect, so a SYN lost before the VIP existed is not waited
			// for until the kernel retransmits it a second later.
			DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
				err = ns.Do(func() error {
					c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
		},
	}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(http.MaxBytesReader(nil, resp.Body, 1<<16)); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return b.String(), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return b.String(), nil
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("boottest: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

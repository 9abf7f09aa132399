// Package netnstest gives tests a network namespace of their own, so that
// code which changes routes, addresses and links runs against the real
// kernel without touching the host's tables.
//
// Namespaces are created with iproute2 (`ip netns add`), so they are named
// bind mounts under /run/netns: `ip netns exec NAME ...` works on them, which
// is how end-to-end tests run the built binaries (and HAProxy) inside.
//
// Stand-in NICs are veth pairs, never `dummy` links: the dummy link type
// needs a kernel module that our CI machines and build hosts may not have
// (`ip link add x type dummy` fails with "Unknown device type"), while veth
// is built into every kernel we run on. A veth end with an address behaves
// like a NIC for everything these tests need (addresses, kernel local
// routes, neighbour traffic to the peer end).
package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/runlock"
)

// RequireEnv names the environment variable that turns "cannot create a
// namespace" from a skip into a failure (set by .ci/run).
const RequireEnv = "ANYIP_REQUIRE_NETNS"

// namePrefix starts every namespace this package creates. The creating
// process's PID follows it, so that New can remove namespaces left behind by
// test binaries that were killed before their cleanups ran.
const namePrefix = "anyip-t-"

// netnsDir is where iproute2 keeps named namespaces.
const netnsDir = "/run/netns"

// NS is a named network namespace created for one test and removed by
// t.Cleanup.
type NS struct {
	// Name is the iproute2 name (`ip netns exec Name ...`).
	Name string
	// Handle is an open descriptor of the namespace, valid until cleanup.
	Handle netns.NsHandle
	// Lock is the run lock (runlock) of the commands run by Command: one
	// per namespace, as one appliance has one, and never the host's.
	Lock string
}

// Every test binary that makes namespaces runs the project's commands, and
// first boot writes the network of the machine it runs on unless given
// --root: with this set (and inherited by every command a test starts), a
// test that forgets --root fails instead of writing this machine's /etc.
func init() { os.Setenv("ANYIP_NO_LIVE_ROOT", "1") }

// addMu serialises `ip netns add` within one test binary: the first call
// sets up the /run/netns mount and concurrent first calls can trip over
// each other.
var addMu sync.Mutex

// reapOnce removes leftovers of dead test binaries once per process.
var reapOnce sync.Once

// New creates a fresh named network namespace with `lo` up and registers its
// removal with t.Cleanup (cleanups also run when the test fails or panics).
// If namespaces cannot be created here (not root, no permission, no `ip`),
// the test is skipped, or fails when ANYIP_REQUIRE_NETNS=1.
func New(t testing.TB) *NS {
	t.Helper()
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		unavailable(t, "iproute2 `ip` not found in PATH: %v", err)
	}
	if os.Geteuid() != 0 {
		unavailable(t, "creating network namespaces needs root (euid %d)", os.Geteuid())
	}
	reapOnce.Do(reapStale)

	name := namePrefix + strconv.FormatInt(int64(os.Getpid()), 36) + "-" + randHex(3)
	addMu.Lock()
	out, err := exec.Command(ipPath, "netns", "add", name).CombinedOutput()
	addMu.Unlock()
	if err != nil {
		unavailable(t, "ip netns add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	n := &NS{Name: name, Handle: netns.None(), Lock: filepath.Join(t.TempDir(), "anyip.lock")}
	// Registered before anything else can fail, so the namespace goes away
	// whatever happens next.
	t.Cleanup(func() {
		if n.Handle.IsOpen() {
			n.Handle.Close()
		}
		if out, err := exec.Command(ipPath, "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("netnstest: ip netns del %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
	})

	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("netnstest: open namespace %s: %v", name, err)
	}
	n.Handle = h

	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatalf("netnstest: netlink handle in %s: %v", name, err)
	}
	defer nl.Close()
	lo, err := nl.LinkByName("lo")
	if err != nil {
		t.Fatalf("netnstest: %s: find lo: %v", name, err)
	}
	if err := nl.LinkSetUp(lo); err != nil {
		t.Fatalf("netnstest: %s: set lo up: %v", name, err)
	}
	return n
}

// unavailable skips the test, or fails it when the environment demands
// namespaces.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := "netnstest: network namespaces unavailable: " + fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal(msg + " (" + RequireEnv + "=1)")
	} else {
		t.Skip(msg)
	}
}

// Netlink returns a netlink handle bound to the namespace, closed on cleanup.
func (n *NS) Netlink(t testing.TB) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(n.Handle)
	if err != nil {
		t.Fatalf("netnstest: netlink handle in %s: %v", n.Name, err)
	}
	t.Cleanup(h.Close)
	return h
}

// Command returns a command that runs name with args inside the namespace
// (`ip netns exec NAME env ANYIP_LOCK=... name args...`), with the
// namespace's run lock whatever environment the caller gives it. Both ip
// and env exec in place: the command's process is the one started.
func (n *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, envPath(), runlock.Env + "=" + n.Lock, name}, args...)...)
}

// envPath is env(1) by its full path, found with the test's own PATH:
// callers may give the command a PATH without it.
var envPath = sync.OnceValue(func() string {
	if p, err := exec.LookPath("env"); err == nil {
		return p
	}
	return "/usr/bin/env"
})

// Run runs a command inside the namespace and returns its combined output.
// A failure to run or a non-zero exit fails the test, with the output.
func (n *NS) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := n.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("netnstest: in %s: %s %s: %v\n%s", n.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Veth creates a veth pair with end local in n and end peerName in peer
// (which may be n itself), brings both up and gives them the addresses
// localAddr and peerAddr in CIDR form ("" for none). IPv6 addresses are added
// without duplicate address detection so they are usable at once.
// The links disappear with their namespaces.
func (n *NS) Veth(t testing.TB, local, localAddr string, peer *NS, peerName, peerAddr string) {
	t.Helper()
	if peer == nil {
		t.Fatalf("netnstest: Veth %s: peer namespace is nil", local)
	}
	h := n.Netlink(t)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: local}, PeerName: peerName}
	if peer != n {
		// Create the peer end directly in its namespace: no name clash in
		// n, and no window where it exists in the wrong place.
		veth.PeerNamespace = netlink.NsFd(int(peer.Handle))
	}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatalf("netnstest: add veth %s (%s) <-> %s (%s): %v", local, n.Name, peerName, peer.Name, err)
	}
	setUp(t, n, h, local, localAddr)
	ph := h
	if peer != n {
		ph = peer.Netlink(t)
	}
	setUp(t, peer, ph, peerName, peerAddr)
}

func setUp(t testing.TB, n *NS, h *netlink.Handle, name, cidr string) {
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("netnstest: %s: find %s: %v", n.Name, name, err)
	}
	if cidr != "" {
		addr, err := netlink.ParseAddr(cidr)
		if err != nil {
			t.Fatalf("netnstest: %s: address %q for %s: %v", n.Name, cidr, name, err)
		}
		if addr.IP.To4() == nil {
			addr.Flags |= unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(link, addr); err != nil {
			t.Fatalf("netnstest: %s: add %s to %s: %v", n.Name, cidr, name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatalf("netnstest: %s: set %s up: %v", n.Name, name, err)
	}
}

// Do runs f on an OS thread that is inside the namespace, for code that
// creates sockets (a socket belongs to the namespace it was created in and
// keeps it after the thread leaves). The thread is discarded afterwards
// rather than returned to the Go scheduler, so no other goroutine can ever
// run in the wrong namespace.
func (n *NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Deliberately never unlocked: a goroutine that exits while locked
		// takes its thread with it.
		runtime.LockOSThread()
		if err := netns.Set(n.Handle); err != nil {
			errc <- fmt.Errorf("netnstest: enter %s: %w", n.Name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Listen opens a listener inside the namespace (see net.Listen).
func (n *NS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) {
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// Dial connects from inside the namespace (see net.Dial).
func (n *NS) Dial(network, address string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		c, err = net.Dial(network, address)
		return err
	})
	return c, err
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ReapStale removes the namespaces of test binaries that no longer run, as
// New does once per process (for tests of cleanup after a killed run).
func ReapStale() { reapStale() }

// reapStale deletes namespaces named by this package whose creating process
// no longer exists (a test binary killed by a timeout or a signal runs no
// cleanups). Best effort: errors are ignored.
func reapStale() {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), namePrefix)
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.ParseInt(pidStr, 36, 32)
		if err != nil || pid <= 0 || processAlive(int(pid)) {
			continue
		}
		_ = exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Exists reports whether a named namespace is present (for tests of
// cleanup).
func Exists(name string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, name))
	return err == nil
}

// Exec runs cmd (usually from Command) and returns its exit code and what
// it wrote to stdout and stderr. A non-zero exit is a result, not a test
// failure; only a command that cannot run at all fails the test.
func Exec(t testing.TB, cmd *exec.Cmd) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("netnstest: run %s: %v", strings.Join(cmd.Args, " "), err)
	}
	return code, out.String(), errb.String()
}

// LocalRoutes returns the prefixes of the `local ... dev lo` routes in
// table local with route protocol proto, both families, sorted, as
// iproute2 prints them: tests read the kernel with a tool other than the
// code under test.
func (n *NS) LocalRoutes(t testing.TB, proto string) []string {
	t.Helper()
	var out []string
	for _, fam := range []string{"-4", "-6"} {
		for _, l := range strings.Split(n.Run(t, "ip", fam, "route", "show", "table", "local", "proto", proto), "\n") {
			f := strings.Fields(l)
			if len(f) >= 4 && f[0] == "local" && slices.Contains(f, "lo") {
				out = append(out, f[1])
			}
		}
	}
	slices.Sort(out)
	return out
}

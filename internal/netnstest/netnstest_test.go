package netnstest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

func TestNewIsolatedWithLoUp(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		n := New(t)
		name = n.Name
		if !strings.HasPrefix(n.Name, namePrefix) {
			t.Errorf("name %q lacks prefix %q", n.Name, namePrefix)
		}
		if len(n.Name) > 32 {
			t.Errorf("name %q is longer than 32 bytes", n.Name)
		}
		if !Exists(n.Name) {
			t.Fatalf("namespace %s not in %s", n.Name, netnsDir)
		}
		host, err := netns.Get()
		if err != nil {
			t.Fatal(err)
		}
		defer host.Close()
		if n.Handle.Equal(host) {
			t.Fatal("Handle refers to the test process's own namespace")
		}

		lo, err := n.Netlink(t).LinkByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		if lo.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("lo is not up: flags %v", lo.Attrs().Flags)
		}
		// Only lo: nothing of the host leaks in, and Run really runs inside.
		links := strings.Split(strings.TrimSpace(n.Run(t, "ip", "-o", "link", "show")), "\n")
		if len(links) != 1 || !strings.Contains(links[0], " lo:") {
			t.Errorf("ip link inside %s shows %q, want only lo", n.Name, links)
		}
	})
	if name == "" {
		t.Skip("inner test skipped")
	}
	if Exists(name) {
		t.Errorf("namespace %s still exists after its test ended", name)
		exec.Command("ip", "netns", "del", name).Run()
	}
}

func TestNamesAreUnique(t *testing.T) {
	a, b := New(t), New(t)
	if a.Name == b.Name {
		t.Fatalf("two namespaces named %s", a.Name)
	}
}

func TestVethConnectsNamespaces(t *testing.T) {
	a, b := New(t), New(t)
	a.Veth(t, "veth-a", "192.0.2.1/24", b, "veth-b", "192.0.2.2/24")
	a.Veth(t, "v6-a", "2001:db8:9::1/64", b, "v6-b", "2001:db8:9::2/64")

	for _, tc := range []struct {
		ns        *NS
		link, ip  string
		notInPeer string
	}{
		{a, "veth-a", "192.0.2.1", "veth-b"},
		{b, "veth-b", "192.0.2.2", "veth-a"},
		{a, "v6-a", "2001:db8:9::1", "v6-b"},
		{b, "v6-b", "2001:db8:9::2", "v6-a"},
	} {
		l, err := tc.ns.Netlink(t).LinkByName(tc.link)
		if err != nil {
			t.Fatalf("%s in %s: %v", tc.link, tc.ns.Name, err)
		}
		if l.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("%s in %s is not up", tc.link, tc.ns.Name)
		}
		out := tc.ns.Run(t, "ip", "-o", "addr", "show", "dev", tc.link)
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, " "+tc.ip+"/") {
				line = l
			}
		}
		if line == "" {
			t.Errorf("%s in %s lacks %s:\n%s", tc.link, tc.ns.Name, tc.ip, out)
		} else if strings.Contains(line, "tentative") {
			t.Errorf("%s in %s: %s is tentative (DAD not disabled): %s", tc.link, tc.ns.Name, tc.ip, line)
		}
		if _, err := tc.ns.Netlink(t).LinkByName(tc.notInPeer); err == nil {
			t.Errorf("%s is in %s, want it only in the other namespace", tc.notInPeer, tc.ns.Name)
		}
	}

	for _, addr := range []string{"192.0.2.2:7000", "[2001:db8:9::2]:7001"} {
		l, err := b.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on %s in %s: %v", addr, b.Name, err)
		}
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello from %s\n", addr)
			c.Close()
		}()
		c, err := a.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s from %s: %v", addr, a.Name, err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if want := "hello from " + addr + "\n"; line != want {
			t.Errorf("read %q over veth, want %q", line, want)
		}
	}

	// The host cannot reach b's address: the veth never touched the host.
	if c, err := net.Dial("tcp", "192.0.2.2:7000"); err == nil {
		c.Close()
		t.Error("host reached 192.0.2.2 inside a test namespace")
	}
}

func TestVethSameNamespace(t *testing.T) {
	a := New(t)
	a.Veth(t, "x0", "", a, "x1", "")
	for _, name := range []string{"x0", "x1"} {
		if _, err := a.Netlink(t).LinkByName(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCommandExitStatus(t *testing.T) {
	n := New(t)
	if err := n.Command("false").Run(); err == nil {
		t.Error("Command(false).Run() succeeded")
	}
	if out := n.Run(t, "sh", "-c", "echo out; echo err >&2"); out != "out\nerr\n" {
		t.Errorf("Run output %q, want stdout and stderr combined", out)
	}
}

// TestCleanupAfterPanic runs a test that creates a namespace and panics in a
// child process, then checks the namespace is gone.
func TestCleanupAfterPanic(t *testing.T) {
	if os.Getenv("NETNSTEST_PANIC_CHILD") == "1" {
		n := New(t)
		fmt.Printf("NS=%s\n", n.Name)
		panic("deliberate panic with a namespace open")
	}
	New(t) // skip (or fail) here, not in the child, if namespaces are unavailable
	cmd := exec.Command(os.Args[0], "-test.run=^TestCleanupAfterPanic$", "-test.v")
	cmd.Env = append(os.Environ(), "NETNSTEST_PANIC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("child test did not fail:\n%s", out)
	}
	var name string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "NS="); ok {
			name = v
		}
	}
	if name == "" || !strings.Contains(string(out), "deliberate panic") {
		t.Fatalf("child did not create a namespace and panic:\n%s", out)
	}
	if Exists(name) {
		exec.Command("ip", "netns", "del", name).Run()
		t.Fatalf("namespace %s survived a panicking test", name)
	}
}

type recordingTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordingTB) Helper()           {}
func (r *recordingTB) Skip(args ...any)  { r.skipped = fmt.Sprint(args...) }
func (r *recordingTB) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }

func TestUnavailableSkipsUnlessRequired(t *testing.T) {
	t.Setenv(RequireEnv, "")
	r := &recordingTB{TB: t}
	unavailable(r, "no %s", "permission")
	if r.fatal != "" || !strings.Contains(r.skipped, "no permission") {
		t.Errorf("without %s: skipped %q, fatal %q; want a skip", RequireEnv, r.skipped, r.fatal)
	}

	t.Setenv(RequireEnv, "1")
	r = &recordingTB{TB: t}
	unavailable(r, "no %s", "permission")
	if r.skipped != "" || !strings.Contains(r.fatal, "no permission") {
		t.Errorf("with %s=1: skipped %q, fatal %q; want a failure", RequireEnv, r.skipped, r.fatal)
	}
}

func TestReapStaleRemovesDeadCreators(t *testing.T) {
	New(t) // ensures we can create namespaces at all
	// A PID far above pid_max cannot be alive.
	name := namePrefix + "zzzzz-" + randHex(3)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if Exists(name) {
			exec.Command("ip", "netns", "del", name).Run()
		}
	})
	live := New(t) // this process is alive: must survive
	reapStale()
	if Exists(name) {
		t.Errorf("stale namespace %s not reaped", name)
	}
	if !Exists(live.Name) {
		t.Errorf("live namespace %s was reaped", live.Name)
	}
}

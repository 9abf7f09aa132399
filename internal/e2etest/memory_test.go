package e2etest_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
)

// The memory bound every command keeps, whatever it is given: hostile
// files within the documented limits are read, parsed and checked in at
// most this much; anything beyond them is refused before it is read.
const peakRSSLimit = 256 << 20

// Each command also runs under a hard address-space limit, so that a
// regression fails the test (the runtime dies of it) rather than the
// machine. It is far above peakRSSLimit because the Go runtime reserves
// address space it never touches.
const addressSpaceLimit = 3 << 30

// hostileInputs is the world of one run: a namespace for the appliance and
// files that are not what a path promises.
type hostileInputs struct {
	t                  *testing.T
	ns                 *netnstest.NS
	dir                string
	zero, fifo, sparse string // a link to /dev/zero, a FIFO nobody writes, an 8 GiB sparse file
	resolvConf, cfg    string // harmless ones
	env                string // a valid OVF environment
}

func newHostileInputs(t *testing.T) *hostileInputs {
	t.Helper()
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Fatal("prlimit is not installed; scripts/deps.sh installs util-linux")
	}
	h := &hostileInputs{t: t, ns: netnstest.New(t), dir: t.TempDir()}
	h.zero = h.path("zero")
	if err := os.Symlink("/dev/zero", h.zero); err != nil {
		t.Fatal(err)
	}
	h.fifo = h.path("fifo")
	if err := syscall.Mkfifo(h.fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	h.sparse = h.path("sparse")
	f, err := os.Create(h.sparse)
	if err == nil {
		err = f.Truncate(8 << 30)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	h.resolvConf = h.write("resolv.conf", nil)
	h.cfg = h.write("anyip-routes.cfg", []byte("10.20.0.128/26\n"))
	h.env = e2etest.Base2NIC().WriteEnv(t, h.path(""))
	e2etest.SeedRoot(t, h.path("root"))
	return h
}

func (h *hostileInputs) path(name string) string { return filepath.Join(h.dir, name) }

func (h *hostileInputs) write(name string, data []byte) string {
	h.t.Helper()
	p := h.path(name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// fill repeats lines from next until the next one would pass size bytes.
func fill(size int, sep string, next func(i int) string) string {
	var b strings.Builder
	for i := 0; ; i++ {
		s := next(i)
		if b.Len()+len(s)+len(sep) > size {
			return b.String()
		}
		b.WriteString(s)
		b.WriteString(sep)
	}
}

// host32 is the i-th address of 11.0.0.0/8 as a /32: distinct ranges, each
// its own route.
func host32(i int) string {
	return fmt.Sprintf("11.%d.%d.%d/32", i>>16&255, i>>8&255, i&255)
}

type run struct {
	code   int
	peak   int64 // bytes
	took   time.Duration
	output string // the tail of stdout and stderr
}

// measure runs a command in the namespace under the address-space limit
// and returns its exit code and peak resident set size. A command that
// does not end within a minute has hung: it is killed and the test
// fails.
func (h *hostileInputs) measure(t *testing.T, env []string, bin string, args ...string) run {
	t.Helper()
	cmd := h.ns.Command("prlimit", append([]string{fmt.Sprintf("--as=%d", addressSpaceLimit), "--", bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out := &tail{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hung := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	if !hung.Stop() {
		t.Fatalf("%s %s did not end within a minute", filepath.Base(bin), strings.Join(args, " "))
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return run{code: cmd.ProcessState.ExitCode(), peak: ru.Maxrss << 10, took: time.Since(start), output: out.String()}
}

// tail keeps the last max bytes written: outputs of a 300,000-range run
// are not the test's to hold.
type tail struct {
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }

type hostileCase struct {
	name string
	env  []string
	bin  string
	args []string
	code int    // the exit code: 1 for a file the operator must fix, 3 for what the system failed at
	say  string // part of the output: the path or the reason
}

func (h *hostileInputs) check(c hostileCase) {
	h.t.Helper()
	h.t.Run(c.name, func(t *testing.T) {
		r := h.measure(t, c.env, c.bin, c.args...)
		t.Logf("peak RSS %.1f MiB, %v, exit %d", float64(r.peak)/(1<<20), r.took.Round(time.Millisecond), r.code)
		if r.code != c.code {
			t.Errorf("exit code %d, want %d\n%s", r.code, c.code, r.output)
		}
		if r.peak > peakRSSLimit {
			t.Errorf("peak RSS %d MiB, more than %d MiB", r.peak>>20, peakRSSLimit>>20)
		}
		if c.say != "" && !strings.Contains(r.output, c.say) {
			t.Errorf("output does not say %q:\n%s", c.say, r.output)
		}
	})
}

func TestMemoryBoundedFirstBoot(t *testing.T) {
	h := newHostileInputs(t)
	fb := e2etest.Binary(t, "anyip-firstboot")
	args := func(extra ...string) []string {
		base := []string{"--publish=false", "--resolv-conf", h.resolvConf, "--ovf-env", h.env, "--root", h.path("root"),
			"--config", h.path("fb.cfg"), "--state-dir", h.path("state")}
		// Later flags win.
		return append(base, extra...)
	}
	stateZero := h.path("state-zero")
	os.Mkdir(stateZero, 0o755)
	os.Symlink("/dev/zero", filepath.Join(stateZero, "firstboot.yaml"))
	stateSparse := h.path("state-sparse")
	os.Mkdir(stateSparse, 0o755)
	if f, err := os.Create(filepath.Join(stateSparse, "firstboot.yaml")); err == nil {
		f.Truncate(8 << 30)
		f.Close()
	}
	// A vmware-rpctool that never stops printing.
	tools := h.path("tools")
	os.Mkdir(tools, 0o755)
	h.write("tools/vmware-rpctool", []byte("#!/bin/sh\nexec cat /dev/zero\n"))
	os.Chmod(filepath.Join(tools, "vmware-rpctool"), 0o755)

	// Within the limits: a 4 MiB environment of one range repeated, and
	// one of 250,000 distinct ranges.
	const envRoom = 4<<20 - 4<<10 // the rest of the document
	dup := e2etest.Base2NIC().With("loadbalance.service_ip_range",
		fill(envRoom, ", ", func(int) string { return "10.20.0.128/26" }))
	dupEnv := dup.WriteEnv(t, t.TempDir())
	distinct := e2etest.Base2NIC().With("loadbalance.service_ip_range", fill(envRoom, ",", host32))
	distinctEnv := distinct.WriteEnv(t, t.TempDir())

	for _, c := range []hostileCase{
		{name: "cfg is a link to /dev/zero", args: args("--config", h.zero), code: 1, say: "is a character device, not a regular file"},
		{name: "cfg is a FIFO", args: args("--config", h.fifo), code: 1, say: "is a FIFO, not a regular file"},
		{name: "cfg is 8 GiB sparse", args: args("--config", h.sparse), code: 1, say: "more than the 4 MiB limit"},
		{name: "environment is a link to /dev/zero", args: args("--ovf-env", h.zero), code: 3, say: "not a regular file"},
		{name: "environment is a FIFO", args: args("--ovf-env", h.fifo), code: 3, say: "is a FIFO"},
		{name: "environment is 8 GiB sparse", args: args("--ovf-env", h.sparse), code: 3, say: "byte limit"},
		{name: "resolv.conf is a link to /dev/zero", args: args("--resolv-conf", h.zero), code: 3, say: "not a regular file"},
		{name: "state record is 8 GiB sparse", args: args("--state-dir", stateSparse, "--config", h.path("sparse-state.cfg")), code: 0, say: "re-applying"},
		{name: "state record is a link to /dev/zero", args: args("--state-dir", stateZero, "--config", h.path("zero-state.cfg")), code: 3, say: "not a regular file"},
		{name: "vmware-rpctool floods stdout", env: []string{"PATH=" + tools + ":/usr/bin:/bin"},
			args: []string{"--publish=false", "--resolv-conf", h.resolvConf, "--root", h.path("root"), "--config", h.path("flood.cfg"), "--state-dir", h.path("flood")},
			code: 3, say: "vmware-rpctool: printed more than the 4194304 byte limit"},
		{name: "4 MiB environment of one range repeated", args: args("--ovf-env", dupEnv, "--config", h.path("dup.cfg"), "--state-dir", h.path("dup")), code: 0},
		{name: "the same again, reading back its record", args: args("--ovf-env", dupEnv, "--config", h.path("dup.cfg"), "--state-dir", h.path("dup")), code: 0, say: "nothing to do"},
		{name: "4 MiB environment of distinct ranges", args: args("--ovf-env", distinctEnv, "--config", h.path("distinct.cfg"), "--state-dir", h.path("distinct")), code: 0},
	} {
		c.bin = fb
		h.check(c)
	}
	if st, err := os.Stat(filepath.Join(h.path("dup"), "firstboot.yaml")); err != nil {
		t.Errorf("no record of the repeated range: %v", err)
	} else if st.Size() > 64<<10 {
		t.Errorf("the record of the repeated range is %d bytes", st.Size())
	}
}

func TestMemoryBoundedRoutes(t *testing.T) {
	h := newHostileInputs(t)
	bin := e2etest.Binary(t, "anyip-routes")
	big := h.write("big.cfg", []byte(fill(4<<20, "\n", host32)))
	for _, c := range []hostileCase{
		{name: "up: cfg is a link to /dev/zero", args: []string{"--config", h.zero, "up"}, code: 1, say: h.zero + ": is a character device"},
		{name: "up: cfg is a FIFO", args: []string{"--config", h.fifo, "up"}, code: 1, say: "is a FIFO"},
		{name: "up: cfg is 8 GiB sparse", args: []string{"--config", h.sparse, "up"}, code: 1, say: "more than the 4 MiB limit"},
		{name: "up: resolv.conf is a link to /dev/zero", args: []string{"--config", h.cfg, "--resolv-conf", h.zero, "up"}, code: 3, say: "not a regular file"},
		{name: "check: cfg is a link to /dev/zero", args: []string{"--config", h.zero, "check", "--haproxy-config="}, code: 1, say: "not a regular file"},
		{name: "check: cfg is a FIFO", args: []string{"--config", h.fifo, "check", "--haproxy-config="}, code: 1, say: "is a FIFO"},
		{name: "check: cfg is 8 GiB sparse", args: []string{"--config", h.sparse, "check", "--haproxy-config="}, code: 1, say: "more than the 4 MiB limit"},
		{name: "check: haproxy.cfg is a link to /dev/zero", args: []string{"--config", h.cfg, "check", "--haproxy-config=" + h.zero}, code: 1, say: "not a regular file"},
		{name: "check: haproxy.cfg is a FIFO", args: []string{"--config", h.cfg, "check", "--haproxy-config=" + h.fifo}, code: 1, say: "is a FIFO"},
		{name: "check: 4 MiB cfg of distinct ranges", args: []string{"--config", big, "check", "--haproxy-config="}, code: 1},
		{name: "up: 4 MiB cfg of distinct ranges", args: []string{"--config", big, "up"}, code: 0},
	} {
		c.bin = bin
		c.args = append([]string{"--resolv-conf", h.resolvConf}, c.args...)
		h.check(c)
	}
	h.ns.Run(t, bin, "down")
}

// watch started on such a file rejects it, keeps its loop (watchdog pings
// go on), stays within the bound and ends cleanly on SIGTERM.
func TestMemoryBoundedWatch(t *testing.T) {
	h := newHostileInputs(t)
	bin := e2etest.Binary(t, "anyip-routes")
	for _, c := range []struct{ name, cfg, say string }{
		{"link to /dev/zero", h.zero, "is a character device"},
		{"FIFO", h.fifo, "is a FIFO"},
		{"8 GiB sparse", h.sparse, "more than the 4 MiB limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "notify")
			conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cmd := h.ns.Command("prlimit", fmt.Sprintf("--as=%d", addressSpaceLimit), "--", bin,
				"--config", c.cfg, "--resolv-conf", h.resolvConf, "--state-dir", t.TempDir(), "watch")
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000")
			out := &lockedTail{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			// READY=1 once the first pass is done, then watchdog pings:
			// the loop is not stuck on the file.
			for _, want := range []string{"READY=1", "WATCHDOG=1", "WATCHDOG=1"} {
				if !waitNotify(conn, want, 30*time.Second) {
					t.Fatalf("no %s from watch\n%s", want, out.String())
				}
			}
			cmd.Process.Signal(syscall.SIGTERM)
			err = cmd.Wait()
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			t.Logf("peak RSS %.1f MiB, exit %v", float64(ru.Maxrss)/1024, err)
			if err != nil {
				t.Errorf("watch ended with %v, want exit 0\n%s", err, out.String())
			}
			if ru.Maxrss<<10 > peakRSSLimit {
				t.Errorf("peak RSS %d MiB, more than %d MiB", ru.Maxrss>>10, peakRSSLimit>>20)
			}
			if !strings.Contains(out.String(), c.say) {
				t.Errorf("log does not say %q:\n%s", c.say, out.String())
			}
		})
	}
}

// waitNotify reads sd_notify datagrams until one holds want.
func waitNotify(conn *net.UnixConn, want string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	buf := make([]byte, 4096)
	for {
		conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			return false
		}
		for _, l := range strings.Split(string(buf[:n]), "\n") {
			if l == want {
				return true
			}
		}
	}
}

// lockedTail keeps the first 64 KiB of a running command's output.
type lockedTail struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() < 64<<10 {
		l.buf.Write(p)
	}
	return len(p), nil
}

func (l *lockedTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
)

// box is one appliance under test: a network namespace standing for the
// VM, and temp paths standing for /etc/vmware/anyip-routes.cfg and
// /etc/resolv.conf.
type box struct {
	t                    *testing.T
	ns                   *netnstest.NS
	dir, cfg, resolvConf string
}

func newBox(t *testing.T) *box {
	t.Helper()
	dir := t.TempDir()
	b := &box{
		t: t, ns: netnstest.New(t), dir: dir,
		cfg:        filepath.Join(dir, "vmware", "anyip-routes.cfg"),
		resolvConf: filepath.Join(dir, "resolv.conf"),
	}
	if err := os.MkdirAll(filepath.Dir(b.cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.resolvConf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// writeCfg replaces the ranges file in place (open, truncate, write,
// close), the way `cat > file` or an editor without backups writes.
func (b *box) writeCfg(lines ...string) {
	b.t.Helper()
	if err := os.WriteFile(b.cfg, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// appendCfg appends lines to the ranges file, like `echo ... >> file`.
func (b *box) appendCfg(lines ...string) {
	b.t.Helper()
	f, err := os.OpenFile(b.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		b.t.Fatal(err)
	}
}

// renameCfg writes a temp file in the same directory and renames it over
// the ranges file, the way atomic writers and vim do.
func (b *box) renameCfg(lines ...string) {
	b.t.Helper()
	tmp := filepath.Join(filepath.Dir(b.cfg), ".anyip-routes.cfg.swp")
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		b.t.Fatal(err)
	}
	if err := os.Rename(tmp, b.cfg); err != nil {
		b.t.Fatal(err)
	}
}

type result = e2etest.Result

// run runs anyip-routes in the box with the box's file and resolv.conf.
// down takes no flags.
func (b *box) run(args ...string) result {
	b.t.Helper()
	if len(args) > 0 && args[0] == "down" {
		return b.runEnv(nil, args...)
	}
	return b.runEnv(nil, append([]string{"--config", b.cfg, "--resolv-conf", b.resolvConf}, args...)...)
}

func (b *box) runEnv(env []string, args ...string) result {
	b.t.Helper()
	cmd := b.ns.Command(e2etest.Binary(b.t, "anyip-routes"), args...)
	cmd.Env = append(os.Environ(), env...)
	return e2etest.Exec(b.t, cmd)
}

func (b *box) want(r result, code int) { b.t.Helper(); e2etest.WantCode(b.t, r, code) }

// ip runs iproute2 in the box.
func (b *box) ip(args ...string) string {
	b.t.Helper()
	return b.ns.Run(b.t, "ip", args...)
}

// routes returns the prefixes of the table-local routes on lo carrying our
// protocol, read with iproute2 rather than our own code.
func (b *box) routes() []string {
	b.t.Helper()
	return b.ns.LocalRoutes(b.t, "241")
}

// table returns the whole of table local, IPv4 and IPv6, as iproute2
// prints it.
func (b *box) table() string {
	b.t.Helper()
	return b.ip("-4", "route", "show", "table", "local") + b.ip("-6", "route", "show", "table", "local")
}

// foreign returns the lines of table local that are not ours: the kernel's
// routes and those of other tools.
func (b *box) foreign() []string {
	b.t.Helper()
	var out []string
	for _, l := range strings.Split(b.table(), "\n") {
		// The kernel adds a veth's IPv6 link-local route once duplicate
		// address detection ends, whenever that is: not ours to compare.
		if strings.Contains(l, "fe80::") {
			continue
		}
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, "proto 241") && !strings.Contains(l, "proto anyip") {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// eventuallyRoutes waits for our routes to be exactly want.
func (b *box) eventuallyRoutes(what string, want ...string) {
	b.t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	var got []string
	if !e2etest.Poll(5*time.Second, func() bool { got = b.routes(); return slices.Equal(got, want) }) {
		b.t.Fatalf("%s: routes with proto 241 = %q, want %q within 5s", what, got, want)
	}
}

// syncBuffer collects a child's output while it runs.
type syncBuffer = e2etest.SyncBuffer

// notifyListener stands in for systemd's notification socket.
type notifyListener struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []string
	cond chan struct{} // closed and replaced on every message
}

func listenNotify(t *testing.T, path string, listen func() (*net.UnixConn, error)) *notifyListener {
	t.Helper()
	c, err := listen()
	if err != nil {
		t.Fatalf("listen on the notify socket %s: %v", path, err)
	}
	n := &notifyListener{path: path, conn: c, cond: make(chan struct{})}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			close(n.cond)
			n.cond = make(chan struct{})
			n.mu.Unlock()
		}
	}()
	return n
}

// newNotifyListener listens on a socket in the file system.
func newNotifyListener(t *testing.T) *notifyListener {
	path := filepath.Join(t.TempDir(), "notify")
	return listenNotify(t, path, func() (*net.UnixConn, error) {
		return net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	})
}

// messages returns the notifications received so far.
func (n *notifyListener) messages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// waitFor waits for an assignment (a line of a notification) that matches.
func (n *notifyListener) waitFor(t *testing.T, what string, match func(assignment string) bool) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	seen := 0
	for {
		n.mu.Lock()
		msgs, cond := n.msgs, n.cond
		n.mu.Unlock()
		for _, m := range msgs[seen:] {
			for _, a := range strings.Split(m, "\n") {
				if match(a) {
					return a
				}
			}
		}
		seen = len(msgs)
		select {
		case <-cond:
		case <-timeout:
			t.Fatalf("no notification %s within 5s; got %q", what, n.messages())
		}
	}
}

// status waits for a STATUS= notification containing all of want.
func (n *notifyListener) status(t *testing.T, want ...string) string {
	t.Helper()
	return n.waitFor(t, "STATUS= with "+strings.Join(want, ", "), func(a string) bool {
		if !strings.HasPrefix(a, "STATUS=") {
			return false
		}
		for _, w := range want {
			if !strings.Contains(a, w) {
				return false
			}
		}
		return true
	})
}

// watchProc is `anyip-routes watch` running in the box.
type watchProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	log    *syncBuffer
	notify *notifyListener
	done   chan struct{}
	err    error
}

// startWatch starts the service with a notification socket of its own
// and waits until it reports READY=1.
func (b *box) startWatch(env ...string) *watchProc {
	b.t.Helper()
	return b.startWatchNotify(newNotifyListener(b.t), env...)
}

func (b *box) startWatchNotify(n *notifyListener, env ...string) *watchProc {
	b.t.Helper()
	s := &watchProc{t: b.t, log: &syncBuffer{}, notify: n, done: make(chan struct{})}
	s.cmd = b.ns.Command(e2etest.Binary(b.t, "anyip-routes"), "--config", b.cfg, "--resolv-conf", b.resolvConf, "watch")
	s.cmd.Env = append(append(os.Environ(), "NOTIFY_SOCKET="+n.path), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	b.t.Cleanup(func() {
		if s.running() {
			s.cmd.Process.Kill()
			<-s.done
		}
		if b.t.Failed() {
			b.t.Logf("anyip-routes watch log:\n%s", s.log.String())
		}
	})
	n.waitFor(b.t, "READY=1", func(a string) bool { return a == "READY=1" })
	return s
}

func (s *watchProc) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and returns the exit code.
func (s *watchProc) stop() int {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Fatal("anyip-routes watch did not stop within 10s of SIGTERM")
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	if s.err != nil {
		s.t.Fatal(s.err)
	}
	return 0
}

// waitLog waits for a log line containing all of want.
func (s *watchProc) waitLog(want ...string) string {
	s.t.Helper()
	var line string
	e2etest.Eventually(s.t, "log line with "+strings.Join(want, ", "), func() bool {
		for _, l := range strings.Split(s.log.String(), "\n") {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(l, w)
			}
			if ok {
				line = l
				return true
			}
		}
		return false
	})
	return line
}

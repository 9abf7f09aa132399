package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
)

// STATUS says what the table holds. A blackhole route of another owner
// holds one of five ranges: four are in place, and the fifth is named with
// the kernel's reason. The failure is logged once however often it is
// retried, and its end is logged too.
func TestWatchStatusTellsWhatTheTableHolds(t *testing.T) {
	b := newBox(t)
	b.ip("route", "add", "blackhole", "10.40.30.32/28", "table", "local")
	b.writeCfg("10.40.30.0/28", "10.40.30.16/28", "10.40.30.32/28", "10.40.30.48/28", "fd00:40::/112")
	w := b.startWatch()
	st := w.notify.status(t, "4 of 5 ranges in place from "+b.cfg, "10.40.30.32/28: file exists")
	if strings.Contains(st, "10.40.30.0/28") || strings.Contains(st, "fd00:40::/112") {
		t.Errorf("STATUS names ranges that are in place: %q", st)
	}
	e2etest.WantRoutes(t, b.routes(), "10.40.30.0/28", "10.40.30.16/28", "10.40.30.48/28", "fd00:40::/112")

	// Each SIGHUP retries, and fails the same way: no new line.
	for range 3 {
		if err := w.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	b.ip("route", "del", "blackhole", "10.40.30.32/28", "table", "local")
	if err := w.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	w.notify.status(t, "STATUS=5 ranges in place from "+b.cfg)
	w.waitLog("the routes are in line again")
	if n := strings.Count(w.log.String(), "cannot bring the routes in line"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, w.log.String())
	}
	e2etest.WantRoutes(t, b.routes(), "10.40.30.0/28", "10.40.30.16/28", "10.40.30.32/28", "10.40.30.48/28", "fd00:40::/112")
}

// Without CAP_NET_ADMIN the service can read the table but change nothing:
// STATUS says none of the ranges is in place, and why.
func TestWatchStatusWithoutNetAdmin(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("setpriv (util-linux) not installed: %v", err)
	}
	b := newBox(t)
	b.writeCfg("10.20.0.128/28", "10.20.0.144/28")
	n := newNotifyListener(t)
	w := &watchProc{t: t, log: &syncBuffer{}, notify: n, done: make(chan struct{})}
	// Dropped from the bounding set, the capability is not in the
	// permitted set of the program setpriv runs, root or not.
	w.cmd = b.ns.Command(setpriv, "--bounding-set=-net_admin", "--", e2etest.Binary(t, "anyip-routes"),
		"--config", b.cfg, "--resolv-conf", b.resolvConf, "watch")
	w.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.err = w.cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		if w.running() {
			w.cmd.Process.Kill()
			<-w.done
		}
		if t.Failed() {
			t.Logf("anyip-routes watch log:\n%s", w.log.String())
		}
	})
	st := w.notify.status(t, "0 of 2 ranges in place from "+b.cfg, "10.20.0.128/28: operation not permitted")
	if strings.Contains(st, "STATUS=2 ranges in place") {
		t.Errorf("STATUS claims the ranges: %q", st)
	}
	e2etest.WantRoutes(t, b.routes())
}

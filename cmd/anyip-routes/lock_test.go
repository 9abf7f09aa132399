package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/runlock"
)

// holdLock takes the box's run lock, as a first boot in progress would.
func (b *box) holdLock() *runlock.Lock {
	b.t.Helper()
	l, err := runlock.Acquire(context.Background(), b.ns.Lock, time.Second)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(l.Release)
	return l
}

// up and down wait for whoever holds the run lock, and only then read the
// file and change the table.
func TestUpAndDownWaitForTheRunLock(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28")
	b.want(b.run("up"), 0)

	for _, verb := range []string{"up", "down"} {
		l := b.holdLock()
		b.writeCfg("10.20.0.128/28", "10.20.0.144/28")
		args := []string{verb} // down takes no flags
		if verb == "up" {
			args = []string{"--config", b.cfg, "--resolv-conf", b.resolvConf, verb}
		}
		cmd := b.ns.Command(e2etest.Binary(t, "anyip-routes"), args...)
		done := make(chan result, 1)
		go func() {
			done <- e2etest.Exec(t, cmd)
		}()
		select {
		case r := <-done:
			t.Fatalf("%s ran while another run held the lock: exit %d\n%s", verb, r.Code, r.All())
		case <-time.After(time.Second):
		}
		before := b.routes()
		l.Release()
		r := <-done
		b.want(r, 0)
		if verb == "up" {
			e2etest.WantRoutes(t, before, "10.20.0.128/28")
			e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.144/28")
		} else {
			e2etest.WantRoutes(t, before, "10.20.0.128/28", "10.20.0.144/28")
			e2etest.WantRoutes(t, b.routes())
		}
	}
}

// The service's reconcile waits for the lock too.
func TestWatchWaitsForTheRunLock(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28")
	w := b.startWatch()
	w.notify.status(t, "1 range in place")

	l := b.holdLock()
	b.appendCfg("10.20.0.144/28")
	time.Sleep(time.Second) // the service's debounce is long over
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28")
	l.Release()
	w.notify.status(t, "2 ranges in place")
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.144/28")
}

// A reconcile that waited for the lock while another run replaced the file
// and applied it reads the new file first: putting the table back to the
// version it knew would take the new ranges down until the file's event
// came.
func TestWatchReadsTheFileChangedWhileItWaited(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28")
	w := b.startWatch()
	w.notify.status(t, "1 range in place")

	l := b.holdLock()
	// Drift: the service will want to put it back, and waits for the lock.
	b.ip("route", "del", "local", "10.20.0.128/28", "dev", "lo", "table", "local", "proto", "241")
	time.Sleep(time.Second)
	// Meanwhile the holder replaces the range, in the file and the table.
	b.renameCfg("10.20.0.144/28")
	b.ip("route", "add", "local", "10.20.0.144/28", "dev", "lo", "table", "local", "proto", "241")
	l.Release()
	w.notify.status(t, "1 range in place")
	time.Sleep(time.Second) // let the file's own event come and go
	e2etest.WantRoutes(t, b.routes(), "10.20.0.144/28")
	for _, l := range strings.Split(w.log.String(), "\n") {
		if strings.Contains(l, `reason=start`) {
			continue
		}
		if strings.Contains(l, `msg="range added"`) && strings.Contains(l, "range=10.20.0.128/28") ||
			strings.Contains(l, `msg="range removed"`) && strings.Contains(l, "range=10.20.0.144/28") {
			t.Errorf("the service applied the old file after the new one: %s", l)
		}
	}
}

// A lock held for longer than the service waits is a failure it reports
// and retries, not a hang.
func TestWatchReportsALockHeldTooLong(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28")
	w := b.startWatch()
	w.notify.status(t, "1 range in place")
	b.holdLock()
	b.appendCfg("10.20.0.144/28")
	deadline := time.Now().Add(lockWait + 10*time.Second)
	for !strings.Contains(w.log.String(), "another anyip run holds the lock") {
		if time.Now().After(deadline) {
			t.Fatalf("no report of the held lock:\n%s", w.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.notify.status(t, "1 range in place", "last error", "another anyip run holds the lock")
}

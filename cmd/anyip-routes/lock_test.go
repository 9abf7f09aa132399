package main

import (
	"context"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
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
		cmd := b.ns.Command(e2etest.Binary(t, "anyip-routes"), "--config", b.cfg, "--resolv-conf", b.resolvConf, verb)
		done := make(chan result, 1)
		go func() {
			code, stdout, stderr := netnstest.Exec(t, cmd)
			done <- result{code, stdout, stderr}
		}()
		select {
		case r := <-done:
			t.Fatalf("%s ran while another run held the lock: exit %d\n%s", verb, r.code, r.all())
		case <-time.After(time.Second):
		}
		before := b.routes()
		l.Release()
		r := <-done
		b.want(r, 0)
		if verb == "up" {
			wantRoutes(t, before, "10.20.0.128/28")
			wantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.144/28")
		} else {
			wantRoutes(t, before, "10.20.0.128/28", "10.20.0.144/28")
			wantRoutes(t, b.routes())
		}
	}
}

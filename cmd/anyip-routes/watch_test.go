package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
)

// Edits of every kind reach the table: append, rename into place, sed -i,
// a line taken out; a bad version changes nothing and the service keeps
// running, and the next good version is applied.
func TestWatchFollowsTheFile(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28", "fd00:20::/112")
	w := b.startWatch()
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "fd00:20::/112")
	w.notify.status(t, "2 ranges in place")

	b.appendCfg("10.20.0.144/28")
	b.eventuallyRoutes("append", "10.20.0.128/28", "10.20.0.144/28", "fd00:20::/112")
	w.waitLog(`msg="range added"`, "range=10.20.0.144/28", `reason="file changed"`)

	b.renameCfg("10.20.0.128/28", "10.20.0.144/28", "10.20.0.160/28", "fd00:20::/112")
	b.eventuallyRoutes("temp file renamed into place", "10.20.0.128/28", "10.20.0.144/28", "10.20.0.160/28", "fd00:20::/112")

	b.ns.Run(t, "sed", "-i", "s|^10.20.0.160/28$|10.20.0.176/28|", b.cfg)
	b.eventuallyRoutes("sed -i", "10.20.0.128/28", "10.20.0.144/28", "10.20.0.176/28", "fd00:20::/112")

	b.renameCfg("10.20.0.128/28", "10.20.0.176/28", "fd00:20::/112")
	b.eventuallyRoutes("a line taken out", "10.20.0.128/28", "10.20.0.176/28", "fd00:20::/112")
	w.waitLog(`msg="range removed"`, "range=10.20.0.144/28")

	// A bad line: the file is rejected whole, the routes stay as they
	// are, the error is logged with its line and shown in STATUS.
	b.writeCfg("10.20.0.128/28", "fd00:20::/112", "10.20.0.300/28", "10.20.0.192/28")
	w.notify.status(t, "last error", b.cfg+":3", "10.20.0.300/28")
	w.waitLog("level=ERROR", "where="+b.cfg+":3", "line=10.20.0.300/28", `problem="has an IPv4 address in which 300 is more than 255"`)
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.176/28", "fd00:20::/112")
	if !w.running() {
		t.Fatal("the service stopped on a bad file")
	}

	// A range the safety net refuses is just as bad.
	if err := os.WriteFile(b.resolvConf, []byte("nameserver 10.20.0.200\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.writeCfg("10.20.0.128/28", "10.20.0.192/28")
	w.notify.status(t, "last error", b.cfg+":2", "10.20.0.200", "a name server in use")
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.176/28", "fd00:20::/112")

	// The next good version is applied, and STATUS clears.
	b.renameCfg("10.20.0.128/28", "10.20.0.208/28")
	b.eventuallyRoutes("good version after bad ones", "10.20.0.128/28", "10.20.0.208/28")
	st := w.notify.status(t, "2 ranges in place")
	if strings.Contains(st, "error") {
		t.Errorf("STATUS still shows an error after a good version: %q", st)
	}
	if code := w.stop(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.208/28")
}

// Drift: a route of ours deleted, replaced or added by hand is put back in
// line within seconds; a route of someone else's is left alone.
func TestWatchPutsDriftBack(t *testing.T) {
	b := newBox(t)
	peer := netnstest.New(t)
	b.ns.Veth(t, "eth0", "10.50.0.5/24", peer, "up0", "10.50.0.1/24")
	b.ip("route", "add", "local", "10.70.0.16/28", "dev", "lo", "proto", "static")
	b.writeCfg("10.20.0.128/28", "10.20.0.144/28", "fd00:20::/112")
	w := b.startWatch()
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.144/28", "fd00:20::/112")

	// Deleted by hand, together with a foreign route added by hand.
	b.ip("route", "add", "local", "10.70.0.0/28", "dev", "lo") // proto boot, not in the file
	foreign := b.foreign()
	b.ip("route", "del", "local", "10.20.0.128/28", "dev", "lo", "table", "local")
	b.ip("-6", "route", "del", "local", "fd00:20::/112", "dev", "lo", "table", "local")
	b.eventuallyRoutes("routes deleted by hand", "10.20.0.128/28", "10.20.0.144/28", "fd00:20::/112")
	w.waitLog(`msg="range added"`, "range=10.20.0.128/28", `reason="routes changed"`)
	if got := b.foreign(); !slices.Equal(got, foreign) {
		t.Errorf("foreign routes changed:\nbefore:\n%s\nafter:\n%s", strings.Join(foreign, "\n"), strings.Join(got, "\n"))
	}

	// Ours added by hand (proto 241, not in the file): removed.
	b.ip("route", "add", "local", "10.20.0.224/28", "dev", "lo", "table", "local", "proto", "241")
	b.eventuallyRoutes("route of ours added by hand", "10.20.0.128/28", "10.20.0.144/28", "fd00:20::/112")

	// Replaced by hand with another protocol: adopted back.
	b.ip("route", "replace", "local", "10.20.0.144/28", "dev", "lo", "table", "local", "proto", "boot")
	b.eventuallyRoutes("route replaced by hand", "10.20.0.128/28", "10.20.0.144/28", "fd00:20::/112")
	if n := strings.Count(b.ip("route", "show", "table", "local", "10.20.0.144/28"), "\n"); n != 1 {
		t.Errorf("%d routes for 10.20.0.144/28 after adoption, want 1", n)
	}

	if got := b.foreign(); !slices.Equal(got, foreign) {
		t.Errorf("foreign routes changed:\nbefore:\n%s\nafter:\n%s", strings.Join(foreign, "\n"), strings.Join(got, "\n"))
	}
	if code := w.stop(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if got := b.foreign(); !slices.Equal(got, foreign) {
		t.Errorf("stopping changed foreign routes:\nbefore:\n%s\nafter:\n%s", strings.Join(foreign, "\n"), strings.Join(got, "\n"))
	}
	// Our own changes come back as route events; they must not make
	// changes of their own: one line per change made by hand, no more.
	if n := strings.Count(w.log.String(), `msg="range `); n != 3+2+1+1 {
		t.Errorf("%d changes logged, want 7 (3 at start, 2 re-added, 1 removed, 1 adopted)", n)
	}
}

// The file deleted (or its directory) keeps the routes; re-created, it is
// applied.
func TestWatchKeepsRoutesWhenTheFileGoes(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28", "fd00:20::/112")
	w := b.startWatch()
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "fd00:20::/112")

	if err := os.Remove(b.cfg); err != nil {
		t.Fatal(err)
	}
	w.notify.status(t, "2 ranges in place from the last good version", "does not exist")
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "fd00:20::/112")

	// A route deleted by hand meanwhile still comes back: the last good
	// version is what the service keeps.
	b.ip("route", "del", "local", "10.20.0.128/28", "dev", "lo", "table", "local")
	b.eventuallyRoutes("drift while the file is missing", "10.20.0.128/28", "fd00:20::/112")

	b.writeCfg("10.20.0.144/28")
	b.eventuallyRoutes("file re-created", "10.20.0.144/28")

	// The whole directory goes, then comes back.
	dir := filepath.Dir(b.cfg)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	w.notify.status(t, "1 range in place from the last good version", "does not exist")
	e2etest.WantRoutes(t, b.routes(), "10.20.0.144/28")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b.writeCfg("10.20.0.160/28")
	b.eventuallyRoutes("directory and file re-created", "10.20.0.160/28")
	if !w.running() {
		t.Fatal("service stopped")
	}
}

// A service started before its directory exists keeps looking for it.
func TestWatchMissingDirectoryAtStart(t *testing.T) {
	b := newBox(t)
	dir := filepath.Dir(b.cfg)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	b.ip("route", "add", "local", "10.70.0.0/28", "dev", "lo")
	w := b.startWatch()
	w.notify.status(t, "no ranges applied yet", "does not exist")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b.writeCfg("10.20.0.128/28")
	b.eventuallyRoutes("file created in a new directory", "10.20.0.128/28")
	if !strings.Contains(b.ip("route", "show", "table", "local", "10.70.0.0/28"), "10.70.0.0/28") {
		t.Error("a foreign route went")
	}
}

// A bad file at start: the routes stay as they were (the service cannot
// know what the operator wants), the service still becomes ready, and
// applies the fix when it comes.
func TestWatchBadFileAtStart(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28", "10.20.0.144/28")
	b.want(b.run("up"), 0)
	b.writeCfg("10.20.0.128/28", "10.20.0.144/28 # VIPs")
	w := b.startWatch()
	w.notify.status(t, "no ranges applied yet", b.cfg+":2", "inline comment")
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.144/28")

	// Until a good version exists, drift is not the service's business.
	b.ip("route", "del", "local", "10.20.0.128/28", "dev", "lo", "table", "local")
	b.renameCfg("10.20.0.144/28", "10.20.0.160/28")
	b.eventuallyRoutes("fixed file", "10.20.0.144/28", "10.20.0.160/28")
	w.notify.status(t, "2 ranges in place from "+b.cfg)
}

// Stop and start: the routes never disappear, sampled continuously through
// netlink while the service gets SIGTERM and starts again.
func TestWatchRestartNeverDropsRoutes(t *testing.T) {
	b := newBox(t)
	want := []string{"10.20.0.128/28", "10.20.0.144/28", "fd00:20::/112"}
	b.writeCfg(want...)
	w := b.startWatch()
	e2etest.WantRoutes(t, b.routes(), want...)

	h := b.ns.Netlink(t)
	var (
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		samples atomic.Int64
		mu      sync.Mutex
		gaps    []string
	)
	sample := func() {
		rs, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_LOCAL}, netlink.RT_FILTER_TABLE)
		if err != nil {
			mu.Lock()
			gaps = append(gaps, "list: "+err.Error())
			mu.Unlock()
			return
		}
		var have []string
		for _, r := range rs {
			if r.Protocol == 241 && r.Dst != nil {
				have = append(have, r.Dst.String())
			}
		}
		var missing []string
		for _, p := range want {
			if !slices.Contains(have, p) {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			mu.Lock()
			gaps = append(gaps, fmt.Sprintf("%q missing at %s", missing, time.Now().Format("15:04:05.000000")))
			mu.Unlock()
		}
		samples.Add(1)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			sample()
			time.Sleep(2 * time.Millisecond)
		}
	}()

	for i := 0; i < 3; i++ {
		before := samples.Load()
		if code := w.stop(); code != 0 {
			t.Fatalf("exit code %d after SIGTERM, want 0", code)
		}
		w.waitLog("stopping; the routes stay in place")
		w = b.startWatch()
		// Some samples while stopped and starting, some after.
		e2etest.Eventually(t, "sampling", func() bool { return samples.Load() > before+20 })
	}
	close(stop)
	wg.Wait()
	if len(gaps) > 0 {
		t.Fatalf("routes went missing in %d of %d samples, first: %s", len(gaps), samples.Load(), gaps[0])
	}
	t.Logf("%d samples, no gap", samples.Load())
	e2etest.WantRoutes(t, b.routes(), want...)
	if strings.Contains(w.log.String(), "range added") {
		t.Errorf("a restarted service re-added routes that were there:\n%s", w.log.String())
	}
}

// sd_notify: READY=1 once the first reconcile is done, STATUS= with the
// number of ranges and the last error, WATCHDOG=1 while the loop runs,
// STOPPING=1 on SIGTERM.
func TestWatchNotifiesSystemd(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28", "10.20.0.144/28", "fd00:20::/112")
	w := b.startWatch("WATCHDOG_USEC=200000")
	// READY comes with the status of the first reconcile, in one message.
	var ready string
	for _, m := range w.notify.messages() {
		if strings.Contains(m, "READY=1") {
			ready = m
		}
	}
	if !strings.Contains(ready, "STATUS=3 ranges in place from "+b.cfg) {
		t.Errorf("READY=1 without the status: %q", ready)
	}
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.144/28", "fd00:20::/112")

	// Watchdog pings keep coming (every 100 ms for WATCHDOG_USEC=200ms).
	e2etest.Eventually(t, "three WATCHDOG=1", func() bool {
		n := 0
		for _, m := range w.notify.messages() {
			if m == "WATCHDOG=1" {
				n++
			}
		}
		return n >= 3
	})

	b.appendCfg("10.20.0.300/28")
	st := w.notify.status(t, "3 ranges in place from the last good version", "last error", b.cfg+":4", "10.20.0.300/28", "has an IPv4 address in which 300 is more than 255")
	if strings.Contains(st, "\n") {
		t.Errorf("STATUS spans lines: %q", st)
	}
	b.writeCfg("10.20.0.128/28")
	w.notify.status(t, "STATUS=1 range in place from "+b.cfg)

	if code := w.stop(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	w.notify.waitFor(t, "STOPPING=1", func(a string) bool { return a == "STOPPING=1" })
}

// No WATCHDOG_USEC, no pings; an abstract notification socket (what
// systemd uses in containers) works, and is namespaced with the network.
func TestWatchNotifiesAbstractSocket(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28")
	r := make([]byte, 6)
	rand.Read(r)
	name := "@anyip-test-notify-" + hex.EncodeToString(r)
	n := listenNotify(t, name, func() (c *net.UnixConn, err error) {
		err = b.ns.Do(func() (err error) {
			c, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
			return err
		})
		return c, err
	})
	w := b.startWatchNotify(n)
	n.status(t, "1 range in place")
	b.appendCfg("10.20.0.144/28")
	n.status(t, "2 ranges in place")
	w.stop()
	for _, m := range n.messages() {
		if strings.Contains(m, "WATCHDOG") {
			t.Errorf("watchdog ping without WATCHDOG_USEC: %q", m)
		}
	}
}

// Foreign routes survive the service too: kernel routes of addresses,
// proto boot and static routes, and routes in other tables.
func TestForeignRoutesSurviveWatch(t *testing.T) {
	b := newBox(t)
	peer := netnstest.New(t)
	b.ns.Veth(t, "eth0", "10.50.0.5/24", peer, "up0", "10.50.0.1/24")
	b.ns.Veth(t, "eth1", "fd00:50::5/64", peer, "up1", "fd00:50::1/64")
	b.ip("route", "add", "local", "10.70.0.0/28", "dev", "lo")
	b.ip("route", "add", "local", "10.70.0.16/28", "dev", "lo", "proto", "static")
	b.ip("route", "add", "local", "10.70.0.32/28", "dev", "lo", "table", "100", "proto", "241")
	foreign := b.foreign()
	other := b.ip("route", "show", "table", "100")

	b.writeCfg("10.50.0.128/28")
	w := b.startWatch()
	b.renameCfg("10.50.0.144/28")
	b.eventuallyRoutes("edit", "10.50.0.144/28")
	b.writeCfg("")
	b.eventuallyRoutes("empty file: no ranges wanted")
	w.stop()
	if got := b.foreign(); !slices.Equal(got, foreign) {
		t.Errorf("watch changed foreign routes:\nbefore:\n%s\nafter:\n%s", strings.Join(foreign, "\n"), strings.Join(got, "\n"))
	}
	if got := b.ip("route", "show", "table", "100"); got != other {
		t.Errorf("watch touched table 100:\nbefore:\n%s\nafter:\n%s", other, got)
	}
}

// A ranges file that cannot be read (here: its "directory" is a file) is
// reported, and the service keeps running.
func TestWatchConfigUnderAFile(t *testing.T) {
	b := newBox(t)
	blocker := filepath.Join(b.dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b.cfg = filepath.Join(blocker, "anyip-routes.cfg")
	w := b.startWatch()
	w.notify.status(t, "no ranges applied yet", "last error")
	if !w.running() {
		t.Fatal("service stopped")
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
)

// A file broken while the VM was down (or deleted) must not leave the VIPs
// down after the reboot: the service keeps the last version it applied in
// its state directory ($STATE_DIRECTORY, as systemd's StateDirectory=
// sets it) and applies that until the file is fixed.
func TestWatchAppliesLastGoodVersionAfterReboot(t *testing.T) {
	b := newBox(t)
	state := filepath.Join(b.dir, "state")
	env := "STATE_DIRECTORY=" + state
	b.writeCfg("10.20.0.128/28", "fd00:20::/112")
	good, _ := os.ReadFile(b.cfg)

	w := b.startWatch(env)
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "fd00:20::/112")
	if code := w.stop(); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	kept, err := os.ReadFile(filepath.Join(state, "last-good.cfg"))
	if err != nil || string(kept) != string(good) {
		t.Fatalf("last good version %q (err %v), want the applied file %q", kept, err, good)
	}

	// "Reboot": the table is empty again, and the file got a typo.
	b.want(b.run("down"), 0)
	e2etest.WantRoutes(t, b.routes())
	b.writeCfg("10.20.0.128/28", "fd00:20::/112", "10.20.0.300/28")
	w = b.startWatch(env)
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "fd00:20::/112")
	w.notify.status(t, "2 ranges in place from the last good version", b.cfg+":3", "10.20.0.300/28")
	w.waitLog("applying the last good version")

	// Fixed: the new version is applied and becomes the one kept.
	b.writeCfg("10.20.0.144/28")
	b.eventuallyRoutes("the fixed file", "10.20.0.144/28")
	w.notify.status(t, "1 range in place from "+b.cfg)
	keptNow := func() string { k, _ := os.ReadFile(filepath.Join(state, "last-good.cfg")); return string(k) }
	for end := time.Now().Add(5 * time.Second); keptNow() != "10.20.0.144/28\n" && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if k := keptNow(); k != "10.20.0.144/28\n" {
		t.Fatalf("kept version %q after the fix", k)
	}
	w.stop()

	// Deleted while down: the kept version still brings the VIPs up.
	b.want(b.run("down"), 0)
	os.Remove(b.cfg)
	w = b.startWatch(env)
	e2etest.WantRoutes(t, b.routes(), "10.20.0.144/28")
	w.notify.status(t, "from the last good version", "does not exist")
	w.stop()
}

// The kept version is checked against the system as it is now: a range
// that has come to hold an interface address is not applied from it.
func TestWatchChecksTheLastGoodVersion(t *testing.T) {
	b := newBox(t)
	state := filepath.Join(b.dir, "state")
	env := "STATE_DIRECTORY=" + state
	b.writeCfg("10.20.0.128/28")
	w := b.startWatch(env)
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28")
	w.stop()

	b.want(b.run("down"), 0)
	b.ns.Run(t, "ip", "link", "add", "eth9", "type", "veth", "peer", "name", "eth9p")
	b.ns.Run(t, "ip", "addr", "add", "10.20.0.131/24", "dev", "eth9") // a NIC address, now inside the kept range
	b.writeCfg("garbage")
	w = b.startWatch(env)
	log := w.waitLog("the last good version of the ranges file cannot be applied either")
	if !strings.Contains(log, "last-good.cfg") {
		t.Errorf("log does not name the kept file:\n%s", log)
	}
	for _, r := range b.routes() {
		t.Errorf("route %s applied from a kept version that now holds an interface address", r)
	}
	w.stop()
}

// Without a state directory nothing is kept or written anywhere.
func TestWatchWithoutStateDirectoryKeepsNothing(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28")
	w := b.startWatch("STATE_DIRECTORY=")
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28")
	w.stop()
	ents, _ := os.ReadDir(b.dir)
	for _, e := range ents {
		if e.Name() != "vmware" && e.Name() != "resolv.conf" {
			t.Errorf("unexpected %s in the box", e.Name())
		}
	}
}

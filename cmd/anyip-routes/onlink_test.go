package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The binds announced first: the IP addresses of every bind line, in file
// order; a missing configuration gives none, and one that is not a file
// is an error, never a read of the whole device.
func TestBindAddrs(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "haproxy.cfg")
	os.WriteFile(cfg, []byte("frontend a\n    bind 10.0.0.7:80\n    bind [fd00::1:5]:443,*:8080\nlisten b\n    bind /run/x.sock\n"), 0o644)
	got, err := bindAddrs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Addr{netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("fd00::1:5")}; !slices.Equal(got, want) {
		t.Errorf("binds %v, want %v", got, want)
	}
	if got, err := bindAddrs(filepath.Join(dir, "none.cfg")); got != nil || err != nil {
		t.Errorf("missing: %v %v", got, err)
	}
	if _, err := bindAddrs("/dev/zero"); err == nil {
		t.Error("/dev/zero read as a configuration")
	}
}

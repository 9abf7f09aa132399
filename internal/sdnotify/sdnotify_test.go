package sdnotify

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// listen opens a unixgram socket like the one systemd offers.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func recv(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotifyPathSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	srv := listen(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	n, err := New()
	if err != nil || n == nil {
		t.Fatalf("New: %v, %v", n, err)
	}
	defer n.Close()
	if err := n.Notify(Ready, Status("3 ranges\napplied")); err != nil {
		t.Fatal(err)
	}
	if got, want := recv(t, srv), "READY=1\nSTATUS=3 ranges applied"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := n.Notify(Watchdog); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, srv); got != "WATCHDOG=1" {
		t.Errorf("got %q", got)
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	b := make([]byte, 6)
	rand.Read(b)
	name := "@anyip-sdnotify-test-" + hex.EncodeToString(b)
	srv := listen(t, name)
	n, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Notify(Ready); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, srv); got != "READY=1" {
		t.Errorf("got %q", got)
	}
	// Nothing may appear in the file system for an abstract name.
	if _, err := os.Stat(name); err == nil {
		t.Errorf("abstract socket created a file %s", name)
	}
}

// The manager's socket can be re-created (daemon-reexec); the notifier
// reconnects instead of failing forever.
func TestNotifyReconnects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	srv := listen(t, path)
	n, _ := Open(path)
	defer n.Close()
	if err := n.Notify(Ready); err != nil {
		t.Fatal(err)
	}
	recv(t, srv)
	srv.Close()
	os.Remove(path)
	srv2 := listen(t, path)
	if err := n.Notify(Status("again")); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, srv2); got != "STATUS=again" {
		t.Errorf("got %q", got)
	}
}

func TestNoSocketIsNoOp(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n, err := New()
	if n != nil || err != nil {
		t.Fatalf("New without NOTIFY_SOCKET = %v, %v; want nil, nil", n, err)
	}
	if err := n.Notify(Ready); err != nil {
		t.Errorf("nil notifier: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("nil notifier Close: %v", err)
	}
	if _, err := Open("vsock:2:1234"); err == nil {
		t.Error("Open(vsock:...) = nil error, want unsupported")
	}
}

func TestNotifyUnreachableIsAnError(t *testing.T) {
	n, _ := Open(filepath.Join(t.TempDir(), "nobody-listens"))
	if err := n.Notify(Ready); err == nil {
		t.Error("Notify to a missing socket = nil, want an error")
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		wantErr   bool
	}{
		{"", "", 0, false},
		{"30000000", "", 30 * time.Second, false},
		{"30000000", "42", 30 * time.Second, false},
		{"30000000", "43", 0, false}, // for another process
		{"500", "", 500 * time.Microsecond, false},
		{"0", "", 0, true},
		{"-1", "", 0, true},
		{"soon", "", 0, true},
		{"30000000", "x", 0, true},
	} {
		got, err := watchdogInterval(tc.usec, tc.pid, 42)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("watchdogInterval(%q, %q) = %v, %v; want %v, error %v", tc.usec, tc.pid, got, err, tc.want, tc.wantErr)
		}
	}
}

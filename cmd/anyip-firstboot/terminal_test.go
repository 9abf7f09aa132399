package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// On a terminal each fact is said once: the report's words on stdout, and
// no log lines on stderr unless -v asks for them. Piped (the journal, a
// file), the log is whole.
func TestQuietOnATerminal(t *testing.T) {
	b := newBox(t)
	env := e2etest.Base2NIC().WriteEnv(t, t.TempDir())
	run := func(extra ...string) (stdout, stderr string) {
		t.Helper()
		master, slave := openPTY(t)
		args := append([]string{"--ovf-env", env, "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root, "--publish=false"}, extra...)
		cmd := b.ns.Command(e2etest.Binary(t, "anyip-firstboot"), args...)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, slave
		cmd.Env = append(os.Environ(), "ANYIP_LOG_LEVEL=")
		read := make(chan string)
		go func() {
			b, _ := io.ReadAll(master) // EIO once the last writer is gone
			read <- string(b)
		}()
		err := cmd.Run()
		slave.Close()
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		return out.String(), <-read
	}
	stdout, stderr := run("--dry-run")
	if stderr != "" {
		t.Errorf("a terminal got log lines:\n%s", stderr)
	}
	if !strings.Contains(stdout, "+ 10.20.0.128/26") {
		t.Errorf("the report lacks the range:\n%s", stdout)
	}
	_, stderr = run("--dry-run", "-v")
	if !strings.Contains(stderr, "level=INFO") || !strings.Contains(stderr, `msg="read the OVF environment"`) {
		t.Errorf("-v on a terminal shows no log:\n%s", stderr)
	}
	// A pipe gets the log as before.
	cmd := b.ns.Command(e2etest.Binary(t, "anyip-firstboot"), "--ovf-env", env, "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root, "--publish=false", "--dry-run")
	if _, _, stderr := netnstest.Exec(t, cmd); !strings.Contains(stderr, `msg="read the OVF environment"`) {
		t.Errorf("a pipe got no log:\n%s", stderr)
	}
}

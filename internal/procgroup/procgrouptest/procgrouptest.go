// Package procgrouptest lets the tests of every package that runs programs
// prove that a timed-out program's children end with it.
package procgrouptest

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Forker returns a shell script that starts a child (sleep, away from
// the script's pipes) that would outlive the script, writes the child's
// pid to pidFile, and then hangs as a program that waits for an answer.
func Forker(pidFile string) string {
	return "#!/bin/sh\nPATH=/usr/bin:/bin\nsleep 3000 </dev/null >/dev/null 2>&1 &\necho $! >" + pidFile + ".tmp\nmv " +
		pidFile + ".tmp " + pidFile + "\nexec sleep 300\n"
}

// ChildPID waits for the pid a Forker script writes, and kills that
// process when the test ends whatever happened.
func ChildPID(t testing.TB, pidFile string) int {
	t.Helper()
	for range 1000 {
		b, err := os.ReadFile(pidFile)
		if err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			return pid
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no pid in %s: the script did not start its child", pidFile)
	return 0
}

// Alive reports whether pid runs (a zombie waiting to be reaped counts as
// gone).
func Alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b) // pid (comm) STATE ...
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// WantGone fails the test unless pid ends soon: the kill has been sent
// before the caller returned, the kernel only has to deliver it. No
// duration is asserted.
func WantGone(t testing.TB, pid int) {
	t.Helper()
	for range 500 {
		if !Alive(pid) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("child %d of the timed-out program is still running", pid)
}

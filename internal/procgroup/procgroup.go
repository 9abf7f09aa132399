// Package procgroup runs an outside program (vmware-rpctool, vmtoolsd,
// systemctl) in a process group of its own, so that when its time is up
// the whole group ends: the program and every child it started. Killing
// only the program would leave a child that hangs on the VMware backdoor
// or on D-Bus running after the command has given up, and holding the
// program's pipes open.
package procgroup

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// WaitDelay is how long Wait waits for the pipes to close once the group
// has been killed (or the program has exited), before closing them
// itself: a child that escaped the group must not hold the caller.
const WaitDelay = 2 * time.Second

// Command is exec.CommandContext(ctx, name, args...), except that the
// program leads a new process group and ctx ending kills that group with
// SIGKILL.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// With Setpgid the group's id is the program's pid; the
		// negative pid names the whole group.
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = WaitDelay
	return cmd
}

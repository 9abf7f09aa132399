package ovfenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/procgroup/procgrouptest"
)

// A guestinfo program that hangs is given up on, and the children it
// started end with it: reading the environment and publishing alike.
func TestTimedOutProgramEndsWithItsChildren(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	if err := os.WriteFile(filepath.Join(dir, "vmware-rpctool"), []byte(procgrouptest.Forker(pidFile)), 0o755); err != nil {
		t.Fatal(err)
	}

	t.Run("source", func(t *testing.T) {
		os.Remove(pidFile)
		src := Command{Program: "vmware-rpctool", Timeout: 300 * time.Millisecond, LookPath: lookIn(dir)}
		if _, err := src.Read(t.Context()); err == nil {
			t.Fatal("a hung program gave an environment")
		}
		procgrouptest.WantGone(t, procgrouptest.ChildPID(t, pidFile))
	})
	t.Run("publish", func(t *testing.T) {
		os.Remove(pidFile)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		noBackdoor := &fakeChannel{startErr: errors.New("no backdoor here")}
		p := Publisher{NewChannel: noBackdoor.factory(), LookPath: lookIn(dir)}
		if _, err := p.Publish(ctx, StatusKey, "ok: 1 range in place"); err == nil {
			t.Fatal("a hung program published")
		}
		procgrouptest.WantGone(t, procgrouptest.ChildPID(t, pidFile))
	})
}

package procgroup

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/anyip/anyip/internal/procgroup/procgrouptest"
)

// Start a shell that starts a child which outlives it unless its group
// is killed; time the shell out; the child must be gone.
func TestTimeoutEndsTheWholeGroup(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "tool")
	pidFile := filepath.Join(dir, "child.pid")
	if err := os.WriteFile(script, []byte(procgrouptest.Forker(pidFile)), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := Command(ctx, script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := procgrouptest.ChildPID(t, pidFile)
	if !procgrouptest.Alive(pid) {
		t.Fatalf("child %d not running before the time-out", pid)
	}
	cancel()
	if err := cmd.Wait(); err == nil {
		t.Fatal("a killed program reported success")
	}
	procgrouptest.WantGone(t, pid)
}

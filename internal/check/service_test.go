package check

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/procgroup/procgrouptest"
)

// A systemctl that hangs is given up on, and what it started ends with it.
func TestServiceTimeoutEndsTheChildren(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	systemctl := filepath.Join(dir, "systemctl")
	if err := os.WriteFile(systemctl, []byte(procgrouptest.Forker(pidFile)), 0o755); err != nil {
		t.Fatal(err)
	}
	r := Service(t.Context(), ServiceOptions{Systemctl: systemctl, Timeout: 300 * time.Millisecond})
	wantResult(t, r, Warn, "did not answer within")
	procgrouptest.WantGone(t, procgrouptest.ChildPID(t, pidFile))
}

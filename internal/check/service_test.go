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

// The journal item passes only when the journal could be read: a
// journalctl that exits 0 having read nothing says nothing about errors.
func TestJournalThatReadNothing(t *testing.T) {
	dir := t.TempDir()
	stub := func(name, body string) ServiceOptions {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return ServiceOptions{Journalctl: p}
	}
	const readHint = "run the check as root on the appliance; `journalctl -b -p err -u anyip-network -u anyip-firstboot -u anyip-routes` shows the same"
	for _, c := range []struct {
		name, body, status, summary, hint string
	}{
		{"no files", `echo "No journal files were found." >&2`, "warn",
			"cannot read the journal: No journal files were found.", readHint},
		{"nothing readable", `case "$*" in *"-p err"*) ;; *) echo "Hint: You are currently not seeing messages from other users and the system." >&2;; esac`, "warn",
			"cannot read the journal: not one entry of this boot is readable, so the absence of errors says nothing: Hint: You are currently not seeing messages from other users and the system.", readHint},
		{"quiet", `case "$*" in *"-p err"*) ;; *) echo "Journal started";; esac`, "pass",
			"no errors from anyip-network, anyip-firstboot or anyip-routes since boot", ""},
		{"errors", `case "$*" in *"-p err"*) echo "anyip-routes: read table local: permission denied";; esac`, "warn",
			"1 error from our units since boot (the last 20 at most)",
			"see whether each still holds (the other items say what is wrong now); `journalctl -b -p warning -u anyip-network -u anyip-firstboot -u anyip-routes` shows them in context"},
	} {
		r := Journal(t.Context(), stub(c.name, c.body))
		if string(r.Status) != c.status || r.Summary != c.summary || r.Hint != c.hint {
			t.Errorf("%s: %s %q, hint %q\nwant %s %q, hint %q", c.name, r.Status, r.Summary, r.Hint, c.status, c.summary, c.hint)
		}
	}
}

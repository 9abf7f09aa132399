package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
)

// TestCheckProbeBrakes: ranges the safety check refuses are never probed,
// and --probe-limit has a ceiling.
func TestCheckProbeBrakes(t *testing.T) {
	l := newLab(t)
	l.writeCfg("10.0.0.0/8", "0.0.0.0/0", "127.0.0.0/30", "224.0.0.0/30", "10.20.0.192/26")
	rep := l.checkJSON(1, "--probe")
	rep.wantCheck(t, "safety", "fail")
	c := rep.wantCheck(t, "probe", "warn", "no other host answered for 64 addresses on eth0",
		"10.0.0.0/8: not probed: it fails the safety check",
		"0.0.0.0/0: not probed: it fails the safety check",
		"127.0.0.0/30: not probed: it fails the safety check",
		"224.0.0.0/30: not probed: it fails the safety check",
		"fix the ranges the safety check names")
	if len(c.Details) != 4 {
		t.Errorf("details %q", c.Details)
	}

	for _, limit := range []string{"65537", "100000000"} {
		r := l.check("--probe", "--probe-limit", limit)
		l.want(r, 2)
		if !strings.Contains(r.Stderr, "--probe-limit takes 1-65536 addresses per range") {
			t.Errorf("--probe-limit %s: %s", limit, r.Stderr)
		}
	}
}

// TestCheckProbeInterrupted: Ctrl-C during a long probe ends the check
// with a report that says so (exit 3), not one that asks for root.
func TestCheckProbeInterrupted(t *testing.T) {
	l := newLab(t)
	l.writeCfg("10.30.0.0/16") // about a minute of probes on eth0
	l.want(l.run("up"), 0)
	cmd := l.ns.Command(e2etest.Binary(t, "anyip-routes"), "--config", l.cfg, "--resolv-conf", l.resolvConf,
		"check", "--systemctl", l.systemctlOK, "--journalctl", l.journalQuiet, "--haproxy-config=", "--probe", "--probe-limit", "65536", "--output", "json")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// `ip netns exec` execs the command, so the signal reaches it. When it
	// lands does not matter: before the probe or during it, the report
	// must say the check was interrupted.
	time.Sleep(2 * time.Second)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want 3\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var rep reportJSON
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	c := rep.wantCheck(t, "probe", "error", "interrupted")
	t.Logf("probe: %s", c.Summary)
	if strings.Contains(c.Hint, "root") {
		t.Errorf("hint %q", c.Hint)
	}
	rep.wantCheck(t, "config", "pass")
}

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
)

// runToFile runs first boot with stdout and stderr on one file, as
// systemd connects both to the journal, and returns the file's lines.
// stream says what JOURNAL_STREAM holds: "this" names that file as
// systemd names its stream, "other" another file, "" leaves it unset.
func (b *box) runToFile(stream string, args ...string) (int, []string) {
	b.t.Helper()
	f, err := os.Create(filepath.Join(b.t.TempDir(), "stream"))
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	cmd := b.ns.Command(e2etest.Binary(b.t, "anyip-firstboot"), args...)
	cmd.Stdout, cmd.Stderr = f, f
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JOURNAL_STREAM=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	id := func(path string) string {
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			b.t.Fatal(err)
		}
		return strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(uint64(st.Ino), 10)
	}
	switch stream {
	case "this":
		cmd.Env = append(cmd.Env, "JOURNAL_STREAM="+id(f.Name()))
	case "other":
		cmd.Env = append(cmd.Env, "JOURNAL_STREAM="+id(b.resolvConf))
	}
	code := 0
	if err := cmd.Run(); err != nil {
		code = cmd.ProcessState.ExitCode()
		if code < 0 {
			b.t.Fatal(err)
		}
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		b.t.Fatal(err)
	}
	return code, strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// On the journal every log line and every finding carries its priority
// (<3> err, <4> warning, <6> info), so `journalctl -p warning` shows why
// a boot was refused; anywhere else the lines are plain.
func TestJournalPriorities(t *testing.T) {
	b := newBox(t)
	env := e2etest.Base2NIC().With("loadbalance.service_ip_range", "10.20.0.70/26, 10.20.0.128/26, 10.20.0.128/26").WriteEnv(t, t.TempDir())
	args := []string{"--ovf-env", env, "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root, "--publish=false"}

	code, lines := b.runToFile("this", args...)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, strings.Join(lines, "\n"))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		var want string
		bare := l
		if len(l) > 3 && l[0] == '<' && l[2] == '>' {
			bare = l[3:]
		}
		switch {
		case strings.HasPrefix(bare, "level=ERROR"), strings.HasPrefix(bare, "error: "):
			want = "<3>"
		case strings.HasPrefix(bare, "level=WARN"), strings.HasPrefix(bare, "warning: "):
			want = "<4>"
		case strings.HasPrefix(bare, "level=INFO"):
			want = "<6>"
		case strings.HasPrefix(bare, "anyip-firstboot: the configuration is invalid"):
			want = "<3>"
		default:
			if strings.HasPrefix(l, "<") {
				t.Errorf("a report line with a priority: %q", l)
			}
			continue
		}
		if !strings.HasPrefix(l, want) {
			t.Errorf("line %q: want prefix %s", l, want)
		}
		seen[want] = true
	}
	for _, p := range []string{"<3>", "<4>", "<6>"} {
		if !seen[p] {
			t.Errorf("no line at %s:\n%s", p, strings.Join(lines, "\n"))
		}
	}

	// No JOURNAL_STREAM, or one naming another stream (a child whose
	// stderr was redirected): plain lines.
	for _, stream := range []string{"", "other"} {
		code, lines := b.runToFile(stream, args...)
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "<") {
				t.Errorf("plain output has a priority prefix: %q", l)
			}
		}
		if !strings.Contains(strings.Join(lines, "\n"), "level=ERROR") {
			t.Errorf("no error line:\n%s", strings.Join(lines, "\n"))
		}
	}
}

// On the journal each fact is said once: the log says each step with its
// severity, the report adds the findings and the outcome, and not the
// parts' lines or the file's and table's changes the log has just said.
// A pipe that is not the journal gets the whole report.
func TestJournalSaysEachFactOnce(t *testing.T) {
	b := newBox(t)
	b.roleNICs("management", "workload") // no warning: the outcome is at info
	env := e2etest.Base2NIC().WriteEnv(t, t.TempDir())
	args := []string{"--ovf-env", env, "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root, "--publish=false"}
	partLine := regexp.MustCompile(`^(<\d>)?[a-z ]+: (applied|unchanged|refused|failed|planned)`)

	code, lines := b.runToFile("this", args...)
	all := strings.Join(lines, "\n")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, all)
	}
	for _, l := range lines {
		if partLine.MatchString(l) || strings.Contains(l, ": + ") || strings.Contains(l, ": - ") {
			t.Errorf("the journal got a report line the log already says: %q", l)
		}
	}
	for _, w := range []string{`msg="set the host name"`, `msg="wrote the ranges file"`, `msg="range added" cmd=anyip-firstboot range=10.20.0.128/26`} {
		if !strings.Contains(all, w) {
			t.Errorf("the journal lacks the step %s:\n%s", w, all)
		}
	}
	if last := lines[len(lines)-1]; last != "<6>anyip-firstboot: ok: 1 route added, 0 removed, 0 adopted, 0 kept; 1 range in place." {
		t.Errorf("last line %q, want the outcome at <6>", last)
	}
	if n := strings.Count(all, "invalid"); n != 0 {
		t.Errorf("a valid run speaks of invalid %d times:\n%s", n, all)
	}

	// A run with warnings (no NIC of the roles' names) counts them, at
	// the priority of a warning: `journalctl -p warning` shows it.
	bw := newBox(t)
	code, lines = bw.runToFile("this", "--ovf-env", env, "--config", bw.cfg, "--state-dir", bw.state, "--resolv-conf", bw.resolvConf, "--root", bw.root, "--publish=false")
	if last := lines[len(lines)-1]; code != 0 || last != "<4>anyip-firstboot: ok: 1 route added, 0 removed, 0 adopted, 0 kept; 1 range in place; 2 warnings above." {
		t.Errorf("exit %d, last line %q, want the outcome with its warnings at <4>", code, last)
	}

	// A failed run says its error once, in the closing line.
	code, lines = b.runToFile("this", append(args[2:], "--ovf-env", filepath.Join(b.t.TempDir(), "absent.xml"))...)
	all = strings.Join(lines, "\n")
	if code != 3 || len(lines) != 1 || !strings.HasPrefix(lines[0], "<3>anyip-firstboot: failed: ") || !strings.Contains(lines[0], "absent.xml") {
		t.Errorf("exit %d, want 3 and one line at <3> naming the file:\n%s", code, all)
	}

	// Not the journal: the parts and the changes, as on a terminal.
	b2 := newBox(t)
	args2 := []string{"--ovf-env", env, "--config", b2.cfg, "--state-dir", b2.state, "--resolv-conf", b2.resolvConf, "--root", b2.root, "--publish=false"}
	_, lines = b2.runToFile("", args2...)
	all = strings.Join(lines, "\n")
	for _, w := range []string{"\nhostname: applied\n", "\nranges: applied\n", "\n" + b2.cfg + ": + 10.20.0.128/26\n", "\nroute local: + 10.20.0.128/26\n"} {
		if !strings.Contains(all, w) {
			t.Errorf("a pipe lacks %q:\n%s", strings.TrimSpace(w), all)
		}
	}
}

package boottest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// childEnv makes this test binary the run that gets killed.
const childEnv = "ANYIP_BOOTTEST_KILLED_RUN"

// TestKilledRunIsReaped boots an appliance in a child test binary, kills the
// child with SIGKILL (no cleanup runs, as after a timeout or an interrupted
// CI job), and shows that the next run removes the container, its
// namespaces, its directory and nspawn's leftovers.
func TestKilledRunIsReaped(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		env := example(t, "ovf-env-2nic.xml")
		a := New(t, Options{Env: env})
		a.Boot()
		os.Stdout.WriteString("BOOTED " + a.Name + " " + a.VM.Name + " " + a.Net.Name + " " + strconv.Itoa(a.leader) + "\n")
		time.Sleep(5 * time.Minute)
		return
	}
	requireTools(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledRunIsReaped$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var f []string
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	timeout := time.After(3 * time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the child run ended before booting:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if rest, ok := strings.CutPrefix(l, "BOOTED "); ok {
				f = strings.Fields(rest)
				break wait
			}
		case <-timeout:
			t.Fatalf("the child run did not boot within 3 minutes:\n%s", strings.Join(seen, "\n"))
		}
	}
	if len(f) != 4 {
		t.Fatalf("child said %q", f)
	}
	name, vm, rt := f[0], f[1], f[2]
	leader, _ := strconv.Atoi(f[3])
	dir := filepath.Join(RunsDir, name)
	start := startTime(leader)
	cmd.Process.Kill()
	cmd.Wait()
	go func() {
		for range lines {
		}
	}()

	// What a killed run leaves: the container itself (nspawn dies with
	// the test binary, the container's init does not), the directory with
	// the root filesystem, the namespaces, nspawn's directory for the
	// machine.
	if !e2etest.Poll(2*time.Second, func() bool { return nspawnGone(name) }) {
		t.Fatalf("after SIGKILL of the run: its nspawn still runs")
	}
	if start == "" {
		t.Logf("after SIGKILL of the run: the container's init %d went with it", leader)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("after SIGKILL of the run: %s: %v; the test would show nothing", dir, err)
	}
	for _, ns := range []string{vm, rt} {
		if !netnstest.Exists(ns) {
			t.Fatalf("after SIGKILL of the run: namespace %s already gone; the test would show nothing", ns)
		}
	}

	reapStale()
	netnstest.ReapStale()

	if startTime(leader) == start {
		t.Errorf("after reaping: the container's init (PID %d) still runs", leader)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after reaping: %s still there (%v)", dir, err)
	}
	if _, err := os.Stat(filepath.Join("/run/systemd/nspawn/propagate", name)); !os.IsNotExist(err) {
		t.Errorf("after reaping: nspawn's propagate directory for %s still there (%v)", name, err)
	}
	for _, ns := range []string{vm, rt} {
		if netnstest.Exists(ns) {
			t.Errorf("after reaping: namespace %s still there", ns)
		}
	}
}

// nspawnGone says no nspawn of machine name runs.
func nspawnGone(name string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline"); strings.Contains(string(b), "--machine="+name+"\x00") {
			return false
		}
	}
	return true
}

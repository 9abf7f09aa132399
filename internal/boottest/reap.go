package boottest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var reapOnce sync.Once

// reapStale removes what runs killed before their cleanups left behind:
// their containers (nspawn and every process whose root is inside the run's
// directory), nspawn's directory for the machine, and the run's directory.
// A run is stale when the process named in its directory no longer exists.
// Their namespaces are netnstest's, which reaps them the same way.
func reapStale() {
	ents, err := os.ReadDir(RunsDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, namePrefix)
		if !ok {
			rest, ok = strings.CutPrefix(name, "bin-")
			if !ok {
				continue
			}
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.ParseInt(pidStr, 36, 32)
		if err != nil || pid <= 0 || alive(int(pid)) {
			continue
		}
		dir := filepath.Join(RunsDir, name)
		if strings.HasPrefix(name, namePrefix) {
			killContainer(name, dir)
			removePropagate(name)
			removeLock(filepath.Join(dir, "root"))
		}
		os.RemoveAll(dir)
	}
}

// killContainer kills the nspawn of machine name and the container's init
// recorded in dir: nspawn dies with the test binary, but the container's
// init lives on (reparented), holding its PID namespace, its network
// namespace and inotify instances of this machine's root user. Killing the
// init ends every process of the container.
func killContainer(name, dir string) {
	if pid, start, ok := readLeader(dir); ok && startTime(pid) == start {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(cmdline), "--machine="+name+"\x00") {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// A PID namespace's init dies once every process in it is gone: under
	// load that takes a while.
	for range 500 {
		if pid, start, ok := readLeader(dir); !ok || startTime(pid) != start {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leaderFile records the container's init as "PID STARTTIME", so that a
// later run can tell it from a process that reused the PID.
const leaderFile = "leader"

func writeLeader(dir string, pid int) {
	os.WriteFile(filepath.Join(dir, leaderFile), []byte(strconv.Itoa(pid)+" "+startTime(pid)+"\n"), 0o644)
}

func readLeader(dir string) (int, string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, leaderFile))
	if err != nil {
		return 0, "", false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, "", false
	}
	pid, err := strconv.Atoi(f[0])
	return pid, f[1], err == nil && pid > 0
}

// startTime is field 22 of /proc/PID/stat (clock ticks since boot), "" when
// the process does not exist.
func startTime(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces; count after its ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

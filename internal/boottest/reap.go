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

// killContainer kills the nspawn of machine name and every process whose
// root directory is inside dir (the container's init first takes its whole
// PID namespace with it).
func killContainer(name, dir string) {
	for range 3 {
		found := false
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			root, _ := os.Readlink("/proc/" + e.Name() + "/root")
			cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if strings.HasPrefix(root, dir+"/") || strings.Contains(string(cmdline), "--machine="+name+"\x00") {
				syscall.Kill(pid, syscall.SIGKILL)
				found = true
			}
		}
		if !found {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

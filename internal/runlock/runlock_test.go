package runlock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "lock")
	l, err := Acquire(context.Background(), path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Another open file description: flock excludes it even within one
	// process, as it does another process.
	if _, err := Acquire(context.Background(), path, 30*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Acquire while held = %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Acquire(ctx, path, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire with a cancelled context = %v, want context.Canceled", err)
	}
	got := make(chan error, 1)
	go func() {
		l2, err := Acquire(context.Background(), path, time.Minute)
		l2.Release()
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Acquire returned while the lock was held: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	l.Release()
	if err := <-got; err != nil {
		t.Fatalf("waiting Acquire after release: %v", err)
	}
	l.Release() // twice is fine
}

// The kernel drops the lock of a holder that dies, however it dies.
func TestDeadHolderReleases(t *testing.T) {
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Fatalf("flock(1) (util-linux) not installed: %v", err)
	}
	path := filepath.Join(t.TempDir(), "lock")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// -o: the lock stays with flock(1) itself, not with sleep.
	cmd := exec.Command(flock, "-o", path, "sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := Acquire(context.Background(), path, 0)
		if errors.Is(err, ErrBusy) {
			break
		}
		l.Release()
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("flock(1) never took the lock: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // flock(1) has not started yet
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := Acquire(context.Background(), path, 10*time.Second)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	l.Release()
}

func TestPath(t *testing.T) {
	t.Setenv(Env, "")
	if Path() != DefaultPath {
		t.Errorf("Path() = %q without %s, want %q", Path(), Env, DefaultPath)
	}
	t.Setenv(Env, "/tmp/x/lock")
	if Path() != "/tmp/x/lock" {
		t.Errorf("Path() = %q, want $%s", Path(), Env)
	}
	if !strings.HasPrefix(DefaultPath, "/run/") {
		t.Errorf("DefaultPath %q is not under /run", DefaultPath)
	}
}

package e2etest

import (
	"bytes"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/netnstest"
)

// Result is what a command a test ran did.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// All is the command's whole output.
func (r Result) All() string { return r.Stdout + r.Stderr }

// Exec runs cmd (built with netnstest's NS.Command) to its end.
func Exec(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	code, stdout, stderr := netnstest.Exec(t, cmd)
	return Result{code, stdout, stderr}
}

// WantCode fails the test unless r exited with code, showing its output.
func WantCode(t testing.TB, r Result, code int) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.Code, code, r.Stdout, r.Stderr)
	}
}

// WantRoutes fails the test unless got, our routes as netnstest's
// LocalRoutes reads them (sorted), are exactly want, in any order. want is
// not changed.
func WantRoutes(t testing.TB, got []string, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("routes with proto 241 = %q, want %q", got, want)
	}
}

// Poll checks cond every 20 ms until it holds or d has passed, and
// reports whether it held.
func Poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Eventually fails the test unless cond comes to hold within a generous
// 5 s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Poll(5*time.Second, cond) {
		t.Fatalf("%s: not within 5s", what)
	}
}

// SyncBuffer collects a running command's output, safe to read while the
// command writes.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// KeepTail cuts what was collected to its last n bytes (the end of a long
// log is what a failure needs).
func (s *SyncBuffer) KeepTail(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.b.String(); len(b) > n {
		s.b.Reset()
		s.b.WriteString("...\n" + b[len(b)-n:])
	}
}

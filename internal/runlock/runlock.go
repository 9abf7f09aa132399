// Package runlock is the one lock every writer of the ranges file and the
// AnyIP routes holds while it reads the file and changes the table:
// anyip-firstboot, `anyip-routes up` and `down`, and each reconcile of the
// service. Without it two runs interleave (one reads the old file, the
// other writes and applies the new one, the first applies the old), and
// the table ends up matching neither file.
//
// It is an flock(2) on a file under /run: the kernel drops it when its
// holder exits, however it exits, so a crash never leaves it held, and
// /run is empty again after a reboot. The file itself is never removed: a
// run that removed it while another waited on it would let a third lock a
// new file beside them.
package runlock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultPath is the lock of the appliance. The units make /run/anyip
// (RuntimeDirectory=anyip, preserved until reboot).
const DefaultPath = "/run/anyip/lock"

// Env moves the lock elsewhere (tests, which must not share the host's).
// It is no flag on purpose: two commands that disagree about the lock do
// not exclude each other, so an operator has no reason to set it.
const Env = "ANYIP_LOCK"

// Path is the lock in use: $ANYIP_LOCK, else DefaultPath.
func Path() string {
	if p := os.Getenv(Env); p != "" {
		return p
	}
	return DefaultPath
}

// ErrBusy is the error of an Acquire that waited its whole time.
var ErrBusy = errors.New("another anyip run holds the lock")

// Lock is a held lock.
type Lock struct{ f *os.File }

// Acquire takes the lock at path, waiting for its holder up to wait (or
// until ctx ends). The directory is made if missing.
func Acquire(ctx context.Context, path string, wait time.Duration) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	deadline := time.Now().Add(wait)
	pause := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return &Lock{f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// Polled rather than blocking in flock(2), which neither a
		// deadline nor ctx could interrupt. Holders keep it for
		// milliseconds, so the pause stays short.
		left := time.Until(deadline)
		if left <= 0 {
			f.Close()
			return nil, fmt.Errorf("%w (%s, waited %s)", ErrBusy, path, wait)
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// Release drops the lock. A nil Lock is released already.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the last descriptor drops the flock
		l.f = nil
	}
}

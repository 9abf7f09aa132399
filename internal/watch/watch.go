// Package watch tells when a file may have changed, however it changed.
//
// It watches the file's directory with inotify, not the file's inode:
// editors and atomic writers (vim, sed -i, anything that writes a temp file
// and renames it into place) replace the inode, and a watch on the old one
// never fires again. The directory's events are filtered to the file's base
// name, so an in-place write (close after writing), a rename into place or
// away, deletion, re-creation and a change of mode or owner all count.
//
// A write is reported when the writer closes the file, not on every
// write(2): reading a file halfway through a slow writer could see half the
// lines. (A change without a close, such as truncate(1) or a writer that
// keeps the file open, is not seen; callers should re-read now and then.)
//
// The directory may be missing (not created yet, or removed): the watcher
// then tries again every Retry until it appears, and reports a change when
// it does, since the file may have come with it.
package watch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fileEvents are the directory events that concern an entry of it.
const fileEvents = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
	unix.IN_CREATE | unix.IN_DELETE | unix.IN_ATTRIB

// selfEvents end the directory's watch: it was deleted or moved away (a
// watch follows the inode, so after a move it no longer watches the path).
const selfEvents = unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_IGNORED | unix.IN_UNMOUNT

// DefaultRetry is how often a missing directory is looked for.
const DefaultRetry = 500 * time.Millisecond

// Options tune a Watcher. The zero value is fine.
type Options struct {
	// Retry is how often to try again to watch a missing directory
	// (DefaultRetry if zero).
	Retry time.Duration
	// Log, when set, is told of state changes worth a line in the log:
	// the directory is missing, is watched again, an error.
	Log func(msg string, args ...any)
}

// Watcher reports changes of one file path on C.
type Watcher struct {
	dir, base string
	opts      Options
	ino       *os.File // inotify instance, non-blocking, in the runtime poller
	c         chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu       sync.Mutex
	watching bool
}

// New starts watching path. Only a failure to create the inotify instance
// is an error; a missing directory is retried in the background.
func New(path string, opts Options) (*Watcher, error) {
	if opts.Retry <= 0 {
		opts.Retry = DefaultRetry
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("watch %s: inotify_init1: %w", path, err)
	}
	w := &Watcher{
		dir:  filepath.Dir(abs),
		base: filepath.Base(abs),
		opts: opts,
		// A non-blocking descriptor joins the runtime's poller: Read
		// parks the goroutine, deadlines work, and Close wakes it.
		ino:  os.NewFile(uintptr(fd), "inotify"),
		c:    make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	wd := w.add()
	w.wg.Add(1)
	go w.run(wd)
	return w, nil
}

// C receives a value after the file may have changed. Bursts coalesce: one
// value stands for any number of changes since the last receive, so the
// receiver should re-read the file (and debounce, see Debouncer).
func (w *Watcher) C() <-chan struct{} { return w.c }

// Watching reports whether the directory is being watched now (false
// while it is missing).
func (w *Watcher) Watching() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.watching
}

// Close stops the watcher. C is not closed.
func (w *Watcher) Close() error {
	var err error
	w.closeOnce.Do(func() {
		close(w.done)
		err = w.ino.Close() // wakes run's Read
		w.wg.Wait()
	})
	return err
}

func (w *Watcher) signal() {
	select {
	case w.c <- struct{}{}:
	default: // one is pending already
	}
}

func (w *Watcher) log(msg string, args ...any) {
	if w.opts.Log != nil {
		w.opts.Log(msg, args...)
	}
}

func (w *Watcher) setWatching(v bool) {
	w.mu.Lock()
	w.watching = v
	w.mu.Unlock()
}

// add watches the directory and returns the watch descriptor, or -1 if it
// cannot be watched now.
func (w *Watcher) add() int {
	raw, err := w.ino.SyscallConn()
	if err != nil {
		return -1
	}
	wd := -1
	var aerr error
	raw.Control(func(fd uintptr) {
		wd, aerr = unix.InotifyAddWatch(int(fd), w.dir, fileEvents|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_ONLYDIR)
	})
	if aerr != nil {
		return -1
	}
	w.setWatching(true)
	return wd
}

func (w *Watcher) rm(wd int) {
	raw, err := w.ino.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) { unix.InotifyRmWatch(int(fd), uint32(wd)) })
}

func (w *Watcher) run(wd int) {
	defer w.wg.Done()
	buf := make([]byte, 64<<10)
	missingLogged := false
	for {
		if wd < 0 {
			// The directory is missing (or unreadable): look again
			// after Retry, and tell the caller once it is back.
			if !missingLogged {
				w.log("directory of the watched file is missing; looking for it every "+w.opts.Retry.String(), "dir", w.dir)
				missingLogged = true
			}
			w.ino.SetReadDeadline(time.Now().Add(w.opts.Retry))
		} else {
			w.ino.SetReadDeadline(time.Time{})
		}
		n, err := w.ino.Read(buf)
		select {
		case <-w.done:
			return
		default:
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if wd = w.add(); wd >= 0 {
				w.log("watching the directory again", "dir", w.dir)
				missingLogged = false
				w.signal()
			}
			continue
		case errors.Is(err, os.ErrClosed):
			return
		case err != nil:
			// Should not happen on an inotify descriptor; do not spin.
			w.log("reading inotify events failed", "err", err)
			select {
			case <-w.done:
				return
			case <-time.After(w.opts.Retry):
			}
			continue
		}
		changed, lost := w.parse(buf[:n], wd)
		if lost {
			if wd >= 0 {
				w.rm(wd) // after a move the inode is still watched
			}
			wd = -1
			w.setWatching(false)
			changed = true
			// Maybe it is back already (replaced by a new directory).
			if wd = w.add(); wd >= 0 {
				w.log("watching the new directory", "dir", w.dir)
			}
		}
		if changed {
			w.signal()
		}
	}
}

// parse walks a buffer of inotify events. It reports whether one concerns
// the file, and whether the directory's watch ended.
func (w *Watcher) parse(b []byte, wd int) (changed, lost bool) {
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			break
		}
		name := b[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		switch {
		case ev.Mask&unix.IN_Q_OVERFLOW != 0:
			// Events were dropped; any of them could have been ours.
			changed = true
		case int(ev.Wd) != wd:
			// A late event of a watch given up already.
		case ev.Mask&selfEvents != 0:
			lost = true
		case string(name) == w.base:
			changed = true
		}
		b = b[end:]
	}
	return changed, lost
}

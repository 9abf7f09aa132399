package render

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/textfile"
)

// WriteFile replaces path with data so that a reader, or the next boot
// after a crash, sees either the whole old file or the whole new one:
// temp file in the same directory, fsync, rename, fsync the directory.
//
// A symlink is written through: the file it points to is replaced, in
// that file's directory, and the link stays (an operator who keeps the
// ranges on another volume keeps them there). An existing file keeps its
// mode and owner; a new one gets mode. Group and world write bits are
// always dropped: whoever can write the ranges file decides which
// addresses this host answers for. A target that is not a regular file
// (a device, a FIFO, a directory) is refused, never replaced.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	target, st, err := resolve(path)
	if err != nil {
		return err
	}
	uid, gid := -1, -1
	if st != nil {
		if !st.Mode().IsRegular() {
			return notRegular(path, target, st)
		}
		mode = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	}
	mode &^= 0o022
	Sweep(target)
	dir := filepath.Dir(target)
	tmp, unlock, err := createTemp(dir, target)
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after the rename
	defer unlock()        // after the rename: until then Sweep must see it live
	// CreateTemp makes the file 0600; chown and chmod before writing so a
	// secret written to a 0600 destination is never briefly more readable.
	if uid >= 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		if err := tmp.Chown(uid, gid); err != nil {
			tmp.Close()
			return fmt.Errorf("keep the owner %d:%d of %s: %w", uid, gid, target, err)
		}
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, target); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Temp files are named "." + the file's name + tempMark + the digits
// os.CreateTemp draws: a name no editor or backup an operator keeps beside
// the file has, and the only names Sweep removes.
const tempMark = ".anyip-tmp-"

// resolve follows path through symlinks to the file a write should
// replace, and returns it with its Lstat, or nil when it does not exist
// yet (a link to a file not yet created is written through too, as a shell
// redirection would). Relative links resolve against the real directory
// of the link, as the kernel does.
func resolve(path string) (string, fs.FileInfo, error) {
	const maxLinks = 40 // the kernel's own limit (MAXSYMLINKS)
	for range maxLinks {
		st, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return path, nil, nil
		}
		if err != nil {
			return "", nil, err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			return path, st, nil
		}
		link, err := os.Readlink(path)
		if err != nil {
			return "", nil, err
		}
		if !filepath.IsAbs(link) {
			dir, err := filepath.EvalSymlinks(filepath.Dir(path))
			if err != nil {
				return "", nil, err
			}
			link = filepath.Join(dir, link)
		}
		path = link
	}
	return "", nil, &fs.PathError{Op: "resolve", Path: path, Err: syscall.ELOOP}
}

func notRegular(path, target string, st fs.FileInfo) error {
	what := textfile.Kind(st.Mode())
	if target != path {
		return fmt.Errorf("%s is a symlink to %s, which is %s: refusing to replace it (point the link at a regular file, or remove it)", path, target, what)
	}
	return fmt.Errorf("%s is %s: refusing to replace it with a regular file (move it away first)", path, what)
}

func tempPattern(path string) string { return "." + filepath.Base(path) + tempMark + "*" }

// isTemp reports whether name (a base name) is a temp file of ours for
// path.
func isTemp(name, path string) bool {
	digits, ok := strings.CutPrefix(name, "."+filepath.Base(path)+tempMark)
	if !ok || digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// createTemp makes a temp file for path and holds an flock on it until
// unlock, which is how Sweep tells a live writer's file from a dead one's.
// The lock is on a second descriptor, so that it outlives closing the file
// and lasts until the rename. A sweep may take a new file in the moment
// between its creation and the lock; the name is then gone, and another
// is made.
func createTemp(dir, path string) (f *os.File, unlock func(), err error) {
	for range 5 {
		f, err := os.CreateTemp(dir, tempPattern(path))
		if err != nil {
			return nil, nil, err
		}
		lfd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err == nil {
			for err = unix.Flock(lfd, unix.LOCK_EX); err == unix.EINTR; {
				err = unix.Flock(lfd, unix.LOCK_EX)
			}
			if err != nil {
				unix.Close(lfd)
			}
		}
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if sameFile(f, f.Name()) {
			return f, func() { unix.Close(lfd) }, nil
		}
		unix.Close(lfd)
		f.Close()
	}
	return nil, nil, fmt.Errorf("temp files in %s vanish as they are made", dir)
}

// sameFile reports whether name still names the open file f.
func sameFile(f *os.File, name string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(name)
	return err == nil && os.SameFile(a, b)
}

// Sweep removes the temp files that writers of path left behind when they
// were killed between creating and renaming one. A temp file whose writer
// lives is locked (createTemp), and stays; a file that is not ours by its
// name (isTemp) is never touched. WriteFile calls it; a run that finds
// nothing to write calls it too.
func Sweep(path string) {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(path), tempPattern(path)))
	for _, s := range stale {
		if !isTemp(filepath.Base(s), path) {
			continue
		}
		f, err := os.OpenFile(s, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		// Held while removing, so that its writer, if it just made it,
		// finds it gone once it has the lock and makes another.
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && sameFile(f, s) {
			os.Remove(s)
		}
		f.Close()
	}
}

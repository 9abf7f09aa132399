package textfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular and ErrTooLarge are what ReadFile refuses; errors.Is tells
// them from I/O errors (and fs.ErrNotExist still means "no such file").
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = errors.New("larger than the limit")
)

// FileError is a file ReadFile refused, with the reason in words an
// operator can act on.
type FileError struct {
	Path   string
	Reason string // "is a character device, not a regular file"
	Kind   error  // ErrNotRegular or ErrTooLarge
}

func (e *FileError) Error() string        { return e.Path + " " + e.Reason }
func (e *FileError) Is(target error) bool { return target == e.Kind }

// ReadFile reads a whole file of at most limit bytes. It is the one way
// this project reads a file it is given: a path that turns out to be
// /dev/zero, a FIFO or an 8 GB sparse file must cost a clear error, not
// the memory of the machine or a hang. See Open; the size is compared with
// the limit before anything is allocated, and the read itself is bounded
// too, in case the file grows meanwhile.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, st, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > limit {
		return nil, tooLarge(path, st.Size(), limit)
	}
	return ReadAll(f, path, st.Size(), limit)
}

// Open opens a regular file for reading, following symlinks. The path is
// looked at before it is opened (opening some devices does something),
// opened without blocking (a FIFO with no writer would otherwise wait for
// ever, deaf to signals), and checked again with fstat, since the path
// may have changed in between.
func Open(path string) (*os.File, fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := regular(path, st); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	if st, err = f.Stat(); err == nil {
		err = regular(path, st)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// ReadAll reads r to its end, refusing (with an error naming name) once
// it has given more than limit bytes. sizeHint, when known, sizes the
// buffer at once.
func ReadAll(r io.Reader, name string, sizeHint, limit int64) ([]byte, error) {
	lr := io.LimitReader(r, limit+1)
	data := make([]byte, 0, min(max(sizeHint, 512), limit)+1)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := lr.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(data)) > limit {
		return nil, &FileError{Path: name, Reason: fmt.Sprintf("is more than the %s limit", bytesText(limit)), Kind: ErrTooLarge}
	}
	return data, nil
}

func regular(path string, st fs.FileInfo) error {
	if !st.Mode().IsRegular() {
		return &FileError{Path: path, Reason: "is " + Kind(st.Mode()) + ", not a regular file", Kind: ErrNotRegular}
	}
	return nil
}

func tooLarge(path string, size, limit int64) error {
	return &FileError{Path: path, Reason: fmt.Sprintf("is %s, more than the %s limit", bytesText(size), bytesText(limit)), Kind: ErrTooLarge}
}

// bytesText writes a size the way the limits are documented.
func bytesText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Kind names what a file that is not a regular one is, for messages.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}

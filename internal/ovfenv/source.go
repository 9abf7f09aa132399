package ovfenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/anyip/anyip/internal/procgroup"
)

// Source is one place the OVF environment may come from.
type Source interface {
	Name() string
	Read(ctx context.Context) ([]byte, error)
}

// commandTimeout bounds each helper program, so that one hung vmtoolsd
// does not use up the whole budget the caller gave ReadFirst.
const commandTimeout = 15 * time.Second

// Auto returns the sources tried when no source is named, most direct
// first: the backdoor needs no other software, the programs need
// open-vm-tools, and the ISO exists only when the vApp uses the ISO
// transport.
func Auto() []Source {
	return []Source{
		Backdoor{},
		Command{Program: "vmware-rpctool", Args: []string{"info-get " + OVFEnvKey}, Timeout: commandTimeout},
		Command{Program: "vmtoolsd", Args: []string{"--cmd", "info-get " + OVFEnvKey}, Timeout: commandTimeout},
		CDROM{},
	}
}

// SourceError is why one source failed.
type SourceError struct {
	Source string
	Err    error
}

func (e SourceError) Error() string { return e.Source + ": " + e.Err.Error() }
func (e SourceError) Unwrap() error { return e.Err }

// ReadError lists every source ReadFirst tried, in order.
type ReadError struct {
	Tried []SourceError
}

func (e *ReadError) Error() string {
	if len(e.Tried) == 0 {
		return "no OVF environment source to try"
	}
	parts := make([]string, len(e.Tried))
	for i, t := range e.Tried {
		parts[i] = t.Error()
	}
	return "no OVF environment found: " + strings.Join(parts, "; ")
}

func (e *ReadError) Unwrap() []error {
	errs := make([]error, len(e.Tried))
	for i, t := range e.Tried {
		errs[i] = t.Err
	}
	return errs
}

// ReadFirst returns the data of the first source that yields a non-empty
// document, and that source's name.
func ReadFirst(ctx context.Context, srcs []Source) ([]byte, string, error) {
	rerr := &ReadError{}
	for _, s := range srcs {
		if err := ctx.Err(); err != nil {
			rerr.Tried = append(rerr.Tried, SourceError{s.Name(), fmt.Errorf("not tried: %w", err)})
			continue
		}
		data, err := s.Read(ctx)
		if err == nil && len(bytes.TrimSpace(data)) == 0 {
			err = errors.New("empty")
		}
		if err != nil {
			rerr.Tried = append(rerr.Tried, SourceError{s.Name(), err})
			continue
		}
		return data, s.Name(), nil
	}
	return nil, "", rerr
}

// Command runs a program found through PATH and takes its standard output.
type Command struct {
	Program string
	Args    []string
	// Timeout, when positive, bounds this program on top of ctx.
	Timeout time.Duration
	// LookPath resolves Program; nil means exec.LookPath.
	LookPath func(string) (string, error)
}

func (c Command) Name() string { return c.Program }

func (c Command) Read(ctx context.Context) ([]byte, error) {
	out, err := c.run(ctx)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, errors.New("printed nothing")
	}
	return out, nil
}

func (c Command) run(ctx context.Context) ([]byte, error) {
	lookPath := c.LookPath
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	path, err := lookPath(c.Program)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, errors.New("not found in PATH")
		}
		return nil, err
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	// Its own process group: giving up ends the program's children too.
	cmd := procgroup.Command(ctx, path, c.Args...)
	stdout := &cappedBuffer{max: MaxSize}
	stderr := &cappedBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("gave up: %w", ctxErr)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%v: %s", ee.ProcessState, oneLine(stderr.Bytes(), 300))
		}
		return nil, err
	}
	if stdout.overflow {
		return nil, fmt.Errorf("output exceeds the %d byte limit", MaxSize)
	}
	return stdout.Bytes(), nil
}

// cappedBuffer keeps the first max bytes and swallows the rest, so a
// chatty program neither fills memory nor dies of a broken pipe.
type cappedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	room := b.max - b.Len()
	if len(p) > room {
		b.overflow = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// FromPath returns a source for a path given by the operator: "-" is
// stdin; otherwise a file holding the XML, or an ISO 9660 image or block
// device with ovf-env.xml in its root directory.
func FromPath(path string, stdin io.Reader) Source {
	if path == "-" {
		return streamSource{name: "stdin", r: stdin}
	}
	return pathSource{path: path}
}

type streamSource struct {
	name string
	r    io.Reader
}

func (s streamSource) Name() string { return s.name }

func (s streamSource) Read(ctx context.Context) ([]byte, error) {
	if s.r == nil {
		return nil, errors.New("no input")
	}
	return readStream(s.r)
}

// readStream reads a non-seekable input; an ISO image piped in is
// recognised too, as long as it fits the size limit.
func readStream(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("input exceeds the %d byte limit", MaxSize)
	}
	if hasISOSignature(bytes.NewReader(data)) {
		return readISO(bytes.NewReader(data))
	}
	return data, nil
}

type pathSource struct{ path string }

func (s pathSource) Name() string { return s.path }

func (s pathSource) Read(ctx context.Context) ([]byte, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return nil, err
	}
	mode := fi.Mode()
	switch {
	case mode.IsDir():
		return nil, errors.New("is a directory")
	case mode.IsRegular():
		return readFileOrImage(s.path, fi.Size())
	case mode&os.ModeDevice != 0 && mode&os.ModeCharDevice == 0:
		return readDevice(s.path)
	default:
		// FIFOs, /dev/stdin, process substitution.
		f, err := os.Open(s.path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readStream(f)
	}
}

func readFileOrImage(path string, size int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if hasISOSignature(f) {
		return readISO(f)
	}
	if size > MaxSize {
		return nil, fmt.Errorf("is %d bytes, more than the %d byte limit, and not an ISO 9660 image", size, MaxSize)
	}
	return readStream(f)
}

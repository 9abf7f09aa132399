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
	"github.com/anyip/anyip/internal/textfile"
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
	stdout := &cappedBuffer{max: MaxSize, stop: true}
	// A chatty stderr is kept short and does not stop the program.
	stderr := &cappedBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("gave up: %w", ctxErr)
	}
	// Before the exit status: a program stopped for printing too much
	// dies of the broken pipe.
	if stdout.overflow {
		return nil, fmt.Errorf("printed more than the %d byte limit; stopped it", MaxSize)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%v: %s", ee.ProcessState, oneLine(stderr.Bytes(), 300))
		}
		return nil, err
	}
	return stdout.Bytes(), nil
}

// cappedBuffer keeps the first max bytes. It has no ReadFrom on purpose:
// exec.Cmd copies a program's output with io.Copy, which would use one
// (bytes.Buffer's, when it was embedded) and never call the capped Write.
// With stop set, the first byte past max fails the write, so the copy
// ends and the program gets a broken pipe instead of running on.
type cappedBuffer struct {
	buf      []byte
	max      int
	stop     bool
	overflow bool
}

var errOverflow = errors.New("output limit reached")

func (b *cappedBuffer) Write(p []byte) (int, error) {
	room := b.max - len(b.buf)
	if len(p) > room {
		b.overflow = true
		b.buf = append(b.buf, p[:max(room, 0)]...)
		if b.stop {
			return max(room, 0), errOverflow
		}
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *cappedBuffer) Bytes() []byte { return b.buf }

// FromPath returns a source for a path given by the operator: "-" is
// stdin; otherwise a regular file holding the XML or an ISO 9660 image, or
// a block device with ovf-env.xml in the root directory of its ISO 9660
// file system. Anything else (a FIFO, a character device) is refused: a
// stream comes through stdin.
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

// Read reads the stream in the background so that the caller's ctx (a
// signal, a deadline) ends the wait for an input that never closes; the
// process is about to exit then, and takes the blocked read with it.
func (s streamSource) Read(ctx context.Context) ([]byte, error) {
	if s.r == nil {
		return nil, errors.New("no input")
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := readStream(s.r, s.name)
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("gave up waiting for the end of the input: %w", ctx.Err())
	}
}

// readStream reads a non-seekable input; an ISO image piped in is
// recognised too, as long as it fits the size limit.
func readStream(r io.Reader, name string) ([]byte, error) {
	data, err := textfile.ReadAll(r, name, 0, MaxSize)
	if err != nil {
		return nil, err
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
	if m := fi.Mode(); m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0 {
		return readDevice(s.path)
	}
	f, fi, err := textfile.Open(s.path)
	if err != nil {
		if errors.Is(err, textfile.ErrNotRegular) {
			return nil, fmt.Errorf("%w (give a file, an ISO image or a CD-ROM device; pipe a stream into --ovf-env -)", err)
		}
		return nil, err
	}
	defer f.Close()
	if hasISOSignature(f) {
		return readISO(f)
	}
	if fi.Size() > MaxSize {
		return nil, fmt.Errorf("is %d bytes, more than the %d byte limit, and not an ISO 9660 image", fi.Size(), MaxSize)
	}
	return textfile.ReadAll(f, s.path, fi.Size(), MaxSize)
}

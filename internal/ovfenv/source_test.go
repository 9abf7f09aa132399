package ovfenv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeChannel is an RPCI channel that records what it was sent and
// answers with a fixed reply.
type fakeChannel struct {
	mu       sync.Mutex
	startErr error
	reply    string
	recvErr  error
	block    chan struct{} // when set, Receive waits for it
	fault    bool          // when set, Receive dereferences a bad address
	sent     []string
	stopped  bool
}

func (c *fakeChannel) Start() error { return c.startErr }
func (c *fakeChannel) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	return nil
}
func (c *fakeChannel) Send(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, string(b))
	return nil
}
func (c *fakeChannel) Receive() ([]byte, error) {
	if c.block != nil {
		<-c.block
	}
	if c.fault {
		// A real memory fault, like an I/O port access without the
		// privilege; without the guard in rpci it kills the process.
		page, err := syscall.Mmap(-1, 0, os.Getpagesize(), syscall.PROT_NONE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			return nil, err
		}
		return []byte{page[0]}, nil
	}
	return []byte(c.reply), c.recvErr
}

func (c *fakeChannel) factory() func() Channel { return func() Channel { return c } }

func TestBackdoorRead(t *testing.T) {
	xml := string(doc(props("k", "v")))
	tests := []struct {
		name    string
		ch      *fakeChannel
		want    string
		wantErr string
	}{
		{name: "value", ch: &fakeChannel{reply: "1 " + xml}, want: xml},
		{name: "no value", ch: &fakeChannel{reply: "0 No value found"}, wantErr: "host refused: No value found"},
		{name: "empty value", ch: &fakeChannel{reply: "1 "}, wantErr: "guestinfo.ovfEnv is empty"},
		{name: "garbled reply", ch: &fakeChannel{reply: "\x00\x01zz"}, wantErr: "unexpected reply from host: zz"},
		{name: "not VMware", ch: &fakeChannel{startErr: errNotVirtualForTest}, wantErr: wantNotVirtualMsg},
		{name: "start fails", ch: &fakeChannel{startErr: errors.New("could not open channel")}, wantErr: "cannot open the RPC channel: could not open channel"},
		{name: "receive fails", ch: &fakeChannel{recvErr: errors.New("boom")}, wantErr: "cannot receive the reply: boom"},
		{name: "memory fault is contained", ch: &fakeChannel{fault: true}, wantErr: "the VMware backdoor port faulted: not a VMware VM or the port is blocked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Backdoor{NewChannel: tt.ch.factory()}.Read(t.Context())
			checkResult(t, got, err, []byte(tt.want), tt.wantErr)
			if tt.ch.startErr == nil {
				if len(tt.ch.sent) != 1 || tt.ch.sent[0] != "info-get guestinfo.ovfEnv" {
					t.Errorf("sent %q", tt.ch.sent)
				}
				if !tt.ch.stopped && !tt.ch.fault {
					t.Error("channel not stopped")
				}
			}
		})
	}
}

func TestBackdoorHonoursContext(t *testing.T) {
	ch := &fakeChannel{reply: "1 x", block: make(chan struct{})}
	defer close(ch.block)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Backdoor{NewChannel: ch.factory()}.Read(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

// writeScript puts an executable shell script named name in dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\nPATH=/usr/bin:/bin\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommandSources(t *testing.T) {
	xml := string(doc(props("k", "v")))
	xmlFile := filepath.Join(t.TempDir(), "env.xml")
	if err := os.WriteFile(xmlFile, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	auto := Auto()
	rpctool, vmtoolsd := auto[1].(Command), auto[2].(Command)
	tests := []struct {
		name    string
		src     Command
		script  string // "" = program absent
		want    string
		wantErr string
	}{
		{"rpctool value", rpctool, `[ "$#" = 1 ] && [ "$1" = "info-get guestinfo.ovfEnv" ] || { echo "bad args: $*" >&2; exit 9; }
cat '` + xmlFile + `'`, xml, ""},
		{"vmtoolsd value", vmtoolsd, `[ "$#" = 2 ] && [ "$1" = "--cmd" ] && [ "$2" = "info-get guestinfo.ovfEnv" ] || { echo "bad args: $*" >&2; exit 9; }
cat '` + xmlFile + `'`, xml, ""},
		{"no value", rpctool, `echo "No value found" >&2; exit 1`, "", "exit status 1: No value found"},
		{"prints nothing", rpctool, `exit 0`, "", "printed nothing"},
		{"flood on stdout is cut at the limit", rpctool, `head -c 8388608 /dev/zero`, "", "printed more than the 4194304 byte limit"},
		{"long stderr is bounded", rpctool, `i=0; while [ $i -lt 500 ]; do printf 'noise noise ' >&2; i=$((i+1)); done; exit 3`, "", "exit status 3: noise noise"},
		{"missing", rpctool, "", "", "not found in PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.script != "" {
				writeScript(t, dir, tt.src.Program, tt.script)
			}
			t.Setenv("PATH", dir)
			got, err := tt.src.Read(t.Context())
			checkResult(t, got, err, []byte(tt.want), tt.wantErr)
			if err != nil && len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}

// exec.Cmd hands a program's output to io.Copy, which prefers the
// destination's ReadFrom: the cap must hold on that path too.
func TestCappedBufferThroughIOCopy(t *testing.T) {
	b := &cappedBuffer{max: 1000}
	n, err := io.Copy(b, strings.NewReader(strings.Repeat("x", 5000)))
	if len(b.Bytes()) != 1000 || !b.overflow {
		t.Errorf("kept %d bytes (overflow %v) of %d copied (%v), want 1000 and overflow", len(b.Bytes()), b.overflow, n, err)
	}
	stop := &cappedBuffer{max: 1000, stop: true}
	if _, err := io.Copy(stop, strings.NewReader(strings.Repeat("x", 5000))); err == nil || len(stop.Bytes()) != 1000 {
		t.Errorf("stopping buffer: kept %d bytes, err %v", len(stop.Bytes()), err)
	}
}

// A stdin that never ends gives way to the caller's context (a signal).
func TestStdinHonoursContext(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithCancel(t.Context())
	go func() { w.Write([]byte("<Environment")); cancel() }()
	_, err := FromPath("-", r).Read(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the context's", err)
	}
}

func TestCommandTimeout(t *testing.T) {
	dir := t.TempDir()
	// The child sleep inherits stdout: WaitDelay must stop us waiting
	// for it after the shell is killed.
	writeScript(t, dir, "vmware-rpctool", "sleep 30; echo late")
	t.Setenv("PATH", dir)
	for _, tc := range []struct {
		name string
		src  Command
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"ctx deadline", Command{Program: "vmware-rpctool"}, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 200*time.Millisecond)
		}},
		{"own timeout", Command{Program: "vmware-rpctool", Timeout: 200 * time.Millisecond}, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(t.Context())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			_, err := tc.src.Read(ctx)
			if err == nil || !strings.Contains(err.Error(), "gave up") {
				t.Fatalf("err = %v, want a timeout", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

type fakeSource struct {
	name  string
	data  string
	err   error
	calls *int
}

func (s fakeSource) Name() string { return s.name }
func (s fakeSource) Read(context.Context) ([]byte, error) {
	if s.calls != nil {
		*s.calls++
	}
	return []byte(s.data), s.err
}

func TestReadFirst(t *testing.T) {
	var laterCalls int
	t.Run("first working source wins", func(t *testing.T) {
		data, used, err := ReadFirst(t.Context(), []Source{
			fakeSource{name: "a", err: errors.New("no")},
			fakeSource{name: "b", data: "  \n"},
			fakeSource{name: "c", data: "<x/>"},
			fakeSource{name: "d", data: "<y/>", calls: &laterCalls},
		})
		if err != nil || used != "c" || string(data) != "<x/>" {
			t.Fatalf("got %q from %q, err %v", data, used, err)
		}
		if laterCalls != 0 {
			t.Error("a source after the winner was read")
		}
	})
	t.Run("every failure listed in order", func(t *testing.T) {
		_, used, err := ReadFirst(t.Context(), []Source{
			fakeSource{name: "backdoor", err: ErrNotVMware},
			fakeSource{name: "vmware-rpctool", err: errors.New("not found in PATH")},
			fakeSource{name: "iso", data: ""},
		})
		want := "no OVF environment found: backdoor: not a VMware virtual CPU; vmware-rpctool: not found in PATH; iso: empty"
		if err == nil || err.Error() != want || used != "" {
			t.Fatalf("err = %v, used %q\nwant %s", err, used, want)
		}
		var re *ReadError
		if !errors.As(err, &re) || len(re.Tried) != 3 {
			t.Fatalf("not a ReadError with 3 entries: %#v", err)
		}
		if !errors.Is(err, ErrNotVMware) {
			t.Error("errors.Is does not see the backdoor's error")
		}
	})
	t.Run("no sources", func(t *testing.T) {
		_, _, err := ReadFirst(t.Context(), nil)
		if err == nil || !strings.Contains(err.Error(), "no OVF environment source") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cancelled context tries nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var calls int
		_, _, err := ReadFirst(ctx, []Source{fakeSource{name: "a", data: "<x/>", calls: &calls}})
		if calls != 0 || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "a: not tried") {
			t.Fatalf("calls %d, err %v", calls, err)
		}
	})
}

func TestAutoOrder(t *testing.T) {
	var names []string
	for _, s := range Auto() {
		names = append(names, s.Name())
	}
	if got, want := strings.Join(names, ","), "backdoor,vmware-rpctool,vmtoolsd,iso"; got != want {
		t.Fatalf("Auto() = %s, want %s", got, want)
	}
}

func TestFromPath(t *testing.T) {
	xml := doc(props("k", "v"))
	iso := buildISO(t, isoSpec{primary: []isoEntry{{name: "OVF-ENV.XML;1", data: xml}}})
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	xmlPath := write("env.xml", xml)
	isoPath := write("env.iso", iso)
	bigPath := write("big.xml", bytes.Repeat([]byte(" "), MaxSize+1))
	emptyISO := write("empty.iso", buildISO(t, isoSpec{}))
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	os.Symlink("/dev/zero", zero)

	tests := []struct {
		name     string
		path     string
		stdin    []byte
		wantName string
		want     []byte
		wantErr  string
	}{
		{name: "XML file", path: xmlPath, wantName: xmlPath, want: xml},
		{name: "ISO image file", path: isoPath, wantName: isoPath, want: xml},
		{name: "ISO without the file", path: emptyISO, wantName: emptyISO, wantErr: "no ovf-env.xml"},
		{name: "stdin XML", path: "-", stdin: xml, wantName: "stdin", want: xml},
		{name: "stdin ISO", path: "-", stdin: iso, wantName: "stdin", want: xml},
		{name: "stdin too large", path: "-", stdin: bytes.Repeat([]byte("x"), MaxSize+1), wantName: "stdin", wantErr: "stdin is more than the 4 MiB limit"},
		{name: "FIFO without a writer", path: fifo, wantName: fifo, wantErr: fifo + " is a FIFO, not a regular file"},
		{name: "symlink to /dev/zero", path: zero, wantName: zero, wantErr: zero + " is a character device, not a regular file"},
		{name: "file too large", path: bigPath, wantName: bigPath, wantErr: "byte limit"},
		{name: "directory", path: dir, wantName: dir, wantErr: "is a directory"},
		{name: "missing", path: filepath.Join(dir, "nope"), wantName: filepath.Join(dir, "nope"), wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := FromPath(tt.path, bytes.NewReader(tt.stdin))
			if src.Name() != tt.wantName {
				t.Errorf("Name() = %q, want %q", src.Name(), tt.wantName)
			}
			got, err := src.Read(t.Context())
			checkResult(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestCDROM(t *testing.T) {
	xml := doc(props("k", "v"))
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "sr9")
	notISO := write("sr1", make([]byte, 64*1024))
	noFile := write("sr2", buildISO(t, isoSpec{}))
	good := write("sr3", buildISO(t, isoSpec{primary: []isoEntry{{name: "OVF-ENV.XML;1", data: xml}}}))
	devs := func(d ...string) func() []string { return func() []string { return d } }

	t.Run("skips devices that fail", func(t *testing.T) {
		got, err := CDROM{Devices: devs(missing, notISO, noFile, good)}.Read(t.Context())
		checkResult(t, got, err, xml, "")
	})
	t.Run("lists every device that failed", func(t *testing.T) {
		_, err := CDROM{Devices: devs(missing, notISO, noFile)}.Read(t.Context())
		if err == nil {
			t.Fatal("no error")
		}
		for _, w := range []string{missing + ": open: no such file", notISO + ": no ISO 9660 file system", noFile + ": ISO 9660: no ovf-env.xml"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	})
	t.Run("no devices", func(t *testing.T) {
		_, err := CDROM{Devices: devs()}.Read(t.Context())
		if err == nil || !strings.Contains(err.Error(), "no CD-ROM device") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestExistingUnique(t *testing.T) {
	dir := t.TempDir()
	sr0 := filepath.Join(dir, "sr0")
	if err := os.WriteFile(sr0, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cdrom := filepath.Join(dir, "cdrom")
	if err := os.Symlink("sr0", cdrom); err != nil {
		t.Fatal(err)
	}
	sr1 := filepath.Join(dir, "sr1")
	if err := os.WriteFile(sr1, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := existingUnique([]string{sr0, cdrom, filepath.Join(dir, "sr7"), sr0, sr1})
	if want := []string{sr0, sr1}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v, want %v", got, want)
	}
}

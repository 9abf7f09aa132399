package ovfenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Channel is the guest-to-host RPC transport. It has the method set of
// govmomi's toolbox.Channel, so toolbox channels (and test fakes) satisfy
// it; it is declared here because the toolbox package only builds on x86,
// and this package must build everywhere.
type Channel interface {
	Start() error
	Stop() error
	Send([]byte) error
	Receive() ([]byte, error)
}

// ErrNotVMware means the CPU does not identify itself as a VMware virtual
// CPU, so the backdoor was not touched.
var ErrNotVMware = errors.New("not a VMware virtual CPU")

// OVFEnvKey is the guestinfo variable that holds the OVF environment.
const OVFEnvKey = "guestinfo.ovfEnv"

// Backdoor reads the OVF environment over the VMware backdoor RPC channel.
type Backdoor struct {
	// NewChannel returns a fresh RPCI channel; nil means the real VMware
	// backdoor, whose Start checks the CPU before touching the I/O port.
	NewChannel func() Channel
}

func (Backdoor) Name() string { return "backdoor" }

func (b Backdoor) Read(ctx context.Context) ([]byte, error) {
	reply, err := rpci(ctx, b.NewChannel, []byte("info-get "+OVFEnvKey))
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(reply)) == 0 {
		return nil, fmt.Errorf("%s is empty", OVFEnvKey)
	}
	if len(reply) > MaxSize {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d byte limit", OVFEnvKey, len(reply), MaxSize)
	}
	return reply, nil
}

// rpci sends one RPCI request and returns the payload of a "1 " reply.
//
// The exchange runs on its own locked OS thread with SetPanicOnFault: if
// the CPU claims to be VMware but no backdoor is there (another hypervisor
// spoofing the vendor string), the port access raises SIGSEGV, and this
// turns what would be a fatal runtime fault into an error. The thread is
// never unlocked, so the runtime discards it afterwards instead of
// reusing a thread that has just faulted.
func rpci(ctx context.Context, newChannel func() Channel, request []byte) ([]byte, error) {
	if newChannel == nil {
		newChannel = vmwareBackdoor
	}
	type result struct {
		reply []byte
		err   error
	}
	done := make(chan result, 1) // buffered: the goroutine must not block if ctx wins
	go func() {
		runtime.LockOSThread()
		var res result
		defer func() {
			if r := recover(); r != nil {
				res = result{err: faultError(r)}
			}
			done <- res
		}()
		debug.SetPanicOnFault(true)
		res.reply, res.err = exchange(newChannel(), request)
	}()
	select {
	case res := <-done:
		return res.reply, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ErrPortFault is what a fault during the backdoor exchange means: the
// CPU claimed to be VMware's, but the I/O port is not there or not open
// to us.
var ErrPortFault = errors.New("the VMware backdoor port faulted: not a VMware VM or the port is blocked")

// faultError says what a recovered panic of the exchange was. A memory
// fault (SetPanicOnFault turns the port access's SIGSEGV into one; the
// runtime names it "nil pointer dereference", as the fault has no
// address) is the port refusing us; anything else is named as it is.
func faultError(r any) error {
	if _, ok := r.(interface{ Addr() uintptr }); ok {
		return ErrPortFault
	}
	if re, ok := r.(runtime.Error); ok && strings.Contains(re.Error(), "invalid memory address") {
		return ErrPortFault
	}
	return fmt.Errorf("the VMware backdoor exchange failed: %v", r)
}

func exchange(ch Channel, request []byte) ([]byte, error) {
	if err := ch.Start(); err != nil {
		if isNotVirtual(err) {
			return nil, ErrNotVMware
		}
		return nil, fmt.Errorf("cannot open the RPC channel: %w", err)
	}
	defer ch.Stop()
	if err := ch.Send(request); err != nil {
		return nil, fmt.Errorf("cannot send the request: %w", err)
	}
	reply, err := ch.Receive()
	if err != nil {
		return nil, fmt.Errorf("cannot receive the reply: %w", err)
	}
	// Replies are "1 <payload>" or "0 <reason>". The request itself is
	// never quoted in errors: for info-set it carries the value.
	switch {
	case bytes.HasPrefix(reply, []byte("1 ")):
		return reply[2:], nil
	case bytes.Equal(reply, []byte("1")):
		return nil, nil
	case bytes.HasPrefix(reply, []byte("0 ")):
		return nil, fmt.Errorf("host refused: %s", oneLine(reply[2:], 200))
	default:
		return nil, fmt.Errorf("unexpected reply from host: %s", oneLine(reply, 200))
	}
}

// oneLine renders program or host output for an error message: whitespace
// runs collapsed, non-printable bytes dropped, at most max bytes.
func oneLine(b []byte, max int) string {
	var sb bytes.Buffer
	space := false
	for _, r := range string(bytes.TrimSpace(b)) {
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			space = true
			continue
		case r < 0x20 || r == 0x7f || r == '\uFFFD':
			continue
		}
		if space && sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		space = false
		sb.WriteRune(r)
		if sb.Len() >= max {
			sb.WriteString("...")
			break
		}
	}
	if sb.Len() == 0 {
		return "(no message)"
	}
	return sb.String()
}

package rtnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"syscall"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func TestAckError(t *testing.T) {
	ack := func(code int32, flags netlink.HeaderFlags, tlvs []byte) netlink.Message {
		ne := binary.NativeEndian
		b := ne.AppendUint32(nil, uint32(code))
		// The capped request: its header alone.
		b = ne.AppendUint32(b, 44)
		b = ne.AppendUint16(b, unix.RTM_NEWROUTE)
		b = ne.AppendUint16(b, 0)
		b = ne.AppendUint32(b, 5)
		b = ne.AppendUint32(b, 0)
		return netlink.Message{Header: netlink.Header{Type: netlink.Error, Flags: flags, Sequence: 5}, Data: append(b, tlvs...)}
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NLMSGERR_ATTR_MSG, "Invalid prefix for given prefix length")
	msg, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		m    netlink.Message
		want error
	}{
		{"ack", ack(0, netlink.Capped, nil), nil},
		{"errno", ack(-int32(syscall.EEXIST), netlink.Capped, nil), syscall.EEXIST},
		{"errno with message", ack(-int32(syscall.EINVAL), netlink.Capped|netlink.AcknowledgeTLVs, msg),
			&Error{Errno: syscall.EINVAL, Msg: "Invalid prefix for given prefix length"}},
		{"TLVs cut short", ack(-int32(syscall.EINVAL), netlink.Capped|netlink.AcknowledgeTLVs, msg[:6]), syscall.EINVAL},
	} {
		got := AckError(tc.m)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, got, tc.want)
		}
	}
}

func TestKernelError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"errno", &netlink.OpError{Op: "receive", Err: syscall.ENODEV, Sequence: 3}, syscall.ENODEV},
		{"explained", &netlink.OpError{Op: "receive", Err: syscall.EINVAL, Message: "bad table", Sequence: 3},
			&Error{Errno: syscall.EINVAL, Msg: "bad table"}},
	} {
		if got := KernelError(tc.err); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, got, tc.want)
		}
	}
	// A failed system call stays what it was.
	sys := fmt.Errorf("wrapped: %w", &netlink.OpError{Op: "receive", Err: &errorString{"recvmsg: bad file descriptor"}})
	if got := KernelError(sys); got != sys {
		t.Errorf("system call error became %#v", got)
	}
	if got := KernelError(nil); got != nil {
		t.Errorf("KernelError(nil) = %v", got)
	}
	if e := (&Error{Errno: syscall.EINVAL, Msg: "x"}); !errors.Is(e, syscall.EINVAL) || e.Error() != "invalid argument (x)" {
		t.Errorf("Error: %q, Is EINVAL %v", e.Error(), errors.Is(e, syscall.EINVAL))
	}
}

type errorString struct{ s string }

func (e *errorString) Error() string { return e.s }

// Package rtnl speaks rtnetlink (NETLINK_ROUTE), the kernel's interface to
// its links, addresses and routes, on github.com/mdlayher/netlink. That
// library owns the socket (network namespace, options, buffers, multicast
// groups) and the framing: message headers, attributes, multi-part replies
// and error acknowledgements. What is here is the part it leaves to its
// users: the rtnetlink messages anyip sends and reads (struct rtmsg,
// ifaddrmsg and ifinfomsg with the attributes we use), in net/netip types,
// and the few requests made of them.
//
// The route writer (internal/routes, with its pipelined windows and its
// route-event subscription) and the readers of the system's facts
// (internal/sysfacts, internal/check) all go through it: one netlink layer.
package rtnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

var ne = binary.NativeEndian

// Dial opens an rtnetlink socket with cfg (cfg.NetNS: a namespace's
// descriptor, or 0 for the calling thread's namespace).
//
// The options are best effort, each of them; older kernels lack some.
// Extended acks: error acks carry the kernel's explanation. Capped acks:
// error acks do not echo the request back (smaller acks). Strict checking:
// dumps honour the filters of the request (table, type, device), so the
// kernel sends only what was asked for; every reader filters again, for
// kernels without it.
func Dial(cfg netlink.Config) (*netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &cfg)
	if err != nil {
		return nil, err
	}
	for _, o := range []netlink.ConnOption{netlink.ExtendedAcknowledge, netlink.CapAcknowledge, netlink.GetStrictCheck} {
		_ = c.SetOption(o, true)
	}
	return c, nil
}

// Error is an errno with the kernel's explanation (an extended ack).
type Error struct {
	Errno syscall.Errno
	Msg   string
}

func (e *Error) Error() string { return e.Errno.Error() + " (" + e.Msg + ")" }
func (e *Error) Unwrap() error { return e.Errno }

// KernelError turns the library's error for a netlink error message into
// the plain errno, or an *Error when the kernel explained it; any other
// error (a failed system call, a malformed reply) is returned as it is.
func KernelError(err error) error {
	var oe *netlink.OpError
	if !errors.As(err, &oe) {
		return err
	}
	errno, ok := oe.Err.(syscall.Errno) // a system call's failure is an *os.SyscallError
	if !ok {
		return err
	}
	if oe.Message != "" {
		return &Error{Errno: errno, Msg: oe.Message}
	}
	return errno
}

var errShortAck = errors.New("netlink: short error message")

// AckError returns the error an acknowledgement (NLMSG_ERROR, or the
// NLMSG_DONE closing a dump) carries: nil for a plain ack, the errno, or
// an *Error when the kernel explained it. It is for readers that take acks
// off the socket themselves (the pipelined route writer reads a window of
// them in one system call); the library's Receive does the same for the
// replies it reads.
func AckError(m netlink.Message) error {
	if len(m.Data) < 4 {
		return errShortAck
	}
	code := int32(ne.Uint32(m.Data))
	if code == 0 {
		return nil
	}
	errno := syscall.Errno(-code)
	if msg := extAckMsg(m); msg != "" {
		return &Error{Errno: errno, Msg: msg}
	}
	return errno
}

// extAckMsg finds NLMSGERR_ATTR_MSG in the attributes after the error code
// and, in an NLMSG_ERROR, the request it answers (only its header when
// capped).
func extAckMsg(m netlink.Message) string {
	if m.Header.Flags&netlink.AcknowledgeTLVs == 0 {
		return ""
	}
	off := 4 // the error code
	if m.Header.Type == netlink.Error {
		const hdrLen = 16 // struct nlmsghdr
		if len(m.Data) < off+hdrLen {
			return ""
		}
		if m.Header.Flags&netlink.Capped != 0 {
			off += hdrLen
		} else {
			off += int(align4(ne.Uint32(m.Data[off:])))
		}
	}
	if off > len(m.Data) {
		return ""
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[off:])
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() == unix.NLMSGERR_ATTR_MSG {
			return ad.String()
		}
	}
	return ""
}

func align4(n uint32) uint32 { return (n + 3) &^ 3 }

// execute sends one request and returns its replies, the kernel's error
// as KernelError gives it.
func execute(c *netlink.Conn, typ uint16, flags netlink.HeaderFlags, data []byte) ([]netlink.Message, error) {
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | flags},
		Data:   data,
	})
	return msgs, KernelError(err)
}

// Links lists the network devices.
func Links(c *netlink.Conn) ([]Link, error) {
	msgs, err := execute(c, unix.RTM_GETLINK, netlink.Dump, (&Link{}).MarshalBinary())
	if err != nil {
		return nil, err
	}
	return decodeAll[Link](msgs, unix.RTM_NEWLINK)
}

// LinkByName returns the device named name; the error wraps ENODEV when
// there is none.
func LinkByName(c *netlink.Conn, name string) (Link, error) {
	return getLink(c, &Link{Name: name})
}

// LinkByIndex returns the device with that index; the error wraps ENODEV
// when there is none.
func LinkByIndex(c *netlink.Conn, index uint32) (Link, error) {
	return getLink(c, &Link{Index: index})
}

func getLink(c *netlink.Conn, req *Link) (Link, error) {
	msgs, err := execute(c, unix.RTM_GETLINK, 0, req.MarshalBinary())
	if err != nil {
		return Link{}, err
	}
	ls, err := decodeAll[Link](msgs, unix.RTM_NEWLINK)
	if err != nil {
		return Link{}, err
	}
	if len(ls) != 1 {
		return Link{}, fmt.Errorf("netlink: %d links in the answer, want 1", len(ls))
	}
	return ls[0], nil
}

// Addrs lists the addresses of one family (AF_UNSPEC: all).
func Addrs(c *netlink.Conn, family uint8) ([]Addr, error) {
	msgs, err := execute(c, unix.RTM_GETADDR, netlink.Dump, (&Addr{Family: family}).MarshalBinary())
	if err != nil {
		return nil, err
	}
	return decodeAll[Addr](msgs, unix.RTM_NEWADDR)
}

// Routes dumps the routes of filter.Family. With strict checking the
// kernel sends only those matching filter's table, type, protocol and
// device; the caller checks them all the same.
func Routes(c *netlink.Conn, filter Route) ([]Route, error) {
	data, err := filter.MarshalBinary()
	if err != nil {
		return nil, err
	}
	msgs, err := execute(c, unix.RTM_GETROUTE, netlink.Dump, data)
	if err != nil {
		return nil, err
	}
	return decodeAll[Route](msgs, unix.RTM_NEWROUTE)
}

// GetRoute asks the kernel how it routes a packet to dst, from src when
// src is valid (`ip route get DST from SRC`): policy rules apply, and the
// answer names the device and gateway.
func GetRoute(c *netlink.Conn, dst, src netip.Addr) (Route, error) {
	req := Route{Family: familyOf(dst), DstLen: uint8(dst.BitLen()), Dst: dst, Flags: unix.RTM_F_LOOKUP_TABLE}
	if src.IsValid() {
		req.Src, req.SrcLen = src, uint8(src.BitLen())
	}
	data, err := req.MarshalBinary()
	if err != nil {
		return Route{}, err
	}
	msgs, err := execute(c, unix.RTM_GETROUTE, 0, data)
	if err != nil {
		return Route{}, err
	}
	rs, err := decodeAll[Route](msgs, unix.RTM_NEWROUTE)
	if err != nil {
		return Route{}, err
	}
	if len(rs) == 0 {
		return Route{}, errors.New("no route")
	}
	return rs[0], nil
}

// decodeAll decodes the messages of type typ.
func decodeAll[T any, P interface {
	*T
	UnmarshalBinary([]byte) error
}](msgs []netlink.Message, typ uint16) ([]T, error) {
	out := make([]T, 0, len(msgs))
	for _, m := range msgs {
		if uint16(m.Header.Type) != typ {
			continue
		}
		var v T
		if err := P(&v).UnmarshalBinary(m.Data); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

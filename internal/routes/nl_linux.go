package routes

import (
	"encoding/binary"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Netlink wire format: host byte order, 4-byte alignment.

var ne = binary.NativeEndian

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }
func rtaAlign(n int) int { return (n + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1) }

// hdr is a struct nlmsghdr, decoded.
type hdr struct {
	Len   uint32
	Type  uint16
	Flags uint16
	Seq   uint32
}

// parseHdr decodes the header at the start of b (len(b) >= NLMSG_HDRLEN).
func parseHdr(b []byte) hdr {
	return hdr{Len: ne.Uint32(b), Type: ne.Uint16(b[4:]), Flags: ne.Uint16(b[6:]), Seq: ne.Uint32(b[8:])}
}

func appendHdr(b []byte, length int, typ, flags uint16, seq uint32) []byte {
	b = ne.AppendUint32(b, uint32(length))
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint16(b, flags)
	b = ne.AppendUint32(b, seq)
	return ne.AppendUint32(b, 0) // port id: the kernel fills in ours
}

func appendAttr(b []byte, typ uint16, v []byte) []byte {
	b = ne.AppendUint16(b, uint16(4+len(v)))
	b = ne.AppendUint16(b, typ)
	b = append(b, v...)
	for range rtaAlign(len(v)) - len(v) {
		b = append(b, 0)
	}
	return b
}

func appendAttrU32(b []byte, typ uint16, v uint32) []byte {
	b = ne.AppendUint16(b, 8)
	b = ne.AppendUint16(b, typ)
	return ne.AppendUint32(b, v)
}

// appendRouteMsg appends the RTM_NEWROUTE or RTM_DELROUTE message for one
// change, with sequence number seq. The route is the one `ip route
// {add,del} local PREFIX dev lo table local proto anyip` means; every
// message names the protocol of the route it means, so a delete can only
// ever hit a route of ours, or (opRelease) the one foreign route named by
// its whole key.
func appendRouteMsg(b []byte, o *op, seq uint32, lo uint32) []byte {
	var (
		family uint8
		addr   [16]byte
		alen   int
	)
	if a := o.prefix.Addr(); a.Is4() {
		a4 := a.As4()
		family, alen = unix.AF_INET, copy(addr[:], a4[:])
	} else {
		family, addr, alen = unix.AF_INET6, a.As16(), 16
	}

	typ, flags, scope := uint16(unix.RTM_NEWROUTE), uint16(unix.NLM_F_REQUEST|unix.NLM_F_ACK), uint8(unix.RT_SCOPE_HOST)
	proto := uint8(Protocol)
	length := unix.NLMSG_HDRLEN + unix.SizeofRtMsg + 4 + alen + 8
	withMetric := false
	switch o.kind {
	case opAdd:
		// EXCL: an existing route is reported (EEXIST), not touched.
		flags |= unix.NLM_F_CREATE | unix.NLM_F_EXCL
	case opAdopt:
		// Never REPLACE: the kernel replaces the first route with the
		// prefix and metric, whatever its device, type or protocol.
		// CREATE alone adds ours beside the others and touches none
		// (IPv4: EEXIST only for this very route; IPv6: EEXIST for any
		// route on lo with that metric, hence the release goes first
		// there). EXCL would refuse when a route on another device has
		// the metric. Alone, without a release (the foreign route is
		// not known), it is a plain exclusive add.
		flags |= unix.NLM_F_CREATE
		if !o.paired {
			flags |= unix.NLM_F_EXCL
		}
		withMetric = true
	case opRelease:
		// The adopted route by its whole key: table, type, device,
		// protocol and metric. Nothing else can match.
		typ, scope, proto = unix.RTM_DELROUTE, unix.RT_SCOPE_NOWHERE, o.proto
		withMetric = true
	case opDelete:
		// NOWHERE matches a route of any scope (as `ip route del` does).
		typ, scope = unix.RTM_DELROUTE, unix.RT_SCOPE_NOWHERE
	}
	if withMetric {
		length += 8
	}

	b = appendHdr(b, length, typ, flags, seq)
	// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
	b = append(b, family, uint8(o.prefix.Bits()), 0, 0, unix.RT_TABLE_LOCAL, proto, scope, unix.RTN_LOCAL, 0, 0, 0, 0)
	b = appendAttr(b, unix.RTA_DST, addr[:alen])
	b = appendAttrU32(b, unix.RTA_OIF, lo)
	if withMetric {
		b = appendAttrU32(b, unix.RTA_PRIORITY, o.metric)
	}
	return b
}

// kernelError is an errno with the kernel's explanation (extended ack).
type kernelError struct {
	Errno syscall.Errno
	Msg   string
}

func (e *kernelError) Error() string { return e.Errno.Error() + " (" + e.Msg + ")" }
func (e *kernelError) Unwrap() error { return e.Errno }

// ackError returns the error an NLMSG_ERROR (or NLMSG_DONE) message b
// carries: nil for a plain ack, the errno, or the errno with the kernel's
// message when there is one.
func ackError(b []byte, flags uint16) error {
	code := int32(ne.Uint32(b[unix.NLMSG_HDRLEN:]))
	if code == 0 {
		return nil
	}
	errno := syscall.Errno(-code)
	if msg := extAckMsg(b, flags); msg != "" {
		return &kernelError{Errno: errno, Msg: msg}
	}
	return errno
}

// extAckMsg finds NLMSGERR_ATTR_MSG in the TLVs after the error code and
// the (capped or whole) request it answers.
func extAckMsg(b []byte, flags uint16) string {
	if flags&unix.NLM_F_ACK_TLVS == 0 {
		return ""
	}
	off := unix.NLMSG_HDRLEN + 4 // nlmsghdr, error code
	if parseHdr(b).Type == unix.NLMSG_ERROR {
		// Then the request it answers: only its header when capped.
		if len(b) < off+unix.NLMSG_HDRLEN {
			return ""
		}
		if flags&unix.NLM_F_CAPPED != 0 {
			off += unix.NLMSG_HDRLEN
		} else {
			off += nlmAlign(int(ne.Uint32(b[off:])))
		}
	}
	for a := b[min(off, len(b)):]; len(a) >= 4; {
		l := int(ne.Uint16(a))
		if l < 4 || l > len(a) {
			break
		}
		if ne.Uint16(a[2:])&nlaTypeMask == unix.NLMSGERR_ATTR_MSG {
			return strings.TrimRight(string(a[4:l]), "\x00")
		}
		a = a[min(rtaAlign(l), len(a)):]
	}
	return ""
}

package nd

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Socket is a packet socket bound to one interface for one family.
type Socket struct {
	c     *packet.Conn
	proto int
}

var _ Conn = (*Socket)(nil)

// rcvBuf bounds what the kernel queues for a socket: under a flood the
// excess is dropped by the kernel, cheaply, and never reaches us.
const rcvBuf = 256 << 10

// ListenNDP opens a packet socket on ifi that sees only IPv6 neighbour
// solicitations and advertisements (a BPF filter in the kernel: ICMPv6
// with no extension header, hop limit 255, type 135 or 136, not sent by
// this host). With allMulti the interface also receives every multicast
// frame while the socket is open: solicitations go to groups that nobody
// on this host joined, which a NIC's multicast filter would drop. The
// membership belongs to the socket, so the kernel drops it when the
// socket closes, whatever way the process ends.
func ListenNDP(ifi *net.Interface, allMulti bool) (*Socket, error) {
	filter, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 6},
		bpf.LoadAbsolute{Off: 6, Size: 2}, // next header, hop limit
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 58<<8 | 255, SkipTrue: 4},
		bpf.LoadAbsolute{Off: 40, Size: 1}, // ICMPv6 type
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 135, SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 136, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return nil, err
	}
	s, err := listen(ifi, EtherTypeIPv6, filter)
	if err != nil {
		return nil, err
	}
	if allMulti {
		if err := s.membership(ifi, unix.PACKET_MR_ALLMULTI); err != nil {
			s.Close()
			return nil, fmt.Errorf("nd: receive all multicast on %s: %w", ifi.Name, err)
		}
	}
	return s, nil
}

// ListenARP opens a packet socket on ifi for ARP, not seeing what this
// host sends.
func ListenARP(ifi *net.Interface) (*Socket, error) {
	filter, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return nil, err
	}
	return listen(ifi, EtherTypeARP, filter)
}

func listen(ifi *net.Interface, proto int, filter []bpf.RawInstruction) (*Socket, error) {
	if len(ifi.HardwareAddr) != 6 || ifi.Flags&net.FlagLoopback != 0 {
		return nil, fmt.Errorf("nd: interface %s has no Ethernet address; neighbour discovery needs an Ethernet interface", ifi.Name)
	}
	c, err := packet.Listen(ifi, packet.Datagram, proto, &packet.Config{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("nd: open packet socket on %s (needs CAP_NET_RAW): %w", ifi.Name, err)
	}
	s := &Socket{c: c, proto: proto}
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf) })
	}
	return s, nil
}

func (s *Socket) membership(ifi *net.Interface, typ uint16) error {
	rc, err := s.c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptPacketMreq(int(fd), unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP,
			&unix.PacketMreq{Ifindex: int32(ifi.Index), Type: typ})
	})
	return errors.Join(err, serr)
}

// ReadFrom reads one payload and its sender's MAC.
func (s *Socket) ReadFrom(b []byte) (int, net.HardwareAddr, error) {
	n, from, err := s.c.ReadFrom(b)
	var mac net.HardwareAddr
	if a, ok := from.(*packet.Addr); ok && a != nil {
		mac = a.HardwareAddr
	}
	return n, mac, err
}

// WriteTo sends one payload to the MAC.
func (s *Socket) WriteTo(b []byte, to net.HardwareAddr) error {
	_, err := s.c.WriteTo(b, &packet.Addr{HardwareAddr: to})
	return err
}

func (s *Socket) SetReadDeadline(t time.Time) error { return s.c.SetReadDeadline(t) }
func (s *Socket) Close() error                      { return s.c.Close() }

// Drops is how many frames the kernel dropped for a full queue since the
// last call.
func (s *Socket) Drops() uint32 {
	st, err := s.c.Stats()
	if err != nil {
		return 0
	}
	return st.Drops
}

// IsTimeout tells a read deadline from a real error.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

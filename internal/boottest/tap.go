package boottest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/netnstest"
)

// Tap counts the IPv4 packets crossing one link of a router that come from
// or go to watched addresses: the counting rule a firewall would give,
// without a firewall. A packet socket on the link sees what the link sends
// and what it receives, so a reply that left the appliance through the
// wrong NIC shows on that NIC's router link whatever the router does with
// it next.
type Tap struct {
	Link  string
	f     *os.File
	watch map[netip.Addr]bool
	done  chan struct{}

	mu    sync.Mutex
	count map[Flow]int
}

// Flow is a packet's source and destination.
type Flow struct{ Src, Dst netip.Addr }

func (f Flow) String() string { return f.Src.String() + " > " + f.Dst.String() }

// NewTap starts counting on link (in ns) the packets from or to any of
// watch, until Stop.
func NewTap(ns *netnstest.NS, link string, watch ...netip.Addr) (*Tap, error) {
	t := &Tap{Link: link, watch: map[netip.Addr]bool{}, done: make(chan struct{}), count: map[Flow]int{}}
	for _, a := range watch {
		t.watch[a] = true
	}
	proto := int(htons(unix.ETH_P_ALL))
	err := ns.Do(func() error {
		ifc, err := net.InterfaceByName(link)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, proto)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		t.f = os.NewFile(uintptr(fd), "tap:"+link)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tap on %s in %s: %w", link, ns.Name, err)
	}
	go t.read()
	return t, nil
}

func (t *Tap) read() {
	defer close(t.done)
	buf := make([]byte, 2048)
	for {
		n, err := t.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
				return
			}
			continue
		}
		// Ethernet: 14 bytes, EtherType at 12; IPv4 source at 12, destination at 16.
		if n < 14+20 || binary.BigEndian.Uint16(buf[12:14]) != unix.ETH_P_IP {
			continue
		}
		ip := buf[14:n]
		src, _ := netip.AddrFromSlice(ip[12:16])
		dst, _ := netip.AddrFromSlice(ip[16:20])
		if t.watch[src] || t.watch[dst] {
			t.mu.Lock()
			t.count[Flow{src, dst}]++
			t.mu.Unlock()
		}
	}
}

// Stop ends counting (after what is already queued on the socket has been
// read) and returns the packets seen, by flow.
func (t *Tap) Stop() map[Flow]int {
	// Packets already received are in the socket's queue: a short deadline
	// lets the reader drain them before it stops.
	t.f.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	<-t.done
	t.f.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// total counts the packets of the flows from src (invalid: any) to dst
// (invalid: any).
func total(c map[Flow]int, src, dst netip.Addr) int {
	n := 0
	for f, k := range c {
		if (!src.IsValid() || f.Src == src) && (!dst.IsValid() || f.Dst == dst) {
			n += k
		}
	}
	return n
}

package routes

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Events listens to the kernel's route notifications (the
// RTNLGRP_IPV4_ROUTE and RTNLGRP_IPV6_ROUTE groups) and reports on C when a
// local route in table local was added, changed or deleted: by hand, by
// another tool, or by us. Our own changes are reported too; the caller
// debounces and re-reconciles, and a reconcile with nothing to do changes
// nothing, so there is no feedback loop.
type Events struct {
	f    *os.File
	c    chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
	log  func(msg string, args ...any)
}

// Subscribe starts listening in the current network namespace; log
// receives receive errors, which end the subscription.
func Subscribe(log func(msg string, args ...any)) (*Events, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("subscribe to route events: open netlink socket: %w", err)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("subscribe to route events: bind: %w", err)
	}
	// Room for a burst (our own reconcile of thousands of routes). An
	// overflow is no disaster: it reads as "something changed".
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}
	e := &Events{
		f:    os.NewFile(uintptr(fd), "netlink-route-events"),
		c:    make(chan struct{}, 1),
		done: make(chan struct{}),
		log:  log,
	}
	e.wg.Add(1)
	go e.run()
	return e, nil
}

// C receives a value after table local changed; one value may stand for
// many changes.
func (e *Events) C() <-chan struct{} { return e.c }

func (e *Events) Close() error {
	close(e.done)
	err := e.f.Close()
	e.wg.Wait()
	return err
}

func (e *Events) signal() {
	select {
	case e.c <- struct{}{}:
	default:
	}
}

func (e *Events) run() {
	defer e.wg.Done()
	raw, err := e.f.SyscallConn()
	if err != nil {
		e.log("route events: no raw access to the socket", "err", err)
		return
	}
	buf := make([]byte, 64<<10)
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := raw.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		select {
		case <-e.done:
			return
		default:
		}
		switch {
		case err != nil: // closed
			return
		case errors.Is(rerr, unix.ENOBUFS):
			// Notifications were dropped: assume the worst.
			e.signal()
			continue
		case errors.Is(rerr, unix.EINTR):
			continue
		case rerr != nil:
			e.log("route events: receive failed", "err", rerr)
			return
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // only the kernel speaks for the table
		}
		if ConcernsLocalTable(buf[:n]) {
			e.signal()
		}
	}
}

// ConcernsLocalTable reports whether a datagram of route notifications
// holds one about a local route in table local (where AnyIP routes live).
func ConcernsLocalTable(b []byte) bool {
	for len(b) >= unix.NLMSG_HDRLEN {
		h := parseHdr(b)
		l := int(h.Len)
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false
		}
		p := b[unix.NLMSG_HDRLEN:l]
		if (h.Type == unix.RTM_NEWROUTE || h.Type == unix.RTM_DELROUTE) && len(p) >= unix.SizeofRtMsg {
			// struct rtmsg: family, dst_len, src_len, tos, table,
			// protocol, scope, type, flags. Table local (255) fits the
			// header's byte; larger table ids do not concern us.
			if p[4] == unix.RT_TABLE_LOCAL && p[7] == unix.RTN_LOCAL {
				return true
			}
		}
		b = b[min(nlmAlign(l), len(b)):]
	}
	return false
}

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// routeEvents listens to the kernel's route notifications (the
// RTNLGRP_IPV4_ROUTE and RTNLGRP_IPV6_ROUTE groups) and reports on C when a
// local route in table local was added, changed or deleted: by hand, by
// another tool, or by us. Our own changes are reported too; the caller
// debounces and re-reconciles, and a reconcile with nothing to do changes
// nothing, so there is no feedback loop.
type routeEvents struct {
	f    *os.File
	c    chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
	log  func(msg string, args ...any)
}

func subscribeRoutes(log func(msg string, args ...any)) (*routeEvents, error) {
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
	e := &routeEvents{
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
func (e *routeEvents) C() <-chan struct{} { return e.c }

func (e *routeEvents) Close() error {
	close(e.done)
	err := e.f.Close()
	e.wg.Wait()
	return err
}

func (e *routeEvents) signal() {
	select {
	case e.c <- struct{}{}:
	default:
	}
}

func (e *routeEvents) run() {
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
		if concernsLocalTable(buf[:n]) {
			e.signal()
		}
	}
}

// concernsLocalTable reports whether a datagram of route notifications
// holds one about a local route in table local (where AnyIP routes live).
func concernsLocalTable(b []byte) bool {
	ne := binary.NativeEndian
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(ne.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false
		}
		typ := ne.Uint16(b[4:])
		p := b[unix.NLMSG_HDRLEN:l]
		if (typ == unix.RTM_NEWROUTE || typ == unix.RTM_DELROUTE) && len(p) >= unix.SizeofRtMsg {
			// struct rtmsg: family, dst_len, src_len, tos, table,
			// protocol, scope, type, flags. Table local (255) fits the
			// header's byte; larger table ids do not concern us.
			if p[4] == unix.RT_TABLE_LOCAL && p[7] == unix.RTN_LOCAL {
				return true
			}
		}
		b = b[min((l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1), len(b)):]
	}
	return false
}

package routes

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/rtnl"
)

// Events listens to the kernel's route notifications (the
// RTNLGRP_IPV4_ROUTE and RTNLGRP_IPV6_ROUTE groups) and reports on C when a
// local route in table local was added, changed or deleted: by hand, by
// another tool, or by us. Our own changes are reported too; the caller
// debounces and re-reconciles, and a reconcile with nothing to do changes
// nothing, so there is no feedback loop.
type Events struct {
	c    *netlink.Conn
	ch   chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
	log  func(msg string, args ...any)

	closeOnce sync.Once
	closeErr  error
}

// Subscribe starts listening in the current network namespace; log
// receives receive errors, which end the subscription.
func Subscribe(log func(msg string, args ...any)) (*Events, error) {
	c, err := rtnl.Dial(netlink.Config{})
	if err != nil {
		return nil, fmt.Errorf("subscribe to route events: open netlink socket: %w", err)
	}
	for _, g := range []uint32{unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE} {
		if err := c.JoinGroup(g); err != nil {
			c.Close()
			return nil, fmt.Errorf("subscribe to route events: join group %d: %w", g, err)
		}
	}
	// Room for a burst (our own reconcile of thousands of routes). An
	// overflow is no disaster: it reads as "something changed".
	_ = c.SetReadBuffer(1 << 20)
	e := &Events{
		c:    c,
		ch:   make(chan struct{}, 1),
		done: make(chan struct{}),
		log:  log,
	}
	e.wg.Add(1)
	go e.run()
	return e, nil
}

// C receives a value after table local changed; one value may stand for
// many changes.
func (e *Events) C() <-chan struct{} { return e.ch }

// Close ends the subscription; closing again does nothing.
func (e *Events) Close() error {
	e.closeOnce.Do(func() {
		close(e.done)
		e.closeErr = e.c.Close() // ends a Receive under way
		e.wg.Wait()
	})
	return e.closeErr
}

func (e *Events) signal() {
	select {
	case e.ch <- struct{}{}:
	default:
	}
}

// run reads notifications until Close. Only the kernel and processes with
// CAP_NET_ADMIN can send to an rtnetlink group or socket, and a spurious
// signal costs one reconcile that changes nothing, so every datagram is
// taken at its word.
func (e *Events) run() {
	defer e.wg.Done()
	for {
		msgs, err := e.c.Receive()
		select {
		case <-e.done:
			return
		default:
		}
		var se *os.SyscallError
		switch {
		case err == nil:
			if ConcernsLocalTable(msgs) {
				e.signal()
			}
		case errors.Is(err, unix.ENOBUFS):
			// Notifications were dropped: assume the worst.
			e.signal()
		case !errors.As(err, &se):
			// A datagram the library could not parse: it may have
			// been about the table.
			e.signal()
		default:
			e.log("route events: receive failed", "err", err)
			return
		}
	}
}

// ConcernsLocalTable reports whether route notifications hold one about a
// local route in table local (where AnyIP routes live).
func ConcernsLocalTable(msgs []netlink.Message) bool {
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWROUTE && m.Header.Type != unix.RTM_DELROUTE {
			continue
		}
		var r rtnl.Route
		if r.UnmarshalBinary(m.Data) == nil && r.Table == unix.RT_TABLE_LOCAL && r.Type == unix.RTN_LOCAL {
			return true
		}
	}
	return false
}

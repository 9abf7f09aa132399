// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): newline-separated VAR=value assignments in one datagram
// to the unix socket named by $NOTIFY_SOCKET. It covers what a Type=notify
// service needs (READY=1, STATUS=, WATCHDOG=1, STOPPING=1) without a
// dependency on libsystemd or go-systemd.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Well-known states.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Notifier sends notifications to the service manager. The zero value and
// a nil *Notifier are valid and do nothing, so callers need not care
// whether they run under systemd.
type Notifier struct {
	mu   sync.Mutex
	addr *net.UnixAddr
	conn *net.UnixConn
}

// New returns a notifier for $NOTIFY_SOCKET, or nil when the variable is
// unset (not started by systemd, or not Type=notify). A name starting with
// '@' is an abstract socket (Linux), as systemd and sd_notify(3) define.
func New() (*Notifier, error) {
	return Open(os.Getenv("NOTIFY_SOCKET"))
}

// Open returns a notifier for the socket at path ("" gives nil). The
// socket is connected on first use, so a manager that is not listening yet
// is not an error here.
func Open(path string) (*Notifier, error) {
	switch {
	case path == "":
		return nil, nil
	case path[0] != '/' && path[0] != '@':
		// vsock: addresses (VMs, containers) are not for us.
		return nil, fmt.Errorf("sdnotify: NOTIFY_SOCKET=%q: only unix socket paths and @abstract names are supported", path)
	}
	// Go's unix socket addresses already map a leading '@' to the
	// abstract namespace (a leading NUL byte).
	return &Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}, nil
}

// Notify sends the given assignments (e.g. Ready, Status("...")) in one
// datagram. It is safe for concurrent use.
func (n *Notifier) Notify(states ...string) error {
	if n == nil || n.addr == nil || len(states) == 0 {
		return nil
	}
	msg := []byte(strings.Join(states, "\n"))
	n.mu.Lock()
	defer n.mu.Unlock()
	// One reconnect: the manager may have been re-executed
	// (systemctl daemon-reexec) since we connected.
	for attempt := 0; ; attempt++ {
		if n.conn == nil {
			c, err := net.DialUnix("unixgram", nil, n.addr)
			if err != nil {
				return fmt.Errorf("sdnotify: connect %s: %w", n.addr.Name, err)
			}
			n.conn = c
		}
		_, err := n.conn.Write(msg)
		if err == nil {
			return nil
		}
		n.conn.Close()
		n.conn = nil
		if attempt == 1 {
			return fmt.Errorf("sdnotify: send to %s: %w", n.addr.Name, err)
		}
	}
}

// Close releases the socket.
func (n *Notifier) Close() error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn == nil {
		return nil
	}
	err := n.conn.Close()
	n.conn = nil
	return err
}

// Status returns the STATUS= assignment for s, on one line: the service
// manager shows it in `systemctl status`, and a newline would end the
// assignment early.
func Status(s string) string {
	return "STATUS=" + strings.Join(strings.Fields(s), " ")
}

// WatchdogInterval returns how often the service manager expects
// WATCHDOG=1 ($WATCHDOG_USEC), or 0 when the watchdog is off or meant for
// another process ($WATCHDOG_PID names a different PID). Send at about
// half the interval.
func WatchdogInterval() (time.Duration, error) {
	return watchdogInterval(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
}

var errBadUsec = errors.New("sdnotify: WATCHDOG_USEC is not a positive number of microseconds")

func watchdogInterval(usec, pid string, self int) (time.Duration, error) {
	if usec == "" {
		return 0, nil
	}
	if pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil {
			return 0, fmt.Errorf("sdnotify: WATCHDOG_PID=%q is not a number", pid)
		}
		if p != self {
			return 0, nil
		}
	}
	u, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || u == 0 || u > uint64(1<<63-1)/uint64(time.Microsecond) {
		return 0, fmt.Errorf("%w: %q", errBadUsec, usec)
	}
	return time.Duration(u) * time.Microsecond, nil
}

// Command anyip-routes keeps the AnyIP routes (local routes on lo in table
// local, proto anyip) in step with /etc/vmware/anyip-routes.cfg:
//
//	anyip-routes [flags] up|down|watch|check|help [flags]
//
// $CONFIG_FILE names the file as it did for the old shell service; --config
// wins over it. A verb's flags may come before or after it; each verb
// takes only the flags it uses.
//
//   - up applies the file once and prints one line per change. A file is
//     applied whole or not at all: a line that does not parse, or a range
//     the safety net refuses (it holds the current default gateway, a name
//     server of resolv.conf or an address on a non-loopback interface; it
//     overlaps another, is too large or special-use space), exits 1 with
//     path:line, the text and a hint, and changes nothing.
//   - down removes every route with our protocol, and nothing else.
//   - watch is the systemd service (Type=notify). It applies the file, then
//     follows it: the file's directory is watched with inotify, so in-place
//     writes, rename-into-place (vim, sed -i), deletion and re-creation are
//     all seen, and a directory that does not exist yet is waited for.
//     Route notifications from the kernel put a route of ours that was
//     deleted, replaced or added by hand back in line within a second or
//     so; every --resync the file is re-read and the table re-checked
//     anyway. A file that is bad, missing or unreadable leaves the routes
//     as the last good version made them: the error is logged with its line
//     and shown in STATUS=, and the next good version is applied.
//
// Readiness: READY=1 is sent once the first pass is done, whatever the file
// held. With a bad file the routes stay as they were and the error is in
// STATUS=; failing the unit instead would not bring a VIP back, and would
// hold up HAProxy, ordered after it. Only a service that cannot watch at all
// (no netlink, no inotify) exits, with 3. STATUS= carries the number of
// ranges in place and the last error; WATCHDOG=1 is sent from the service
// loop at half $WATCHDOG_USEC. SIGTERM and SIGINT end the service with exit
// 0 and leave every route in place, so a restart or upgrade has no moment
// without the VIPs; SIGHUP re-reads the file at once.
//
// Exit codes: 0 done or nothing to change, 1 the file is invalid (nothing
// changed), 2 usage, 3 the system failed (I/O, netlink, permissions).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/anyip/anyip/internal/cli"
)

func main() {
	cli.LimitMemory()
	// SIGTERM and SIGINT end the process and leave the routes in place:
	// a restart or an upgrade of the service must not take the VIPs down.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

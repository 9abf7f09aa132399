// Command anyip-routes keeps the AnyIP routes (local routes on lo in table
// local) in step with /etc/vmware/anyip-routes.cfg:
//
//	anyip-routes [--config PATH] [--resolv-conf PATH] up|down|watch
//
// up applies the file once, down removes the routes anyip installed (and
// only those), watch runs as the systemd service: it applies the file,
// then follows every change of the file and of the routing table. A file
// is applied whole or not at all; a bad one changes nothing.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGTERM and SIGINT end the process and leave the routes in place:
	// a restart or an upgrade of the service must not take the VIPs down.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

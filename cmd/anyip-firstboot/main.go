// Command anyip-firstboot turns the vApp properties the operator typed
// into the deployment wizard into anyip-routes.cfg and live AnyIP routes.
// It runs at every boot, and by hand after a change in vCenter:
//
//	anyip-firstboot [--ovf-env PATH|-] [--config PATH] [--state-dir DIR]
//	                [--dry-run] [--force] [--output text|json]
//
// Nothing is changed unless the whole configuration is valid.
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

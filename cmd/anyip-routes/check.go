package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/anyip/anyip/internal/check"
	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/haproxycfg"
	"github.com/anyip/anyip/internal/state"
)

const checkUsage = `usage: anyip-routes [--config PATH] check [--haproxy-config PATH]
         [--control-plane-ranges LIST] [--probe] [--probe-limit N]
         [--network-dir DIR] [--state-dir DIR] [--output text|json]

Runs the troubleshooting checklist and prints one line per check (PASS,
WARN, FAIL, SKIP, ERROR) with what is involved and what to do:

  config         the ranges file parses
  routes         every range is a local route on lo in table local, and no
                 route of ours outlives its line
  safety         no range holds a gateway, name server or interface address;
                 no overlaps
  on-link        per NIC, the ranges its link reaches directly (IPv6: the
                 service answers neighbour solicitations; IPv4: the kernel
                 answers ARP), and those only a router reaches
  haproxy        every frontend's bind address is inside a range or held
  control-plane  the control plane's VIP ranges are inside the file's
  service        anyip-routes.service is enabled and running
  firstboot      the last first boot (anyip-firstboot.service) succeeded,
                 and the file's first-boot block holds what it wrote
  haproxy-unit   haproxy.service is enabled and running
  journal        our units logged no errors since boot
  probe          (--probe) no other host on the link answers for a range
                 address (ARP, IPv6 neighbour solicitation); only ranges
                 that pass the safety check are probed, at most
                 --probe-limit (1-65536) addresses of each and 65536 in all
  vip            a VIP HAProxy binds in each range accepts a TCP connection
  network        each NIC first boot configured is up, holds its address and
                 reaches its gateway
  reply-path     a reply from each range leaves through the NIC facing it
  backends       each additional workload network is routed through the
                 workload gateway

Exit status: 0 all passed (warnings allowed), 1 a check failed, 2 usage,
3 a check could not be run.

flags:
`

// checkArgs are what check's own flags set.
type checkArgs struct {
	co           check.Options
	controlPlane string
}

// flags is check's flag set, bound to o, c and output.
func (c *checkArgs) flags(o *options, output *cli.Format) *cli.Flags {
	c.co = check.Options{
		HAProxyConfig:   haproxycfg.DefaultPath,
		HAProxyOptional: true,
		StateDir:        o.stateDir,
	}
	if c.co.StateDir == "" {
		c.co.StateDir = state.DefaultDir
	}
	co := &c.co
	fl := cli.NewFlags(name+" check", checkUsage)
	o.registerFile(fl)
	fl.StringVar(&co.HAProxyConfig, "haproxy-config", co.HAProxyConfig, "the HAProxy configuration (`PATH`) whose bind lines to check (default: used when present; empty: none)")
	fl.StringVar(&c.controlPlane, "control-plane-ranges", "", "the control plane's VIP ranges: a `LIST` of CIDRs and first-last ranges, comma-separated")
	fl.BoolVar(&co.Probe, "probe", false, "ask the link (ARP, neighbour solicitation) whether another host holds a range address")
	fl.IntVar(&co.ProbeLimit, "probe-limit", check.DefaultProbeLimit, fmt.Sprintf("--probe: probe at most `N` addresses of each range (up to %d; a run probes %d at most)", check.MaxProbeLimit, check.MaxProbeTotal))
	fl.Var(output, "output", "report `text|json`")
	fl.StringVar(&co.NetworkDir, "network-dir", "/etc/systemd/network", "the `DIR` where first boot wrote the NICs' networkd files (empty: skip the network checks)")
	fl.StringVar(&co.Service.Systemctl, "systemctl", "systemctl", "the systemctl program to ask about the service")
	fl.StringVar(&co.StateDir, "state-dir", co.StateDir, "the `DIR` where first boot records its last applied run (and the service keeps the last good file)")
	fl.StringVar(&co.Service.Journalctl, "journalctl", "journalctl", "the journalctl program to read our units' errors with")
	fl.Hide("systemctl", "journalctl") // test hooks
	return fl
}

// runCheck is the check verb, its flags parsed into o, c and output.
func runCheck(ctx context.Context, o options, c *checkArgs, output cli.Format, fl *cli.Flags, args []string, stdout, stderr io.Writer) int {
	usage := func(format string, a ...any) int { return fl.Usage(args, stdout, stderr, format, a...) }
	co := c.co
	fl.Visit(func(f *flag.Flag) {
		if f.Name == "haproxy-config" {
			co.HAProxyOptional = false // asked for by name: it must be there
		}
	})
	if co.ProbeLimit < 1 || co.ProbeLimit > check.MaxProbeLimit {
		return usage("--probe-limit takes 1-%d addresses per range, not %d (a run probes at most %d in all)", check.MaxProbeLimit, co.ProbeLimit, check.MaxProbeTotal)
	}
	co.Config, co.ResolvConf = o.config, o.resolvConf
	co.MinBits4, co.MinBits6 = o.limits.Bits4, o.limits.Bits6
	if c.controlPlane != "" {
		spans, err := check.ParseSpans(c.controlPlane)
		if err != nil {
			return usage("--control-plane-ranges: %v", err)
		}
		co.ControlPlane = spans
	}

	r := check.Run(ctx, co)
	if output == "json" {
		if err := r.WriteJSON(stdout); err != nil {
			fmt.Fprintf(stderr, "%s check: %v\n", name, err)
			return cli.ExitSystem
		}
	} else {
		r.WriteText(stdout)
	}
	return r.ExitCode()
}

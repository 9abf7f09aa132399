package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/firstboot"
	"github.com/anyip/anyip/internal/ovfenv"
	"github.com/anyip/anyip/internal/state"
	"github.com/anyip/anyip/internal/sysfacts"
	"github.com/anyip/anyip/internal/validate"
)

// upgradeFlags are the flags --upgrade heeds.
var upgradeFlags = []string{"upgrade", "root", "dry-run", "output", "v"}

type options struct {
	firstboot.Options
	ovfEnv  string
	output  cli.Format
	limits  cli.RangeLimits
	publish bool
	upgrade bool
}

const usageText = `usage: anyip-firstboot [flags]

Configures the appliance from the vApp properties typed into the OVA
deployment wizard (guestinfo.ovfEnv): the host name, the name servers,
each NIC, root's password, SSH, the Data Plane API, the CA, and the VIP
ranges, which it checks against the network and the running system,
writes into the ranges file and applies as routes.
Each part is applied or refused on its own; a refused part changes
nothing of itself, and every problem is named with its key, the value
and what to do. It runs at every boot (anyip-network.service with
--early, then anyip-firstboot.service), and by hand after a change.

Exit status: 0 done or nothing to change, 1 the configuration is invalid
(the refused parts were not changed), 2 usage, 3 the system failed (I/O,
netlink, permissions; or no OVF environment was found).

Examples:
  anyip-firstboot --dry-run                  what a run would change now
  anyip-firstboot --ovf-env env.xml --dry-run --output json
  anyip-firstboot --upgrade --dry-run        what taking over an old appliance would do
  anyip-firstboot --upgrade                  take over an old appliance in place

flags:
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o := options{output: "text", limits: cli.DefaultRangeLimits(validate.DefaultMinBits4, validate.DefaultMinBits6)}
	fl := cli.NewFlags("anyip-firstboot", usageText)
	fl.StringVar(&o.ovfEnv, "ovf-env", "", "read the OVF environment from `PATH` (a file, ISO image or device; - for stdin) instead of guestinfo")
	fl.StringVar(&o.Config, "config", cfgfile.DefaultPath, "the AnyIP ranges file (`PATH`) to write")
	fl.StringVar(&o.StateDir, "state-dir", state.DefaultDir, "the `DIR` where the record of what was applied is kept")
	fl.StringVar(&o.ResolvConf, "resolv-conf", sysfacts.DefaultResolvConf, "the resolver configuration (`PATH`) whose name servers no range may contain")
	fl.BoolVar(&o.DryRun, "dry-run", false, "validate and print what would change; change nothing")
	fl.BoolVar(&o.Force, "force", false, "re-apply even when the properties are unchanged since the last run")
	fl.BoolVar(&o.Early, "early", false, "write the network only (host name, resolver, NICs), before the network starts")
	fl.StringVar(&o.Root, "root", "/", "write the network's files under `DIR` instead of the running system's (set no host name, reload nothing)")
	fl.Var(&o.output, "output", "report `text|json`")
	fl.BoolVar(&o.upgrade, "upgrade", false, "take over an appliance built from the old shell scripts (its units, scripts, configuration, marker and rules) under --root, once anyip is installed there, then exit; with --dry-run say how, change nothing")
	o.limits.Register(fl.FlagSet)
	fl.BoolVar(&o.publish, "publish", true, "publish the outcome for the vSphere admin in guestinfo."+ovfenv.StatusKey[len("guestinfo."):])
	verbose := false
	fl.BoolVar(&verbose, "v", false, "on a terminal, print the log (one structured line per step) on stderr too")
	version := fl.Bool("version", false, "print the version and exit")
	if p := fl.Parse(args, stdout, stderr); p.Done {
		return p.Code
	}
	if *version {
		fmt.Fprintln(stdout, cli.VersionLine("anyip-firstboot"))
		return cli.ExitOK
	}
	if fl.NArg() > 0 {
		return fl.Usage(args, stdout, stderr, "unexpected argument %q", finding.Clip(fl.Arg(0)))
	}
	if err := o.limits.Validate(); err != nil {
		return fl.Usage(args, stdout, stderr, "%v", err)
	}
	if st, err := os.Stat(o.ResolvConf); err == nil && st.IsDir() {
		return fl.Usage(args, stdout, stderr, "--resolv-conf %s is a directory: give the resolver's configuration file (default %s)",
			finding.Clip(o.ResolvConf), sysfacts.DefaultResolvConf)
	}
	o.MinBits4, o.MinBits6 = o.limits.Bits4, o.limits.Bits6
	if o.upgrade {
		// A flag --upgrade would ignore is refused, not dropped: the
		// operator who gave it expected it to count.
		var ignored []string
		fl.Visit(func(f *flag.Flag) {
			if !slices.Contains(upgradeFlags, f.Name) {
				ignored = append(ignored, "--"+f.Name)
			}
		})
		if len(ignored) > 0 {
			return fl.Usage(args, stdout, stderr, "--upgrade takes only --root, --dry-run, --output and -v, not %s", strings.Join(ignored, ", "))
		}
	}
	log := cli.ReportLogger(stderr, "anyip-firstboot", verbose)
	if o.upgrade {
		return runUpgrade(o, stdout, log)
	}
	r, code := firstboot.Run(ctx, o.Options, source(o.ovfEnv, stdin), log)
	writeReport(stdout, o.output, r)
	if o.publish && !o.DryRun && !o.Early {
		publish(ctx, log, r, o.Root)
	}
	return code
}

// source reads the OVF environment from the path given, or from the first
// guestinfo source that answers.
func source(path string, stdin io.Reader) firstboot.Source {
	return func(ctx context.Context) ([]byte, string, error) {
		if path != "" {
			src := ovfenv.FromPath(path, stdin)
			data, err := src.Read(ctx)
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("--ovf-env %s: the file does not exist (give the OVF environment's file, ISO image or device, or leave --ovf-env out to read guestinfo)", finding.Clip(path))
			}
			return data, src.Name(), err
		}
		return ovfenv.ReadFirst(ctx, ovfenv.Auto())
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/firstboot"
	"github.com/anyip/anyip/internal/ovfenv"
	"github.com/anyip/anyip/internal/state"
	"github.com/anyip/anyip/internal/sysfacts"
	"github.com/anyip/anyip/internal/validate"
)

type options struct {
	firstboot.Options
	ovfEnv  string
	output  cli.Format
	limits  cli.RangeLimits
	publish bool
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o := options{output: "text", limits: cli.DefaultRangeLimits(validate.DefaultMinBits4, validate.DefaultMinBits6)}
	fl := flag.NewFlagSet("anyip-firstboot", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&o.ovfEnv, "ovf-env", "", "read the OVF environment from this file, ISO image or device (- for stdin) instead of guestinfo")
	fl.StringVar(&o.Config, "config", cfgfile.DefaultPath, "the AnyIP ranges file to write")
	fl.StringVar(&o.StateDir, "state-dir", state.DefaultDir, "where to record what was applied")
	fl.StringVar(&o.ResolvConf, "resolv-conf", sysfacts.DefaultResolvConf, "resolver configuration whose name servers no range may contain")
	fl.BoolVar(&o.DryRun, "dry-run", false, "validate and print the plan; change nothing")
	fl.BoolVar(&o.Force, "force", false, "re-apply even when the properties are unchanged since the last run")
	fl.BoolVar(&o.Early, "early", false, "write the network only (host name, resolver, NICs), before the network starts")
	fl.StringVar(&o.Root, "root", "/", "write the network's files under this directory instead of the running system's (set no host name, reload nothing)")
	fl.Var(&o.output, "output", "report format: text or json")
	o.limits.Register(fl)
	fl.BoolVar(&o.publish, "publish", true, "publish the outcome for the vSphere admin in guestinfo."+ovfenv.StatusKey[len("guestinfo."):])
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cli.ExitOK
		}
		return cli.ExitUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "anyip-firstboot: unexpected argument %q\n", finding.Clip(fl.Arg(0)))
		fl.Usage()
		return cli.ExitUsage
	}
	if err := o.limits.Validate(); err != nil {
		fmt.Fprintln(stderr, "anyip-firstboot:", err)
		return cli.ExitUsage
	}
	o.MinBits4, o.MinBits6 = o.limits.Bits4, o.limits.Bits6
	log := cli.Logger(stderr, "anyip-firstboot")
	r, code := firstboot.Run(ctx, o.Options, source(o.ovfEnv, stdin), log)
	writeReport(stdout, o.output, r)
	if o.publish && !o.DryRun && !o.Early {
		publish(ctx, log, r)
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
			return data, src.Name(), err
		}
		return ovfenv.ReadFirst(ctx, ovfenv.Auto())
	}
}

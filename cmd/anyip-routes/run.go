package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/haproxycfg"
	"github.com/anyip/anyip/internal/routes"
	"github.com/anyip/anyip/internal/runlock"
	"github.com/anyip/anyip/internal/sysfacts"
	"github.com/anyip/anyip/internal/validate"
)

const name = "anyip-routes"

// configEnv is the variable the old shell service read its file name from.
const configEnv = "CONFIG_FILE"

type options struct {
	config     string
	resolvConf string
	limits     cli.RangeLimits
	resync     time.Duration
	// stateDir keeps the last good version of the file for watch, so a
	// file broken while the VM was down still comes up with its VIPs.
	// Empty: none kept.
	stateDir string
	// lock is the run lock every writer of the file and the table holds
	// (runlock.Path: $ANYIP_LOCK for tests, no flag).
	lock string
	// onLink: watch answers neighbour solicitations for the IPv6 ranges
	// on their NICs and announces the ranges; haproxyConfig names the
	// binds announced first.
	onLink        bool
	haproxyConfig string
}

// newFlags makes a verb's flag set, printing text before the flags on
// -h, and the usage-error helper that goes with it.
func newFlags(title, text string, stderr io.Writer) (*flag.FlagSet, func(format string, a ...any) int) {
	fl := flag.NewFlagSet(title, flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprint(fl.Output(), text)
		fl.PrintDefaults()
	}
	return fl, func(format string, a ...any) int {
		fmt.Fprintf(stderr, title+": "+format+"\n", a...)
		fl.Usage()
		return cli.ExitUsage
	}
}

// parse parses args into fl; when it returns false the command ends with
// code (0 after -h, 2 after a bad flag, which fl has already reported).
func parse(fl *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cli.ExitOK, false
		}
		return cli.ExitUsage, false
	}
	return 0, true
}

// register adds the flags every verb takes, defaulting to o's values, so
// check (which has a flag set of its own) accepts them after the verb too.
func (o *options) register(fl *flag.FlagSet) {
	fl.StringVar(&o.config, "config", o.config, "the AnyIP ranges file; $"+configEnv+", when set, changes the default")
	fl.StringVar(&o.resolvConf, "resolv-conf", o.resolvConf, "resolver configuration whose name servers no range may contain")
	o.limits.Register(fl)
}

const usageText = `usage: anyip-routes [flags] up|down|watch|check

  up     apply the ranges file once: add the routes it lacks, remove the
         ones dropped from it; a file with any error changes nothing
  down   remove every route anyip installed (proto anyip), and nothing else
  watch  run as the service: apply the file, then follow its edits and
         put routes changed by hand back in line; SIGTERM leaves the
         routes in place
  check  run the troubleshooting checklist (anyip-routes check -h)

flags (before or after the verb):
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	defConfig := cfgfile.DefaultPath
	if env := os.Getenv(configEnv); env != "" {
		defConfig = env
	}
	o := options{limits: cli.DefaultRangeLimits(validate.DefaultMinBits4, validate.DefaultMinBits6), lock: runlock.Path()}
	fl, usage := newFlags(name, usageText, stderr)
	o.config, o.resolvConf = defConfig, sysfacts.DefaultResolvConf
	o.register(fl)
	fl.DurationVar(&o.resync, "resync", 60*time.Second, "watch: re-read the file and re-check the table this often, as a safety net")
	// systemd's StateDirectory= sets $STATE_DIRECTORY for the service;
	// by hand (and in tests) nothing is kept unless asked for.
	fl.StringVar(&o.stateDir, "state-dir", os.Getenv("STATE_DIRECTORY"), "watch: keep the last good version of the file here, and apply it at start when the file is bad (default $STATE_DIRECTORY)")

	fl.BoolVar(&o.onLink, "on-link", true, "watch: answer IPv6 neighbour solicitations for the ranges on the NIC whose subnet holds them, and announce the ranges (gratuitous ARP, unsolicited neighbour advertisements) when added and at start")
	fl.StringVar(&o.haproxyConfig, "haproxy-config", haproxycfg.DefaultPath, "watch: HAProxy configuration whose bind addresses are announced first (missing: none)")

	// Flags may come before the verb (the documented form) or after it.
	if code, ok := parse(fl, args); !ok {
		return code
	}
	if fl.NArg() == 0 {
		return usage("no verb given")
	}
	verb := fl.Arg(0)
	if verb == "check" { // flags of its own: see check.go
		return runCheck(ctx, o, fl.Args()[1:], stdout, stderr)
	}
	if code, ok := parse(fl, fl.Args()[1:]); !ok {
		return code
	}
	if fl.NArg() > 0 {
		return usage("unexpected argument %q after %s", finding.Clip(fl.Arg(0)), verb)
	}
	if err := o.limits.Validate(); err != nil {
		return usage("%v", err)
	}
	if o.resync <= 0 {
		return usage("--resync must be positive")
	}

	switch verb {
	case "up":
		return up(ctx, o, stdout, stderr)
	case "down":
		return down(ctx, o, stdout, stderr)
	case "watch":
		return serve(ctx, o, stderr)
	}
	return usage("unknown verb %q", finding.Clip(verb))
}

// cliLockWait bounds how long up and down wait for another run (first
// boot, the service's reconcile) to finish with the file and the table.
const cliLockWait = time.Minute

// lockRun takes the run lock for up or down.
func lockRun(ctx context.Context, o options) (*runlock.Lock, error) {
	l, err := runlock.Acquire(ctx, o.lock, cliLockWait)
	if errors.Is(err, runlock.ErrBusy) {
		return nil, fmt.Errorf("%w; nothing was changed: try again when it is done", err)
	}
	return l, err
}

// up reconciles once.
func up(ctx context.Context, o options, stdout, stderr io.Writer) int {
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	fail := func(code int, format string, a ...any) int {
		out.Flush()
		fmt.Fprintf(stderr, name+": "+format+"\n", a...)
		return code
	}

	// From reading the file to the last route change: a first boot that
	// writes the file meanwhile must not have its ranges undone.
	lock, err := lockRun(ctx, o)
	if err != nil {
		return fail(cli.ExitSystem, "%v", err)
	}
	defer lock.Release()
	l, err := load(o)
	if err != nil {
		return fail(cli.ExitSystem, "%v", err)
	}
	cli.WriteFindings(out, l.findings)
	if l.findings.HasErrors() {
		fmt.Fprintf(out, "%s: %s is invalid (%s); nothing was changed\n", name, o.config, cli.Summary(l.findings))
		return cli.ExitInvalid
	}

	table, err := routes.Open()
	if err != nil {
		return fail(cli.ExitSystem, "%v", err)
	}
	defer table.Close()
	plan, res, err := table.Reconcile(l.desired)
	ch := routes.ChangesOf(plan, res)
	for _, c := range ch.List {
		fmt.Fprintf(out, "%s %s\n", c.Verb, c.Prefix)
	}
	if err != nil {
		return fail(cli.ExitSystem, "%v", err)
	}
	if ch.Empty() {
		fmt.Fprintf(out, "nothing changed: %s in place\n", countRanges(len(l.desired)))
	} else {
		fmt.Fprintf(out, "%s in place: %s\n", countRanges(len(l.desired)), ch.Summary())
	}
	return cli.ExitOK
}

// down removes our routes.
func down(ctx context.Context, o options, stdout, stderr io.Writer) int {
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	lock, err := lockRun(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return cli.ExitSystem
	}
	defer lock.Release()
	table, err := routes.Open()
	if err != nil {
		out.Flush()
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return cli.ExitSystem
	}
	defer table.Close()
	deleted, err := table.Down()
	for _, p := range deleted {
		fmt.Fprintf(out, "removed %s\n", p)
	}
	if err != nil {
		out.Flush()
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return cli.ExitSystem
	}
	if len(deleted) == 0 {
		fmt.Fprintln(out, "nothing to remove: no routes with proto "+routes.ProtocolName)
	} else {
		fmt.Fprintf(out, "removed %s\n", countRanges(len(deleted)))
	}
	return cli.ExitOK
}

func countRanges(n int) string {
	if n == 1 {
		return "1 range"
	}
	return fmt.Sprintf("%d ranges", n)
}

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
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

// registerFile adds the flags of the verbs that read the ranges file and
// check it against the system (up, watch, check).
func (o *options) registerFile(fl *cli.Flags) {
	fl.StringVar(&o.config, "config", o.config, "the AnyIP ranges file (`PATH`); $"+configEnv+", when set, changes the default")
	fl.StringVar(&o.resolvConf, "resolv-conf", o.resolvConf, "the resolver configuration (`PATH`) whose name servers no range may contain")
	o.limits.Register(fl.FlagSet)
}

// registerWatch adds watch's own flags.
func (o *options) registerWatch(fl *cli.Flags) {
	fl.DurationVar(&o.resync, "resync", o.resync, "re-read the file and re-check the table this often (`DUR`), as a safety net")
	fl.StringVar(&o.stateDir, "state-dir", o.stateDir, "keep the last good version of the file in `DIR`, and apply it at start when the file is bad ($STATE_DIRECTORY sets the default)")
	fl.BoolVar(&o.onLink, "on-link", o.onLink, "answer IPv6 neighbour solicitations for the ranges on the NIC whose subnet holds them, and announce the ranges (gratuitous ARP, unsolicited neighbour advertisements) when added and at start")
	fl.StringVar(&o.haproxyConfig, "haproxy-config", o.haproxyConfig, "the HAProxy configuration (`PATH`) whose bind addresses are announced first (missing: none)")
}

const usageText = `usage: anyip-routes [flags] up|down|watch|check|help [flags]

Keeps the AnyIP routes (local routes on lo in table local, proto anyip)
in step with the ranges file, one CIDR (or first-last range) a line.

verbs:
  up      apply the ranges file once: add the routes it lacks, remove the
          ones dropped from it; a file with any error changes nothing
          (--dry-run: say what it would change, change nothing)
  down    remove every route anyip installed (proto anyip), and nothing else
  watch   run as the service: apply the file, then follow its edits and
          put routes changed by hand back in line; SIGTERM leaves the
          routes in place
  check   run the troubleshooting checklist
  help    this text, or a verb's: anyip-routes help VERB

Exit status: 0 done or nothing to change, 1 the file is invalid (nothing
was changed) or a check failed, 2 usage, 3 the system failed (I/O,
netlink, permissions).

Example: try an edit before the service applies it
  anyip-routes up --dry-run

A verb's flags may come before the verb or after it, as systemctl's do:
anyip-routes --output json check is anyip-routes check --output json.
A flag the verb does not take is an error. anyip-routes help VERB lists
the verb's flags; these most verbs take:
`

var verbUsage = map[string]string{
	"up": `usage: anyip-routes up [--dry-run] [--output text|json] [flags]

Applies the ranges file once, whole or not at all: a line that does not
parse, or a range that holds the default gateway, a name server or an
address on a non-loopback interface, exits 1 naming FILE:LINE, the text
and what to do, and changes nothing. Prints one line per route added,
removed or adopted.

With --dry-run nothing is changed: it says what the file would add,
remove and adopt, or what is wrong with it, as the service would see it.

Exit status: 0 done (or would be), 1 the file is invalid, 2 usage, 3 the
system failed.

flags:
`,
	"down": `usage: anyip-routes down

Removes every route anyip installed (proto anyip, table local), and
nothing else, whatever the ranges file holds: it takes no flags. An
operator's action: stopping the service never does it, and while the
service runs it puts the file's routes back.

Exit status: 0 done, 2 usage, 3 the system failed.
`,
	"watch": `usage: anyip-routes watch [--resync DUR] [--state-dir DIR] [--on-link=false]
                          [--haproxy-config PATH] [flags]

The service (anyip-routes.service, Type=notify): applies the file, then
follows its edits (in place, rename, delete and re-create) and puts
routes changed by hand back in line. A bad file keeps the routes of the
last good version, and says why in systemctl status. SIGTERM leaves every
route in place; SIGHUP re-reads the file.

Exit status: 0 stopped by a signal, 2 usage, 3 it cannot watch at all.

flags:
`,
}

// verbs are the verbs that do something; help explains them.
var verbs = []string{"up", "down", "watch", "check"}

// verbArgs are the values a verb's flags set, besides options.
type verbArgs struct {
	dryRun bool
	output cli.Format
	check  checkArgs
}

// verbFlags is verb's flag set, bound to o and a: each verb takes the
// flags it uses and no other.
func verbFlags(verb string, o *options, a *verbArgs) *cli.Flags {
	a.output = "text"
	if verb == "check" {
		return a.check.flags(o, &a.output)
	}
	fl := cli.NewFlags(name+" "+verb, verbUsage[verb])
	switch verb {
	case "up":
		o.registerFile(fl)
		fl.BoolVar(&a.dryRun, "dry-run", false, "say what the file would change, or what is wrong with it; change nothing")
		fl.Var(&a.output, "output", "report `text|json`")
	case "watch":
		o.registerFile(fl)
		o.registerWatch(fl)
	}
	return fl
}

// defaults are the options before any flag.
func defaults() options {
	defConfig := cfgfile.DefaultPath
	if env := os.Getenv(configEnv); env != "" {
		defConfig = env
	}
	return options{
		limits:     cli.DefaultRangeLimits(validate.DefaultMinBits4, validate.DefaultMinBits6),
		lock:       runlock.Path(),
		config:     defConfig,
		resolvConf: sysfacts.DefaultResolvConf,
		resync:     60 * time.Second,
		// systemd's StateDirectory= sets $STATE_DIRECTORY for the service;
		// by hand (and in tests) nothing is kept unless asked for.
		stateDir:      os.Getenv("STATE_DIRECTORY"),
		onLink:        true,
		haproxyConfig: haproxycfg.DefaultPath,
	}
}

// topFlags takes every verb's flags, so that they may come before the
// verb; what they set there is parsed again by the verb's own set. --help
// shows the common ones.
func topFlags() (*cli.Flags, *bool, []string) {
	fl := cli.NewFlags(name, usageText)
	var names []string
	for _, verb := range verbs {
		o, a := defaults(), verbArgs{}
		verbFlags(verb, &o, &a).VisitAll(func(f *flag.Flag) {
			if fl.Lookup(f.Name) == nil {
				usage := f.Usage
				if f.Name == "output" {
					usage = "report `text|json` (up, check)"
				}
				fl.Var(f.Value, f.Name, usage)
				names = append(names, f.Name)
			}
		})
	}
	fl.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" && f.Name != "output" {
			fl.Hide(f.Name)
		}
	})
	version := fl.Bool("version", false, "print the version and exit")
	return fl, version, append(names, "version")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	top, version, all := topFlags()
	if p := top.Parse(args, stdout, stderr); p.Done {
		return p.Code
	}
	if *version {
		fmt.Fprintln(stdout, cli.VersionLine(name))
		return cli.ExitOK
	}
	if top.NArg() == 0 {
		return top.Usage(args, stdout, stderr, "no verb given: up, down, watch, check or help")
	}
	verb, rest := top.Arg(0), top.Args()[1:]
	// The flags before the verb are the verb's as much as those after it.
	before := args[:len(args)-top.NArg()]
	if n := len(before); n > 0 && before[n-1] == "--" {
		before = before[:n-1]
	}
	if verb == "help" {
		return help(top, before, rest, stdout, stderr)
	}
	if !slices.Contains(verbs, verb) {
		return unknownVerb(top, args, verb, stdout, stderr)
	}

	o, a := defaults(), verbArgs{}
	vf := verbFlags(verb, &o, &a)
	vf.NotHere(verb, all...)
	if p := vf.Parse(append(slices.Clip(before), rest...), stdout, stderr); p.Done {
		return p.Code
	}
	if vf.NArg() > 0 {
		return vf.Usage(args, stdout, stderr, "unexpected argument %q after %s", finding.Clip(vf.Arg(0)), verb)
	}
	if err := o.limits.Validate(); err != nil {
		return vf.Usage(args, stdout, stderr, "%v", err)
	}
	if o.resync <= 0 {
		return vf.Usage(args, stdout, stderr, "--resync must be positive")
	}

	switch verb {
	case "up":
		return up(ctx, o, upMode{dryRun: a.dryRun, json: a.output == "json"}, stdout, stderr)
	case "down":
		return down(ctx, o, stdout, stderr)
	case "check":
		return runCheck(ctx, o, &a.check, a.output, vf, args, stdout, stderr)
	}
	return serve(ctx, o, stderr)
}

// unknownVerb is the one error for a verb that is not one, whether given
// alone or to help.
func unknownVerb(top *cli.Flags, args []string, verb string, stdout, stderr io.Writer) int {
	return top.Usage(args, stdout, stderr, "unknown verb %q: up, down, watch, check or help", finding.Clip(verb))
}

// help prints the general usage, or a verb's.
func help(top *cli.Flags, before, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		top.WriteUsage(stdout)
		return cli.ExitOK
	}
	if len(args) > 1 {
		return top.Usage(args, stdout, stderr, "help takes one verb")
	}
	if !slices.Contains(verbs, args[0]) {
		return unknownVerb(top, append(before, args...), args[0], stdout, stderr)
	}
	o, a := defaults(), verbArgs{}
	verbFlags(args[0], &o, &a).WriteUsage(stdout)
	return cli.ExitOK
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

// upMode is how up was asked to run.
type upMode struct {
	dryRun bool // say what would change; change nothing
	json   bool // --output json
}

// upReport is up's JSON: the names first boot's report uses for the same
// things (mode, result, config, findings, routes).
type upReport struct {
	Schema   int           `json:"schema"`
	Mode     string        `json:"mode"`   // apply, dry-run
	Result   string        `json:"result"` // ok, unchanged, invalid, failed
	Config   string        `json:"config"`
	Findings finding.List  `json:"findings"`
	Routes   routes.Report `json:"routes"`
	Error    string        `json:"error,omitempty"`
	// FindingsOmitted counts the findings past the first 1000.
	FindingsOmitted int `json:"findings_omitted,omitempty"`
}

// maxJSONFindings bounds the findings of a JSON report, as first boot's.
const maxJSONFindings = 1000

// up reconciles once or, with --dry-run, says what reconciling would do.
func up(ctx context.Context, o options, m upMode, stdout, stderr io.Writer) int {
	rep := upReport{Schema: cli.SchemaVersion, Mode: "apply", Config: o.config, Findings: finding.List{}}
	if m.dryRun {
		rep.Mode = "dry-run"
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	finish := func(code int) int {
		if m.json {
			var omitted int
			rep.Findings, omitted = rep.Findings.Head(maxJSONFindings)
			rep.FindingsOmitted = omitted
			cli.WriteJSON(out, rep)
		}
		return code
	}
	fail := func(code int, err error) int {
		rep.Result, rep.Error = "failed", err.Error()
		if !m.json {
			out.Flush()
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
		}
		return finish(code)
	}

	// From reading the file to the last route change: a first boot that
	// writes the file meanwhile must not have its ranges undone. A dry
	// run changes nothing and reads the table once: no lock.
	if !m.dryRun {
		lock, err := lockRun(ctx, o)
		if err != nil {
			return fail(cli.ExitSystem, err)
		}
		defer lock.Release()
	}
	l, err := load(o)
	if err != nil {
		return fail(cli.ExitSystem, err)
	}
	if l.findings != nil {
		rep.Findings = l.findings
	}
	if !m.json {
		cli.WriteFindings(out, l.findings)
	}
	if l.findings.HasErrors() {
		rep.Result = "invalid"
		if !m.json {
			fmt.Fprintf(out, "%s: %s is invalid (%s); nothing was changed\n", name, o.config, cli.Summary(l.findings))
		}
		return finish(cli.ExitInvalid)
	}

	table, err := routes.Open()
	if err != nil {
		return fail(cli.ExitSystem, err)
	}
	defer table.Close()
	if m.dryRun {
		cur, err := table.List()
		if err != nil {
			return fail(cli.ExitSystem, fmt.Errorf("read table local: %w", err))
		}
		rep.Routes = routes.ReportOfPlan(routes.Diff(l.desired, cur))
	} else {
		plan, res, err := table.Reconcile(l.desired)
		rep.Routes = routes.ReportOf(routes.ChangesOf(plan, res), len(plan.Keep)+len(plan.Kernel))
		if err != nil {
			if !m.json {
				writeRouteLines(out, rep.Routes, "")
			}
			return fail(cli.ExitSystem, err)
		}
	}
	rep.Result = "ok"
	if rep.Routes.Empty() {
		rep.Result = "unchanged"
	}
	if m.json {
		return finish(cli.ExitOK)
	}
	writeUpText(out, rep.Routes, m.dryRun)
	return cli.ExitOK
}

// writeUpText says what up did (or, in a dry run, would do) to the table.
func writeUpText(out io.Writer, rt routes.Report, dryRun bool) {
	counts := fmt.Sprintf("%d added, %d adopted, %d removed, %d kept", len(rt.Added), len(rt.Adopted), len(rt.Removed), rt.Kept)
	switch {
	case dryRun && rt.Empty():
		fmt.Fprintf(out, "dry run: nothing would change; %s in place\n", countRanges(rt.InPlace()))
	case dryRun:
		writeRouteLines(out, rt, "would be ")
		fmt.Fprintf(out, "dry run: would be %s, leaving %s in place; nothing was changed\n", counts, countRanges(rt.InPlace()))
	case rt.Empty():
		fmt.Fprintf(out, "nothing changed: %s in place\n", countRanges(rt.InPlace()))
	default:
		writeRouteLines(out, rt, "")
		fmt.Fprintf(out, "%s in place: %s\n", countRanges(rt.InPlace()), counts)
	}
}

// writeRouteLines prints a line per range added, adopted or removed.
func writeRouteLines(w io.Writer, r routes.Report, prefix string) {
	for _, l := range []struct {
		verb string
		ps   []string
	}{{routes.Adopted, r.Adopted}, {routes.Added, r.Added}, {routes.Removed, r.Removed}} {
		for _, p := range l.ps {
			fmt.Fprintf(w, "%s%s %s\n", prefix, l.verb, p)
		}
	}
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

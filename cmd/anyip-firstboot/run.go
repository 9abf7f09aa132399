package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/ovfenv"
	"github.com/anyip/anyip/internal/render"
	"github.com/anyip/anyip/internal/routes"
	"github.com/anyip/anyip/internal/state"
	"github.com/anyip/anyip/internal/sysfacts"
	"github.com/anyip/anyip/internal/validate"
)

type options struct {
	ovfEnv     string
	config     string
	stateDir   string
	resolvConf string
	dryRun     bool
	force      bool
	output     cli.Format
	limits     cli.RangeLimits
	publish    bool
}

// report is what a run did, printed as text or JSON.
type report struct {
	Result   string       `json:"result"` // ok, unchanged, invalid, failed, dry-run
	Source   string       `json:"source,omitempty"`
	Config   string       `json:"config"`
	Findings finding.List `json:"findings"`
	Cfg      cfgChange    `json:"cfg"`
	Routes   routeChange  `json:"routes"`
	Error    string       `json:"error,omitempty"`
}

type cfgChange struct {
	Written bool     `json:"written"`
	Gained  []string `json:"gained"`
	Lost    []string `json:"lost"`
}

type routeChange struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
	Adopt  []string `json:"adopt"`
	Kept   int      `json:"kept"`
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o := options{output: "text", limits: cli.DefaultRangeLimits(validate.DefaultMinBits4, validate.DefaultMinBits6)}
	fl := flag.NewFlagSet("anyip-firstboot", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&o.ovfEnv, "ovf-env", "", "read the OVF environment from this file, ISO image or device (- for stdin) instead of guestinfo")
	fl.StringVar(&o.config, "config", cfgfile.DefaultPath, "the AnyIP ranges file to write")
	fl.StringVar(&o.stateDir, "state-dir", state.DefaultDir, "where to record what was applied")
	fl.StringVar(&o.resolvConf, "resolv-conf", sysfacts.DefaultResolvConf, "resolver configuration whose name servers no range may contain")
	fl.BoolVar(&o.dryRun, "dry-run", false, "validate and print the plan; change nothing")
	fl.BoolVar(&o.force, "force", false, "re-apply even when the properties are unchanged since the last run")
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
		fmt.Fprintf(stderr, "anyip-firstboot: unexpected argument %q\n", fl.Arg(0))
		fl.Usage()
		return cli.ExitUsage
	}
	if err := o.limits.Validate(); err != nil {
		fmt.Fprintln(stderr, "anyip-firstboot:", err)
		return cli.ExitUsage
	}
	log := cli.Logger(stderr, "anyip-firstboot")
	r := &report{Config: o.config}
	code := firstboot(ctx, o, stdin, log, r)
	writeReport(stdout, o.output, r)
	if o.publish && !o.dryRun && code != cli.ExitUsage {
		publish(ctx, log, r)
	}
	return code
}

func firstboot(ctx context.Context, o options, stdin io.Reader, log *slog.Logger, r *report) int {
	fail := func(code int, err error) int {
		r.Result, r.Error = "failed", err.Error()
		if code == cli.ExitInvalid {
			r.Result = "invalid"
		}
		log.Error("run failed", "err", err)
		return code
	}

	// Read.
	data, source, err := readEnv(ctx, o.ovfEnv, stdin)
	if err != nil {
		return fail(cli.ExitSystem, err)
	}
	r.Source = source
	env, err := ovfenv.Parse(data)
	if err != nil {
		r.Findings = append(r.Findings, finding.Errorf(source, "", "fix the OVF environment, or redeploy with the vApp options set",
			"the OVF environment is malformed: %v", err))
		r.Result = "invalid"
		return cli.ExitInvalid
	}
	log.Info("read the OVF environment", "source", source, "platform", env.Platform.Kind+" "+env.Platform.Version, "vcenter_id", env.VCenterID)

	conf, props, found := appliance.FromProperties(env.Properties)
	found = append(found, conf.Check()...)

	old, err := os.ReadFile(o.config)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(cli.ExitSystem, fmt.Errorf("read %s: %w", o.config, err))
	}
	cfg, cfs := cfgfile.Parse(o.config, old)
	found = append(found, cfs...)

	facts, err := sysfacts.Gather(o.resolvConf)
	if err != nil {
		return fail(cli.ExitSystem, fmt.Errorf("read the system's addresses and routes: %w", err))
	}
	against := validate.Against{Facts: facts, Own: conf.Rules(), MinBits4: o.limits.Bits4, MinBits6: o.limits.Bits6}
	found = append(found, against.Rewrite(cfg, conf.Ranges())...)
	r.Findings = found
	if found.HasErrors() {
		r.Result = "invalid"
		log.Error("the configuration is invalid; nothing was changed", "summary", cli.Summary(found))
		return cli.ExitInvalid
	}

	// Plan.
	wizard := make([]netip.Prefix, 0, len(conf.ServiceRanges))
	for _, p := range conf.ServiceRanges {
		if !slices.Contains(wizard, p) {
			wizard = append(wizard, p)
		}
	}
	newData := render.Cfg(old, cfg, wizard)
	newCfg, nfs := cfgfile.Parse(o.config, newData)
	if nfs.HasErrors() {
		// render only writes what Parse accepts; reaching here is a bug.
		return fail(cli.ExitSystem, fmt.Errorf("rendered an invalid %s: %v", o.config, nfs))
	}
	r.Cfg.Gained, r.Cfg.Lost = lineDiff(cfg.Prefixes(), newCfg.Prefixes())
	desired := newCfg.Prefixes()

	table, err := routes.Open()
	if err != nil {
		return fail(cli.ExitSystem, fmt.Errorf("open the routing table: %w", err))
	}
	defer table.Close()
	cur, err := table.List()
	if err != nil {
		return fail(cli.ExitSystem, fmt.Errorf("read table local: %w", err))
	}
	plan := routes.Diff(desired, cur)
	r.Routes = describePlan(plan)
	if o.dryRun {
		r.Result = "dry-run"
		return cli.ExitOK
	}

	render.Sweep(o.config)
	hash := props.Hash()
	cfgChanged := !bytes.Equal(old, newData)
	prev, err := state.Load(o.stateDir)
	if err != nil {
		log.Warn("could not read the last run's record; re-applying", "err", err)
	}
	if !o.force && prev != nil && prev.Result == "ok" && prev.PropertiesHash == hash && !cfgChanged && plan.Empty() {
		r.Result = "unchanged"
		log.Info("nothing to do: properties, file and routes are as last applied", "applied_at", prev.AppliedAt)
		return cli.ExitOK
	}
	if prev != nil && prev.PropertiesHash != hash {
		log.Info("the vApp properties changed since the last run", "last_run", prev.AppliedAt)
	}

	// Apply: the file first, so a crash between the two leaves a file the
	// next run (or anyip-routes) applies, never routes the file lacks.
	if cfgChanged || o.force {
		if err := os.MkdirAll(dirOf(o.config), 0o755); err != nil {
			return fail(cli.ExitSystem, err)
		}
		if err := render.WriteFile(o.config, newData, 0o644); err != nil {
			return fail(cli.ExitSystem, fmt.Errorf("write %s: %w", o.config, err))
		}
		r.Cfg.Written = true
		log.Info("wrote the ranges file", "path", o.config, "gained", r.Cfg.Gained, "lost", r.Cfg.Lost)
	}
	_, err = table.Apply(plan)
	logPlan(log, plan)
	rec := &state.Record{
		AppliedAt:      time.Now().UTC().Truncate(time.Second),
		Source:         source,
		PropertiesHash: hash,
		Config:         o.config,
		ConfigSHA256:   sha256Hex(newData),
		Ranges:         prefixStrings(desired),
		Result:         "ok",
		Routes:         state.RouteCounts{Added: len(plan.Add), Removed: len(plan.Delete), Adopted: len(plan.Adopt), Kept: len(plan.Keep)},
	}
	for _, f := range found {
		if f.Severity == finding.Warning {
			rec.Warnings = append(rec.Warnings, f)
		}
	}
	if err != nil {
		rec.Result = "routes failed"
		if serr := state.Save(o.stateDir, rec); serr != nil {
			log.Error("could not record the run", "err", serr)
		}
		return fail(cli.ExitSystem, fmt.Errorf("apply routes: %w", err))
	}
	if err := state.Save(o.stateDir, rec); err != nil {
		return fail(cli.ExitSystem, fmt.Errorf("record the run in %s: %w", o.stateDir, err))
	}
	r.Result = "ok"
	return cli.ExitOK
}

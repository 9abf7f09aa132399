// Package firstboot is what anyip-firstboot does, in steps, as router7's
// netconfigd calls netconfig.Apply: read the OVF environment and the
// running system (I/O), plan what the appliance should look like (pure),
// apply the plan (I/O), and report what happened.
//
// First boot is a set of independent parts (parts.go): the host name, the
// resolver, each NIC with its route table and rules, the VIP ranges (the
// managed block of anyip-routes.cfg and the AnyIP routes), and the rest of
// the wizard. Each reads its keys and is applied or refused on its own: an
// error refuses only the parts that read its key. The report, the state
// record and the published status give each part's outcome.
//
// It runs twice at boot (DESIGN.md, "Order at boot"): early, before the
// network starts, to write the network (Options.Early); and once the
// network is online, for everything, the ranges checked against what the
// running system shows (DHCP leases included).
package firstboot

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/netconf"
	"github.com/anyip/anyip/internal/routes"
	"github.com/anyip/anyip/internal/runlock"
	"github.com/anyip/anyip/internal/state"
)

// Options are a run's settings, from the command line.
type Options struct {
	Config     string // anyip-routes.cfg
	StateDir   string // where the record of the last run lives
	ResolvConf string // name servers no range may contain
	// Root is where the network parts write (the networkd directory, the
	// host name, the resolver), "/" on the appliance. Only with "/" is the
	// running host name set and networkd asked to reload.
	Root   string
	DryRun bool // plan and report, change nothing
	Force  bool // apply even when nothing changed since the last run
	// Early writes the network parts only, before the network starts: no
	// NIC is checked, no ranges applied, nothing recorded.
	Early bool
	// MinBits4 and MinBits6 bound the size of a range.
	MinBits4, MinBits6 int
}

// NoLiveRootEnv, when set, makes a run with Root "/" fail before it reads
// anything: the test suites set it, so that a test that forgets --root can
// never write the test machine's own /etc or set its host name.
const NoLiveRootEnv = "ANYIP_NO_LIVE_ROOT"

// live reports whether the run configures the running system itself.
func (o Options) live() bool { return o.Root == "/" }

// Source reads the OVF environment and names where it came from.
type Source func(ctx context.Context) (data []byte, name string, err error)

// Results of a run.
const (
	ResultOK        = "ok"
	ResultUnchanged = "unchanged"
	ResultInvalid   = "invalid"
	ResultFailed    = "failed"
)

// Modes of a run.
const (
	ModeApply  = "apply"
	ModeDryRun = "dry-run"
)

// Outcomes of a part.
const (
	Applied   = "applied"
	Unchanged = "unchanged"
	Refused   = "refused"
	Failed    = "failed"
	Planned   = "planned" // a dry run's
)

// Report is what a run did, for the command's output, the published status
// and the state record.
type Report struct {
	// Schema is the JSON report's version (cli.SchemaVersion).
	Schema int `json:"schema"`
	// Mode is what was asked: ModeApply or ModeDryRun; Early the early
	// half (the network only).
	Mode  string `json:"mode"`
	Early bool   `json:"early,omitempty"`
	// Result is how it went: ok (changed, or with --dry-run would
	// change), unchanged, invalid, failed.
	Result   string       `json:"result"`
	Source   string       `json:"source,omitempty"`
	Config   string       `json:"config"`
	Findings finding.List `json:"findings"`
	Cfg      CfgChange    `json:"config_change"`
	Routes   RouteChange  `json:"routes"`
	Parts    []Outcome    `json:"parts"`
	Error    string       `json:"error,omitempty"`
}

// Outcome is how one part ended.
type Outcome = state.Outcome

// CfgChange is what the ranges file gained and lost.
type CfgChange struct {
	Written bool     `json:"written"`
	Gained  []string `json:"gained"`
	Lost    []string `json:"lost"`
}

// RouteChange is what happened to the routes (with --dry-run: what would).
type RouteChange = routes.Report

// Refused lists the parts that were refused.
func (r *Report) Refused() []string {
	var out []string
	for _, p := range r.Parts {
		if p.Result == Refused {
			out = append(out, p.Part)
		}
	}
	return out
}

// lockWait bounds how long first boot waits for another run (the service's
// reconcile, `anyip-routes up`) to finish with the file and the table.
const lockWait = 2 * time.Minute

// Run reads, plans and applies, and returns the report and the exit code.
func Run(ctx context.Context, o Options, src Source, log *slog.Logger) (*Report, int) {
	if o.Root == "" {
		o.Root = "/"
	}
	r := &Report{Schema: cli.SchemaVersion, Mode: ModeApply, Early: o.Early, Config: o.Config}
	if o.DryRun {
		r.Mode = ModeDryRun
	}
	if o.live() && os.Getenv(NoLiveRootEnv) != "" && !o.DryRun {
		return r, r.fail(fmt.Errorf("refusing to write this machine's own network (%s is set): give --root", NoLiveRootEnv))
	}
	data, source, err := src(ctx)
	if err != nil {
		return r, r.fail(err)
	}
	r.Source = source
	w, err := ReadWizard(data, source)
	if err != nil {
		r.Findings = finding.List{finding.Errorf(source, "", "fix the OVF environment, or redeploy with the vApp options set",
			"the OVF environment is malformed: %v", err)}
		r.Result = ResultInvalid
		return r, cli.ExitInvalid
	}
	log.Info("read the OVF environment", "source", source, "platform", w.Env.Platform.Kind+" "+w.Env.Platform.Version, "vcenter_id", w.Env.VCenterID)

	// From reading the ranges file to the last route change and the
	// record: `anyip-routes up`, the service or another first boot must
	// not read the file before this run writes it, and apply it after.
	// (The early half writes neither.)
	if !o.DryRun && !o.Early {
		lock, err := runlock.Acquire(ctx, runlock.Path(), lockWait)
		if err != nil {
			return r, r.fail(err)
		}
		defer lock.Release()
	}

	sys, err := ReadSystem(o)
	if err != nil {
		return r, r.fail(err)
	}
	w.Attach(sys.Links)
	p := MakePlan(w, sys, o)
	r.Findings = p.Findings
	if o.DryRun {
		return r, dryRun(o, p, w, log, r)
	}
	r.Parts = applyNetwork(o, p, w, log)
	if !o.Early {
		r.Parts = append(r.Parts, applyRanges(o, p, log, r))
		r.Parts = append(r.Parts, applyWizard(o, p.Wizard, p.Refused, log)...)
	}
	code := r.settle()
	if o.Early && code == cli.ExitInvalid {
		// The early half applies what it can and leaves the verdict on
		// the configuration to the run after it, which checks everything
		// and reports every finding: one failed unit for one mistake.
		code = cli.ExitOK
	}
	return r, code
}

// settle sets the run's result from its parts' and returns the exit code.
func (r *Report) settle() int {
	changed, refused := false, false
	for _, p := range r.Parts {
		switch p.Result {
		case Failed:
			r.Result = ResultFailed
			if r.Error == "" {
				r.Error = p.Part + ": " + p.Detail
			}
			return cli.ExitSystem
		case Refused:
			refused = true
		case Applied:
			changed = true
		}
	}
	switch {
	case refused || r.Findings.HasErrors():
		r.Result = ResultInvalid
		return cli.ExitInvalid
	case changed:
		r.Result = ResultOK
	default:
		r.Result = ResultUnchanged
	}
	return cli.ExitOK
}

func dryRun(o Options, p Plan, w *Wizard, log *slog.Logger, r *Report) int {
	r.Parts = append(r.Parts,
		planned(PartHostname, p.Refused, o, HostnameFile, []byte(p.Network.Hostname+"\n")),
		planned(PartResolver, p.Refused, o, ResolverFile, p.Network.Resolver))
	for _, n := range w.Config.NICs {
		name := netconf.FilePrefix + n.Role + ".network"
		r.Parts = append(r.Parts, planned(nicPart(n.Role), p.Refused, o, filepath.Join(NetworkDir, name), p.Network.Files[name]))
	}
	if o.Early {
		return r.settleDry()
	}
	ranges := Outcome{Part: PartRanges, Result: Planned}
	if p.Refused[PartRanges] {
		r.Parts = append(r.Parts, Outcome{Part: PartRanges, Result: Refused, Detail: p.RangesWhy})
		r.Parts = append(r.Parts, plannedWizard(o, p.Wizard, p.Refused)...)
		return r.settleDry()
	}
	r.Cfg.Gained, r.Cfg.Lost = prefixStrings(p.Gained), prefixStrings(p.Lost)
	table, err := routes.Open()
	if err != nil {
		return r.fail(errorf("open the routing table: %w", err))
	}
	defer table.Close()
	cur, err := table.List()
	if err != nil {
		return r.fail(errorf("read table local: %w", err))
	}
	r.Routes = routes.ReportOfPlan(routes.Diff(p.Desired, cur))
	if !p.CfgChanged && r.Routes.Empty() {
		ranges.Result = Unchanged
	}
	r.Parts = append(r.Parts, ranges)
	r.Parts = append(r.Parts, plannedWizard(o, p.Wizard, p.Refused)...)
	return r.settleDry()
}

// settleDry sets a dry run's result: invalid, or ok when a part would
// change, or unchanged.
func (r *Report) settleDry() int {
	r.Result = ResultUnchanged
	for _, p := range r.Parts {
		if p.Result == Planned {
			r.Result = ResultOK
		}
	}
	if r.Findings.HasErrors() {
		r.Result = ResultInvalid
		return cli.ExitInvalid
	}
	return cli.ExitOK
}

// planned is a dry run's outcome of a part that writes one file (rel,
// under the root): unchanged when the file already holds data.
func planned(part string, refused map[string]bool, o Options, rel string, data []byte) Outcome {
	if refused[part] {
		return Outcome{Part: part, Result: Refused}
	}
	if st, err := os.Lstat(filepath.Join(o.Root, rel)); part == PartResolver && err == nil && st.Mode()&os.ModeSymlink != 0 {
		return Outcome{Part: part, Result: Unchanged} // systemd-resolved's: left alone
	}
	if cur, err := os.ReadFile(filepath.Join(o.Root, rel)); err == nil && bytes.Equal(cur, data) {
		return Outcome{Part: part, Result: Unchanged}
	}
	return Outcome{Part: part, Result: Planned}
}

// fail records a failure that ends the run. The log does not say it: the
// report's closing line does, once.
func (r *Report) fail(err error) int {
	r.Result, r.Error = ResultFailed, err.Error()
	return cli.ExitSystem
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

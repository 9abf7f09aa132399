// Package firstboot is what anyip-firstboot does, in steps, as router7's
// netconfigd calls netconfig.Apply: read the OVF environment and the
// running system (I/O), plan what the appliance should look like (pure),
// apply the plan (I/O), and report what happened.
//
// First boot is a set of parts, each an output of its own (today the VIP
// ranges: anyip-routes.cfg and the routes of table local). Every part reads
// its keys, is planned from them, and is applied or refused with its own
// outcome; the report, the state record and the published status list the
// parts' outcomes.
package firstboot

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/routes"
	"github.com/anyip/anyip/internal/state"
)

// Options are a run's settings, from the command line.
type Options struct {
	Config     string // anyip-routes.cfg
	StateDir   string // where the record of the last run lives
	ResolvConf string // name servers no range may contain
	DryRun     bool   // plan and report, change nothing
	Force      bool   // apply even when nothing changed since the last run
	// MinBits4 and MinBits6 bound the size of a range.
	MinBits4, MinBits6 int
}

// Source reads the OVF environment and names where it came from.
type Source func(ctx context.Context) (data []byte, name string, err error)

// Results of a run and of a part.
const (
	ResultOK        = "ok"
	ResultUnchanged = "unchanged"
	ResultInvalid   = "invalid"
	ResultFailed    = "failed"
	ResultDryRun    = "dry-run"
)

// PartRanges is the part that owns the VIP ranges: the managed block of
// anyip-routes.cfg and the AnyIP routes.
const PartRanges = "ranges"

// Report is what a run did, for the command's output, the published status
// and the state record.
type Report struct {
	Result   string       `json:"result"` // ok, unchanged, invalid, failed, dry-run
	Source   string       `json:"source,omitempty"`
	Config   string       `json:"config"`
	Findings finding.List `json:"findings"`
	Cfg      CfgChange    `json:"cfg"`
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
type RouteChange struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
	Adopt  []string `json:"adopt"`
	Kept   int      `json:"kept"`
}

// InPlace is the number of ranges the table holds for the file.
func (r RouteChange) InPlace() int { return len(r.Add) + len(r.Adopt) + r.Kept }

// Run reads, plans and applies, and returns the report and the exit code.
func Run(ctx context.Context, o Options, src Source, log *slog.Logger) (*Report, int) {
	r := &Report{Config: o.Config}
	code := run(ctx, o, src, log, r)
	r.Parts = []Outcome{{Part: PartRanges, Result: r.Result}}
	return r, code
}

func run(ctx context.Context, o Options, src Source, log *slog.Logger, r *Report) int {
	data, source, err := src(ctx)
	if err != nil {
		return r.fail(log, cli.ExitSystem, err)
	}
	r.Source = source
	w, err := ReadWizard(data, source)
	if err != nil {
		r.Findings = finding.List{finding.Errorf(source, "", "fix the OVF environment, or redeploy with the vApp options set",
			"the OVF environment is malformed: %v", err)}
		r.Result = ResultInvalid
		return cli.ExitInvalid
	}
	log.Info("read the OVF environment", "source", source, "platform", w.Env.Platform.Kind+" "+w.Env.Platform.Version, "vcenter_id", w.Env.VCenterID)

	sys, err := ReadSystem(o)
	if err != nil {
		return r.fail(log, cli.ExitSystem, err)
	}
	p := MakePlan(w, sys, o)
	r.Findings = p.Findings
	if p.Findings.HasErrors() {
		r.Result = ResultInvalid
		log.Error("the configuration is invalid; nothing was changed", "summary", cli.Summary(p.Findings))
		return cli.ExitInvalid
	}
	r.Cfg.Gained, r.Cfg.Lost = prefixStrings(p.Gained), prefixStrings(p.Lost)

	table, err := routes.Open()
	if err != nil {
		return r.fail(log, cli.ExitSystem, errorf("open the routing table: %w", err))
	}
	defer table.Close()
	if o.DryRun {
		cur, err := table.List()
		if err != nil {
			return r.fail(log, cli.ExitSystem, errorf("read table local: %w", err))
		}
		r.Routes = planned(routes.Diff(p.Desired, cur))
		r.Result = ResultDryRun
		return cli.ExitOK
	}
	return apply(o, p, table, log, r)
}

func (r *Report) fail(log *slog.Logger, code int, err error) int {
	r.Result, r.Error = ResultFailed, err.Error()
	log.Error("run failed", "err", err)
	return code
}

// planned is what a plan would do to the routes.
func planned(p routes.Plan) RouteChange {
	return RouteChange{Add: prefixStrings(p.Add), Remove: prefixStrings(p.Delete), Adopt: prefixStrings(p.Adopt), Kept: len(p.Keep)}
}

// done is what a reconcile did: the changes that happened, and the ranges
// that were in place already.
func done(ch routes.Changes, kept int) RouteChange {
	var rc RouteChange
	for _, c := range ch.List {
		switch c.Verb {
		case routes.Added:
			rc.Add = append(rc.Add, c.Prefix.String())
		case routes.Adopted:
			rc.Adopt = append(rc.Adopt, c.Prefix.String())
		case routes.Removed:
			rc.Remove = append(rc.Remove, c.Prefix.String())
		}
	}
	rc.Kept = kept
	return rc
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

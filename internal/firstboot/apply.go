package firstboot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/render"
	"github.com/anyip/anyip/internal/routes"
	"github.com/anyip/anyip/internal/state"
)

// apply writes the ranges file, then reconciles the table with it, then
// records the run. The file goes first, so a crash between the two leaves
// a file the next run (or anyip-routes) applies, never routes the file
// lacks; the table is read once, by the reconcile, after the write.
func apply(o Options, p Plan, table *routes.Table, log *slog.Logger, r *Report) int {
	render.Sweep(o.Config)
	prev, err := state.Load(o.StateDir)
	if err != nil {
		log.Warn("could not read the last run's record; re-applying", "err", err)
	}
	same := prev != nil && prev.Result == ResultOK && prev.PropertiesHash == p.Hash
	if prev != nil && prev.PropertiesHash != p.Hash {
		log.Info("the vApp properties changed since the last run", "last_run", prev.AppliedAt)
	}

	if p.CfgChanged || o.Force {
		if err := os.MkdirAll(filepath.Dir(o.Config), 0o755); err != nil {
			return r.fail(log, cli.ExitSystem, err)
		}
		if err := render.WriteFile(o.Config, p.Cfg, 0o644); err != nil {
			return r.fail(log, cli.ExitSystem, fmt.Errorf("write %s: %w", o.Config, err))
		}
		r.Cfg.Written = true
		log.Info("wrote the ranges file", "path", o.Config, "gained", r.Cfg.Gained, "lost", r.Cfg.Lost)
	}

	plan, res, rerr := table.Reconcile(p.Desired)
	ch := routes.ChangesOf(plan, res)
	for _, c := range ch.List {
		log.Info("range "+c.Verb, "range", c.Prefix)
	}
	r.Routes = done(ch, len(plan.Keep))
	if rerr == nil && same && !p.CfgChanged && ch.Empty() && !o.Force {
		r.Result = ResultUnchanged
		log.Info("nothing to do: properties, file and routes are as last applied", "applied_at", prev.AppliedAt)
		return cli.ExitOK
	}

	rec := &state.Record{
		AppliedAt:      now(),
		Source:         r.Source,
		PropertiesHash: p.Hash,
		Config:         o.Config,
		ConfigSHA256:   sha256Hex(p.Cfg),
		Ranges:         prefixStrings(p.Desired),
		Result:         ResultOK,
		Routes:         state.RouteCounts{Added: ch.Added, Removed: ch.Removed, Adopted: ch.Adopted, Kept: len(plan.Keep)},
		Parts:          []Outcome{{Part: PartRanges, Result: ResultOK}},
	}
	for _, f := range p.Findings {
		if f.Severity == finding.Warning {
			rec.Warnings = append(rec.Warnings, f)
		}
	}
	if rerr != nil {
		rec.Result = "routes failed"
		rec.Parts[0].Result = ResultFailed
		if serr := state.Save(o.StateDir, rec); serr != nil {
			log.Error("could not record the run", "err", serr)
		}
		return r.fail(log, cli.ExitSystem, fmt.Errorf("apply routes: %w", rerr))
	}
	if err := state.Save(o.StateDir, rec); err != nil {
		return r.fail(log, cli.ExitSystem, fmt.Errorf("record the run in %s: %w", o.StateDir, err))
	}
	r.Result = ResultOK
	return cli.ExitOK
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

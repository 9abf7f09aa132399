package firstboot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/anyip/anyip/internal/render"
	"github.com/anyip/anyip/internal/routes"
	"github.com/anyip/anyip/internal/state"
)

// applyRanges writes the ranges file, then reconciles the table with it,
// then records the run. The file goes first, so a crash between the two
// leaves a file the next run (or anyip-routes) applies, never routes the
// file lacks; the table is read once, by the reconcile, after the write.
func applyRanges(o Options, p Plan, log *slog.Logger, r *Report) Outcome {
	out := Outcome{Part: PartRanges}
	if p.Refused[PartRanges] {
		out.Result, out.Detail = Refused, p.RangesWhy
		if p.RangesWhy != "" {
			log.Error("the VIP ranges are refused; the ranges file and the routes stay as they are", "why", p.RangesWhy)
		} else {
			log.Error("the VIP ranges are refused; the ranges file and the routes stay as they are")
		}
		return out
	}
	failed := func(err error) Outcome {
		out.Result, out.Detail = Failed, err.Error()
		log.Error("the VIP ranges failed", "err", err)
		return out
	}
	r.Cfg.Gained, r.Cfg.Lost = prefixStrings(p.Gained), prefixStrings(p.Lost)
	table, err := routes.Open()
	if err != nil {
		return failed(fmt.Errorf("open the routing table: %w", err))
	}
	defer table.Close()

	// Temp files of runs killed before their rename; an unchanged run
	// writes neither file, so it sweeps both here.
	render.Sweep(o.Config)
	render.Sweep(state.Path(o.StateDir))
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
			return failed(err)
		}
		if err := render.WriteFile(o.Config, p.Cfg, 0o644); err != nil {
			return failed(fmt.Errorf("write %s: %w", o.Config, err))
		}
		r.Cfg.Written = true
		log.Info("wrote the ranges file", "path", o.Config, "gained", r.Cfg.Gained, "lost", r.Cfg.Lost)
	}

	plan, res, rerr := table.Reconcile(p.Desired)
	ch := routes.ChangesOf(plan, res)
	for _, c := range ch.List {
		log.Info("range "+c.Verb, "range", c.Prefix)
	}
	r.Routes = routes.ReportOf(ch, len(plan.Keep)+len(plan.Kernel))
	if rerr == nil && same && !p.CfgChanged && ch.Empty() && !o.Force {
		out.Result = Unchanged
		log.Info("nothing to do: properties, file and routes are as last applied", "applied_at", prev.AppliedAt)
		return out
	}

	rec := record(o, p, r, ch, len(plan.Keep))
	if rerr != nil {
		rec.Result = "routes failed"
		if serr := state.Save(o.StateDir, rec); serr != nil {
			log.Error("could not record the run", "err", serr)
		}
		return failed(fmt.Errorf("apply routes: %w", rerr))
	}
	if err := state.Save(o.StateDir, rec); err != nil {
		return failed(fmt.Errorf("record the run in %s: %w", o.StateDir, err))
	}
	out.Result = Applied
	return out
}

// record is what the state directory keeps of an applied run: what
// happened (the changes that were made), never a secret.
func record(o Options, p Plan, r *Report, ch routes.Changes, kept int) *state.Record {
	rec := &state.Record{
		AppliedAt:      now(),
		Source:         r.Source,
		PropertiesHash: p.Hash,
		Config:         o.Config,
		ConfigSHA256:   sha256Hex(p.Cfg),
		Ranges:         prefixStrings(p.Desired),
		Block:          prefixStrings(p.Block),
		Result:         ResultOK,
		Routes:         state.RouteCounts{Added: ch.Added, Removed: ch.Removed, Adopted: ch.Adopted, Kept: kept},
		Parts:          r.Parts,
		Migrated:       p.Migrated,
	}
	rec.AddWarnings(p.Findings)
	return rec
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

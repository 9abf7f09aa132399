package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/firstboot"
	"github.com/anyip/anyip/internal/upgrade"
)

// upgradeReport is --upgrade's JSON: the envelope of first boot's report
// (schema, mode, result, error) around the steps.
type upgradeReport struct {
	Schema int            `json:"schema"`
	Mode   string         `json:"mode"`   // apply, dry-run
	Result string         `json:"result"` // ok, unchanged, failed
	Steps  []upgrade.Step `json:"steps"`
	Error  string         `json:"error,omitempty"`
}

// runUpgrade is --upgrade: the old appliance taken over under --root, or
// with --dry-run what taking it over would do.
func runUpgrade(o options, stdout io.Writer, log *slog.Logger) int {
	rep := upgradeReport{Schema: cli.SchemaVersion, Mode: firstboot.ModeApply, Steps: []upgrade.Step{}}
	if o.DryRun {
		rep.Mode = firstboot.ModeDryRun
	}
	var err error
	if o.Root == "/" && os.Getenv(firstboot.NoLiveRootEnv) != "" && !o.DryRun {
		err = fmt.Errorf("refusing to take over this machine's own units (%s is set): give --root; %w", firstboot.NoLiveRootEnv, upgrade.ErrUntouched)
	} else {
		uo := upgrade.Options{Root: o.Root, DryRun: o.DryRun, Systemctl: upgrade.Systemctl(o.Root)}
		if o.Root == "/" {
			uo.Rules = upgrade.OldRules
		}
		var steps []upgrade.Step
		steps, err = upgrade.Run(uo)
		rep.Steps = append(rep.Steps, steps...)
	}
	changed := 0
	for _, s := range rep.Steps {
		if s.Changed {
			changed++
		}
	}
	switch {
	case err != nil:
		rep.Result, rep.Error = firstboot.ResultFailed, err.Error()
	case changed > 0:
		rep.Result = firstboot.ResultOK
	default:
		rep.Result = firstboot.ResultUnchanged
	}
	if o.output == "json" {
		cli.WriteJSON(stdout, rep)
	} else {
		writeUpgrade(stdout, rep, changed, err)
	}
	if err != nil {
		log.Error("upgrade failed", "err", err)
		return cli.ExitSystem
	}
	return cli.ExitOK
}

// writeUpgrade prints one line per step, then the outcome.
func writeUpgrade(w io.Writer, rep upgradeReport, changed int, err error) {
	dry := rep.Mode == firstboot.ModeDryRun
	for _, s := range rep.Steps {
		mark := "done"
		switch {
		case s.Changed && dry:
			mark = "dry run"
		case s.Changed:
			mark = "changed"
		}
		fmt.Fprintf(w, "upgrade: %s: %s\n", mark, s.What)
	}
	const name = "anyip-firstboot: upgrade"
	backup := "/" + upgrade.BackupDir
	switch {
	case dry && errors.Is(err, upgrade.ErrUntouched):
		fmt.Fprintf(w, "%s: dry run: %v.\n", name, err)
	case dry && err != nil:
		fmt.Fprintf(w, "%s: dry run: failed: %v; nothing was changed.\n", name, err)
	case dry && changed == 0:
		fmt.Fprintf(w, "%s: dry run: nothing would change; no part of the old appliance is left active; nothing was changed.\n", name)
	case dry:
		fmt.Fprintf(w, "%s: dry run: %s would be made, the originals kept in %s; nothing was changed.\n", name, cli.Plural(changed, "change"), backup)
	case errors.Is(err, upgrade.ErrUntouched):
		fmt.Fprintf(w, "%s refused: %v.\n", name, err)
	case err != nil && changed > 0:
		fmt.Fprintf(w, "%s failed: %v; the changes above were made: run it again once fixed (every step is safe to repeat).\n", name, err)
	case err != nil:
		fmt.Fprintf(w, "%s failed: %v; run it again once fixed (every step is safe to repeat).\n", name, err)
	case changed == 0:
		fmt.Fprintf(w, "%s: nothing to do; no part of the old appliance is left active.\n", name)
	default:
		fmt.Fprintf(w, "%s: %s; the originals are in %s.\n", name, cli.Plural(changed, "change"), backup)
	}
}

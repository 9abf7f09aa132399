package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/upgrade"
)

// runUpgrade is --upgrade: the old appliance taken over under --root.
func runUpgrade(o options, stdout io.Writer, log *slog.Logger) int {
	uo := upgrade.Options{Root: o.Root, Systemctl: upgrade.Systemctl(o.Root)}
	if o.Root == "/" {
		uo.Rules = upgrade.OldRules
	}
	steps, err := upgrade.Run(uo)
	if o.output == "json" {
		if steps == nil {
			steps = []upgrade.Step{}
		}
		rep := struct {
			Steps []upgrade.Step `json:"steps"`
			Error string         `json:"error,omitempty"`
		}{Steps: steps}
		if err != nil {
			rep.Error = err.Error()
		}
		cli.WriteJSON(stdout, rep)
	} else {
		changed := 0
		for _, s := range steps {
			mark := "done"
			if s.Changed {
				changed++
				mark = "changed"
			}
			fmt.Fprintf(stdout, "upgrade: %s: %s\n", mark, s.What)
		}
		switch {
		case err != nil:
			fmt.Fprintf(stdout, "anyip-firstboot: upgrade failed: %v; run it again once fixed (every step is safe to repeat)\n", err)
		case changed == 0:
			fmt.Fprintln(stdout, "anyip-firstboot: upgrade: nothing to do; no part of the old appliance is left active.")
		default:
			fmt.Fprintf(stdout, "anyip-firstboot: upgrade: %s; the originals are in %s.\n", cli.Plural(changed, "change"), "/"+upgrade.BackupDir)
		}
	}
	if err != nil {
		log.Error("upgrade failed", "err", err)
		return cli.ExitSystem
	}
	return cli.ExitOK
}

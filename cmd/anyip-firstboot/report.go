package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/firstboot"
	"github.com/anyip/anyip/internal/ovfenv"
)

// maxJSONFindings bounds the findings of a JSON report; findings_omitted
// counts the rest. Text prints finding.MaxListed.
const maxJSONFindings = 1000

func writeReport(w io.Writer, format cli.Format, r *firstboot.Report) {
	if format == "json" {
		// Empty lists print as [] rather than null, for consumers' sake.
		for _, l := range []*[]string{&r.Cfg.Gained, &r.Cfg.Lost} {
			if *l == nil {
				*l = []string{}
			}
		}
		if r.Findings == nil {
			r.Findings = []finding.Finding{}
		}
		if r.Parts == nil {
			r.Parts = []firstboot.Outcome{}
		}
		// A copy: the published status still counts every finding.
		short := *r
		var omitted int
		short.Findings, omitted = r.Findings.Head(maxJSONFindings)
		cli.WriteJSON(w, struct {
			*firstboot.Report
			FindingsOmitted int `json:"findings_omitted,omitempty"`
		}{&short, omitted})
		return
	}
	// On the journal the log has said each step (a part written, refused
	// or failed, a range added) with its severity: the report adds only
	// what the log does not say, the findings and the outcome, each once.
	journal := cli.IsJournal(w)
	cli.WriteFindings(w, r.Findings)
	if !journal || r.Mode == firstboot.ModeDryRun {
		writeParts(w, r) // a dry run logs no step
	}
	closing := closingLine(r)
	if journal {
		lvl := slog.LevelInfo
		if _, warnings := r.Findings.Count(); warnings > 0 {
			lvl = slog.LevelWarn // what `journalctl -p warning` must show
		}
		if r.Result == firstboot.ResultInvalid || r.Result == firstboot.ResultFailed {
			lvl = slog.LevelError
		}
		closing = cli.SyslogPrefix(lvl) + closing
	}
	fmt.Fprintln(w, closing)
}

// writeParts says what each part did, then what the ranges file and the
// table gained and lost.
func writeParts(w io.Writer, r *firstboot.Report) {
	for _, p := range r.Parts {
		if p.Detail != "" {
			fmt.Fprintf(w, "%s: %s (%s)\n", p.Part, p.Result, p.Detail)
		} else {
			fmt.Fprintf(w, "%s: %s\n", p.Part, p.Result)
		}
	}
	if r.Result == firstboot.ResultInvalid || r.Result == firstboot.ResultFailed {
		return
	}
	change := func(label string, gained, lost []string) {
		for _, g := range gained {
			fmt.Fprintf(w, "%s: + %s\n", label, g)
		}
		for _, l := range lost {
			fmt.Fprintf(w, "%s: - %s\n", label, l)
		}
	}
	change(r.Config, r.Cfg.Gained, r.Cfg.Lost)
	change("route local", r.Routes.Added, r.Routes.Removed)
	for _, a := range r.Routes.Adopted {
		fmt.Fprintf(w, "route local: adopted %s\n", a)
	}
}

// closingLine is the report's last line, the one `systemctl status`
// shows: the outcome, and for an invalid run where the errors are; a run
// that went through with warnings says how many, so that they are not
// missed behind an "ok" (the findings above name them).
func closingLine(r *firstboot.Report) string {
	line := outcomeLine(r)
	if r.Result == firstboot.ResultInvalid || r.Result == firstboot.ResultFailed {
		return line // the summary counts the warnings already
	}
	if _, warnings := r.Findings.Count(); warnings > 0 {
		line = strings.TrimSuffix(line, ".") + "; " + cli.Plural(warnings, "warning") + " above."
	}
	return line
}

func outcomeLine(r *firstboot.Report) string {
	switch r.Result {
	case firstboot.ResultInvalid:
		return fmt.Sprintf("anyip-firstboot: the configuration is invalid (%s%s); %s.", cli.Summary(r.Findings), errorsAt(r.Findings), refusedLine(r))
	case firstboot.ResultFailed:
		return "anyip-firstboot: failed: " + r.Error
	}
	rt := r.Routes
	counts := fmt.Sprintf("%s added, %d removed, %d adopted, %d kept", cli.Plural(len(rt.Added), "route"), len(rt.Removed), len(rt.Adopted), rt.Kept)
	switch {
	case r.Mode == firstboot.ModeDryRun && r.Result == firstboot.ResultUnchanged:
		return "anyip-firstboot: dry run: nothing would change; nothing was changed."
	case r.Mode == firstboot.ModeDryRun && r.Early:
		return "anyip-firstboot: dry run: the parts above would change; nothing was changed."
	case r.Mode == firstboot.ModeDryRun:
		return fmt.Sprintf("anyip-firstboot: dry run: would be %s, leaving %s in place; nothing was changed.", counts, cli.Plural(rt.InPlace(), "range"))
	case r.Early && r.Result == firstboot.ResultUnchanged:
		return "anyip-firstboot: nothing to do; the network is as the wizard says."
	case r.Early:
		return "anyip-firstboot: ok: the network is written; the ranges follow once it is up."
	case r.Result == firstboot.ResultUnchanged:
		return fmt.Sprintf("anyip-firstboot: nothing to do; %s in place.", cli.Plural(rt.InPlace(), "range"))
	default:
		return fmt.Sprintf("anyip-firstboot: ok: %s; %s in place.", counts, cli.Plural(rt.InPlace(), "range"))
	}
}

// publish tells the vSphere admin how the run went, through guestinfo,
// where vCenter shows it without a console login. Best effort: a VM
// without VMware Tools still boots.
func publish(ctx context.Context, log *slog.Logger, r *firstboot.Report, root string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	via, err := ovfenv.DefaultPublisher().Publish(ctx, ovfenv.StatusKey, statusLine(r))
	if errors.Is(err, ovfenv.ErrNotVMware) {
		// Expected off VMware (a test machine, another hypervisor): a
		// note, not a warning at every boot.
		log.Info("not a VMware VM: the outcome is not published", "key", ovfenv.StatusKey)
		return
	}
	if err != nil {
		log.Warn("could not publish the outcome to guestinfo", "key", ovfenv.StatusKey, "err", err)
		return
	}
	log.Info("published the outcome", "key", ovfenv.StatusKey, "via", via)
	publishCA(ctx, log, r, root)
}

// publishCA hands the vSphere admin the CA certificate (never its key) in
// guestinfo.dataplaneapi.cacert, base64, as the old appliance did: it is
// what the Supervisor is told to trust for the Data Plane API.
func publishCA(ctx context.Context, log *slog.Logger, r *firstboot.Report, root string) {
	ok := false
	for _, p := range r.Parts {
		ok = ok || p.Part == firstboot.PartCA && (p.Result == firstboot.Applied || p.Result == firstboot.Unchanged)
	}
	if !ok {
		return
	}
	cert, err := os.ReadFile(filepath.Join(root, firstboot.CACertFile))
	if err != nil || len(cert) > 16<<10 {
		return
	}
	if _, err := ovfenv.DefaultPublisher().Publish(ctx, ovfenv.CACertKey, base64.StdEncoding.EncodeToString(cert)); err != nil {
		log.Warn("could not publish the CA certificate to guestinfo", "key", ovfenv.CACertKey, "err", err)
		return
	}
	log.Info("published the CA certificate", "key", ovfenv.CACertKey)
}

// statusLine is the published outcome: the result first, then the
// findings one a line, errors first. Findings never hold a secret.
func statusLine(r *firstboot.Report) string {
	var b strings.Builder
	switch r.Result {
	case "ok", "unchanged":
		fmt.Fprintf(&b, "ok: %s in place", cli.Plural(r.Routes.InPlace(), "range"))
	case "invalid":
		fmt.Fprintf(&b, "invalid: %s; %s", cli.Summary(r.Findings), refusedLine(r))
	default:
		fmt.Fprintf(&b, "failed: %s", r.Error)
	}
	// As many whole findings as the status holds, errors first, then a
	// count of the rest: a cut in the middle of a line would hide how
	// many more there are.
	sorted := r.Findings.Sorted()
	const countLine = 80 // "\n... and N more (E errors, W warnings)"
	room := ovfenv.MaxStatusSize - b.Len() - countLine
	for i, f := range sorted {
		line := "\n" + f.String()
		if len(line) > room {
			fmt.Fprintf(&b, "\n... and %d more (%s)", len(sorted)-i, cli.Summary(sorted[i:]))
			break
		}
		b.WriteString(line)
		room -= len(line)
	}
	return b.String()
}

// errorsAt names where the errors are (the keys or file lines, never a
// value), so that the last line of the report, which is what `systemctl
// status` shows first, says what to fix even when the parts' lines push
// the findings out of view.
func errorsAt(fs finding.List) string {
	var at []string
	for _, f := range fs.Sorted() {
		if f.Severity == finding.Error && f.Where != "" && !slices.Contains(at, f.Where) {
			at = append(at, f.Where)
		}
	}
	if len(at) == 0 {
		return ""
	}
	if len(at) > 3 {
		at = append(at[:3], "...")
	}
	return " at " + strings.Join(at, ", ")
}

// refusedLine says what an invalid run left alone: everything, or the
// refused parts while the others were applied.
func refusedLine(r *firstboot.Report) string {
	refused := refusedParts(r)
	if r.Mode == firstboot.ModeDryRun {
		if len(refused) == 0 || len(refused) == len(r.Parts) {
			return "dry run: nothing was changed"
		}
		return "dry run: " + strings.Join(refused, ", ") + " would be refused; nothing was changed"
	}
	if len(refused) == 0 || len(refused) == len(r.Parts) {
		return "nothing was changed"
	}
	return "nothing was changed for " + strings.Join(refused, ", ") + "; the other parts were applied"
}

// refusedParts names the refused parts, each with why when its outcome
// says (the ranges refused for a NIC key that leaves them unchecked).
func refusedParts(r *firstboot.Report) []string {
	var out []string
	for _, p := range r.Parts {
		if p.Result != firstboot.Refused {
			continue
		}
		if p.Detail != "" {
			out = append(out, p.Part+" ("+p.Detail+")")
		} else {
			out = append(out, p.Part)
		}
	}
	return out
}

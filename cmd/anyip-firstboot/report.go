package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/ovfenv"
	"github.com/anyip/anyip/internal/routes"
)

// readEnv reads the OVF environment from the path given, or from the
// first guestinfo source that answers.
func readEnv(ctx context.Context, path string, stdin io.Reader) ([]byte, string, error) {
	if path != "" {
		src := ovfenv.FromPath(path, stdin)
		data, err := src.Read(ctx)
		return data, src.Name(), err
	}
	return ovfenv.ReadFirst(ctx, ovfenv.Auto())
}

func describePlan(p routes.Plan) routeChange {
	return routeChange{
		Add:    prefixStrings(p.Add),
		Remove: prefixStrings(p.Delete),
		Adopt:  prefixStrings(p.Adopt),
		Kept:   len(p.Keep),
	}
}

func logPlan(log *slog.Logger, p routes.Plan) {
	for _, a := range p.Add {
		log.Info("range added", "range", a)
	}
	for _, a := range p.Adopt {
		log.Info("range adopted from an earlier route", "range", a)
	}
	for _, a := range p.Delete {
		log.Info("range removed", "range", a)
	}
}

// lineDiff returns what the new file has that the old lacks, and the reverse.
func lineDiff(old, new []netip.Prefix) (gained, lost []string) {
	in := func(ps []netip.Prefix) map[netip.Prefix]bool {
		m := make(map[netip.Prefix]bool, len(ps))
		for _, p := range ps {
			m[p] = true
		}
		return m
	}
	o, n := in(old), in(new)
	for _, p := range new {
		if !o[p] {
			gained = append(gained, p.String())
		}
	}
	for _, p := range old {
		if !n[p] {
			lost = append(lost, p.String())
		}
	}
	return gained, lost
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func dirOf(path string) string { return filepath.Dir(path) }

func writeReport(w io.Writer, format cli.Format, r *report) {
	if format == "json" {
		// Empty lists print as [] rather than null, for consumers' sake.
		for _, l := range []*[]string{&r.Cfg.Gained, &r.Cfg.Lost, &r.Routes.Add, &r.Routes.Remove, &r.Routes.Adopt} {
			if *l == nil {
				*l = []string{}
			}
		}
		if r.Findings == nil {
			r.Findings = []finding.Finding{}
		}
		cli.WriteJSON(w, r)
		return
	}
	cli.WriteFindings(w, r.Findings)
	switch r.Result {
	case "invalid":
		fmt.Fprintf(w, "anyip-firstboot: the configuration is invalid (%s); nothing was changed.\n", cli.Summary(r.Findings))
		return
	case "failed":
		fmt.Fprintf(w, "anyip-firstboot: failed: %s\n", r.Error)
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
	change("route local", r.Routes.Add, r.Routes.Remove)
	for _, a := range r.Routes.Adopt {
		fmt.Fprintf(w, "route local: adopt %s\n", a)
	}
	switch r.Result {
	case "dry-run":
		fmt.Fprintf(w, "anyip-firstboot: dry run: %s to add, %d to remove, %d to adopt, %d in place; nothing was changed.\n",
			cli.Plural(len(r.Routes.Add), "route"), len(r.Routes.Remove), len(r.Routes.Adopt), r.Routes.Kept)
	case "unchanged":
		fmt.Fprintf(w, "anyip-firstboot: nothing to do; %s in place.\n", cli.Plural(r.Routes.Kept, "range"))
	default:
		fmt.Fprintf(w, "anyip-firstboot: ok: %s added, %d removed, %d adopted, %d in place.\n",
			cli.Plural(len(r.Routes.Add), "route"), len(r.Routes.Remove), len(r.Routes.Adopt), r.Routes.Kept)
	}
}

// publish tells the vSphere admin how the run went, through guestinfo,
// where vCenter shows it without a console login. Best effort: a VM
// without VMware Tools still boots.
func publish(ctx context.Context, log *slog.Logger, r *report) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	via, err := ovfenv.DefaultPublisher().Publish(ctx, ovfenv.StatusKey, statusLine(r))
	if err != nil {
		log.Warn("could not publish the outcome to guestinfo", "key", ovfenv.StatusKey, "err", err)
		return
	}
	log.Info("published the outcome", "key", ovfenv.StatusKey, "via", via)
}

// statusLine is the published outcome: the result first, then the
// findings one a line, errors first. Findings never hold a secret.
func statusLine(r *report) string {
	var b strings.Builder
	switch r.Result {
	case "ok", "unchanged":
		fmt.Fprintf(&b, "ok: %s in place", cli.Plural(len(r.Routes.Add)+len(r.Routes.Adopt)+r.Routes.Kept, "range"))
	case "invalid":
		fmt.Fprintf(&b, "invalid: %s; nothing was changed", cli.Summary(r.Findings))
	default:
		fmt.Fprintf(&b, "failed: %s", r.Error)
	}
	for _, f := range r.Findings.Sorted() {
		b.WriteString("\n")
		b.WriteString(f.String())
	}
	return b.String()
}

package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/procgroup"
)

// DefaultUnit is the service that keeps the routes in step with the file.
const DefaultUnit = "anyip-routes.service"

// ServiceOptions say how to reach systemd; empty fields take defaults.
type ServiceOptions struct {
	Unit       string // DefaultUnit
	Systemctl  string // "systemctl", looked up in PATH
	Journalctl string // "journalctl"; the journal tail is best effort
	Timeout    time.Duration
	// Name and Consequence make the item another unit's: its name in the
	// report, and what stops working when the unit is not running.
	Name, Consequence string
	// Restart: the unit is a oneshot that ran at boot, to be restarted
	// rather than started.
	Restart bool
}

// Our units and HAProxy, and the items that ask about them.
const (
	FirstbootUnit = "anyip-firstboot.service"
	HAProxyUnit   = "haproxy.service"
)

// unitOptions is o for another unit, with the same systemctl.
func (o ServiceOptions) unit(unit, name, consequence string, restart bool) ServiceOptions {
	o.Unit, o.Name, o.Consequence, o.Restart = unit, name, consequence, restart
	return o
}

// enabledOK are the is-enabled answers of a unit that starts at boot.
var enabledOK = map[string]bool{"enabled": true, "enabled-runtime": true, "static": true, "generated": true, "alias": true}

// notReachable are what systemctl says when there is no systemd to ask
// (a container, a chroot, a machine booted with another init).
var notReachable = []string{
	"System has not been booted with systemd",
	"Failed to connect to bus",
	"Failed to connect to system scope bus",
	"running in chroot",
}

// Service is check 6: the route service is enabled and running, asked of
// systemctl. When systemd cannot be reached the check warns rather than
// fails: there is nothing to fix in the appliance's configuration.
func Service(ctx context.Context, o ServiceOptions) Result {
	if o.Unit == "" {
		o.Unit = DefaultUnit
	}
	if o.Systemctl == "" {
		o.Systemctl = "systemctl"
	}
	if o.Journalctl == "" {
		o.Journalctl = "journalctl"
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Name == "" {
		o.Name = NameService
	}
	if o.Consequence == "" {
		o.Consequence = "nothing keeps the routes in step with the file"
	}
	r := Result{Name: o.Name}
	if _, err := exec.LookPath(o.Systemctl); err != nil {
		r.Status, r.Summary = Warn, fmt.Sprintf("cannot ask systemd about %s: %v", o.Unit, err)
		r.Hint = "check by hand that the service runs, however this system starts services"
		return r
	}
	enabled, eErr := systemctl(ctx, o, "is-enabled")
	active, aErr := systemctl(ctx, o, "is-active")
	for _, err := range []error{eErr, aErr} {
		var nr *unreachable
		if errors.As(err, &nr) {
			r.Status = Warn
			r.Summary = fmt.Sprintf("systemd is not reachable, so whether %s runs is unknown: %s", o.Unit, nr.msg)
			if enabled != "" {
				r.Details = append(r.Details, "is-enabled: "+enabled)
			}
			r.Hint = "run the check on the appliance itself (not in a container or chroot)"
			return r
		}
		if err != nil {
			r.Status, r.Summary = Error, fmt.Sprintf("systemctl: %v", err)
			return r
		}
	}
	r.Details = append(r.Details, "is-enabled: "+enabled, "is-active: "+active)
	okEnabled, okActive := enabledOK[enabled], active == "active"
	switch {
	case okEnabled && okActive:
		r.Status, r.Summary = Pass, fmt.Sprintf("%s is %s and active", o.Unit, enabled)
		r.Details = nil
		return r
	case okEnabled && (active == "activating" || active == "reloading"):
		r.Status, r.Summary = Warn, fmt.Sprintf("%s is %s and %s", o.Unit, enabled, active)
		r.Hint = "check again in a few seconds"
		return r
	}
	r.Status = Fail
	var what, todo []string
	if !okEnabled {
		what = append(what, "not enabled ("+enabled+")")
		switch enabled {
		case "not-found", "":
			todo = append(todo, "install the unit (make install, or the appliance package)")
		case "masked", "masked-runtime":
			todo = append(todo, "systemctl unmask "+o.Unit)
		}
		todo = append(todo, "systemctl enable "+o.Unit)
	}
	if !okActive {
		what = append(what, "not running ("+active+")")
		start := "systemctl start "
		if o.Restart {
			start = "systemctl restart "
		}
		todo = append(todo, start+o.Unit, "journalctl -u "+o.Unit+" says why it stopped")
		for _, l := range journal(ctx, o) {
			r.Details = append(r.Details, "journal: "+l)
		}
	}
	r.Summary = o.Unit + " is " + strings.Join(what, " and ") + ": " + o.Consequence
	r.Hint = strings.Join(todo, "; ")
	return r
}

type unreachable struct{ msg string }

func (u *unreachable) Error() string { return u.msg }

// systemctl runs `systemctl VERB UNIT` and returns the state it prints.
// A non-zero exit is how systemctl says "not enabled" or "not active", so
// it is not an error; failing to run, or systemd being unreachable, is.
func systemctl(ctx context.Context, o ServiceOptions, verb string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	// Its own process group: a systemctl stuck on D-Bus (or a pager or
	// polkit agent it started) ends with it when the time is up.
	cmd := procgroup.Command(ctx, o.Systemctl, verb, o.Unit)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	state := strings.TrimSpace(out.String())
	if i := strings.IndexByte(state, '\n'); i >= 0 {
		state = state[:i]
	}
	msg := strings.TrimSpace(errb.String())
	for _, s := range notReachable {
		if strings.Contains(msg, s) || strings.Contains(state, s) {
			return state, &unreachable{firstLine(msg)}
		}
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return state, fmt.Errorf("%s %s: %w", verb, o.Unit, err)
	}
	if ctx.Err() != nil {
		return state, &unreachable{fmt.Sprintf("systemctl %s did not answer within %v", verb, o.Timeout)}
	}
	if state == "" {
		// is-enabled on a unit that does not exist prints only to stderr.
		if strings.Contains(msg, "No such file") || strings.Contains(msg, "not found") || strings.Contains(msg, "not loaded") {
			return "not-found", nil
		}
		return "unknown", nil
	}
	return state, nil
}

// Journal is the journal item: errors our units logged since boot. A
// past error may be mended since, so it warns, naming the lines.
func Journal(ctx context.Context, o ServiceOptions) Result {
	if o.Journalctl == "" {
		o.Journalctl = "journalctl"
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	r := Result{Name: NameJournal}
	units := []string{"anyip-network", "anyip-firstboot", "anyip-routes"}
	var us []string
	for _, u := range units {
		us = append(us, "-u", u)
	}
	unitArgs := strings.Join(us, " ")
	out, errs, err := journalctl(ctx, o, append([]string{"-b", "-p", "err", "--no-pager", "-o", "cat", "-n", "20"}, us...)...)
	cannot := func(why string) Result {
		r.Status, r.Summary = Warn, "cannot read the journal"
		if why != "" {
			r.Summary += ": " + why
		}
		if errs != "" {
			r.Summary += ": " + finding.Clip(errs)
		}
		r.Hint = "run the check as root on the appliance; `journalctl -b -p err " + unitArgs + "` shows the same"
		return r
	}
	if err != nil {
		return cannot(err.Error())
	}
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "-- ") {
			r.Details = append(r.Details, finding.Clip(l))
		}
	}
	if len(r.Details) == 0 {
		// journalctl exits 0 having read nothing ("No journal files
		// were found.", a user who sees only their own entries), and
		// -o cat prints no "-- No entries --": no error line proves
		// nothing until an entry of this boot can be read at all.
		if strings.Contains(errs, "No journal files were found") {
			return cannot("")
		}
		any, anyErrs, err := journalctl(ctx, o, "-b", "--no-pager", "-o", "cat", "-n", "1")
		if errs == "" {
			errs = anyErrs
		}
		if err != nil || strings.TrimSpace(any) == "" {
			return cannot("not one entry of this boot is readable, so the absence of errors says nothing")
		}
		r.Status, r.Summary = Pass, "no errors from anyip-network, anyip-firstboot or anyip-routes since boot"
		return r
	}
	r.Status = Warn
	r.Summary = fmt.Sprintf("%s from our units since boot (the last 20 at most)", cli.Plural(len(r.Details), "error"))
	r.Hint = "see whether each still holds (the other items say what is wrong now); `journalctl -b -p warning " + unitArgs + "` shows them in context"
	return r
}

// journalctl runs journalctl, bounded by the timeout, and returns what it
// printed and the first line of its stderr.
func journalctl(ctx context.Context, o ServiceOptions, args ...string) (out, errs string, err error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var errb bytes.Buffer
	cmd := procgroup.Command(ctx, o.Journalctl, args...)
	cmd.Stderr = &errb
	b, err := cmd.Output()
	return string(b), firstLine(strings.TrimSpace(errb.String())), err
}

// journal returns the last lines the unit logged, best effort.
func journal(ctx context.Context, o ServiceOptions) []string {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	out, err := procgroup.Command(ctx, o.Journalctl, "-u", o.Unit, "-n", "5", "--no-pager", "-o", "cat").Output()
	if err != nil {
		return nil
	}
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "-- ") {
			lines = append(lines, finding.Clip(l))
		}
	}
	return lines
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

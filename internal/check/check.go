// Package check is the operator's troubleshooting checklist for an AnyIP
// appliance in one place: the ranges file parses, its ranges are in the
// local table, they are safe, every HAProxy frontend can bind, the control
// plane hands out VIPs only from them, the service runs, no other host on
// the link holds a range address, and a VIP is actually served.
//
// Each check yields a Result (pass, warn, fail, skip, or error when it
// could not be run); a Report holds them in a fixed order, prints them as
// text or JSON, and gives the exit code. The checks that only compare
// values are pure functions (Config, Routes, Safety, HAProxy,
// ControlPlane); Run gathers what they need from the system and runs the
// ones that talk to it (Service, Probe, VIP).
package check

import (
	"fmt"
	"io"
	"strings"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
)

// Status is the outcome of one check.
type Status string

const (
	Pass  Status = "pass"
	Warn  Status = "warn" // works, but look at it; does not change the exit code
	Fail  Status = "fail"
	Skip  Status = "skip"  // not configured or not asked for
	Error Status = "error" // could not be checked: the system failed us
)

// Names of the checks, in report order. They are part of the JSON
// contract.
const (
	NameConfig       = "config"
	NameRoutes       = "routes"
	NameSafety       = "safety"
	NameOnLink       = "on-link"
	NameHAProxy      = "haproxy"
	NameControlPlane = "control-plane"
	NameService      = "service"
	NameProbe        = "probe"
	NameVIP          = "vip"
	// NameFirstboot, NameHAProxyService and NameJournal ask systemd about
	// the last first boot, HAProxy's unit, and our units' errors.
	NameFirstboot      = "firstboot"
	NameHAProxyService = "haproxy-unit"
	NameJournal        = "journal"
)

// Result is what one check found.
type Result struct {
	Name    string   `json:"name"`
	Status  Status   `json:"status"`
	Summary string   `json:"summary"`
	Details []string `json:"details"` // the addresses, lines, frontends involved
	// More counts the details left out: at most maxDetails are kept.
	More int    `json:"more,omitempty"`
	Hint string `json:"hint,omitempty"`
}

// Report is the whole checklist.
type Report struct {
	Checks []Result `json:"checks"`
	// Result is fail when any check failed, else error when any could not
	// run, else warn when any warned, else pass.
	Result Status `json:"result"`
}

// NewReport totals the results.
func NewReport(rs []Result) *Report {
	r := &Report{Checks: rs, Result: Pass}
	for _, c := range rs {
		switch {
		case c.Status == Fail:
			r.Result = Fail
		case c.Status == Error && r.Result != Fail:
			r.Result = Error
		case c.Status == Warn && r.Result == Pass:
			r.Result = Warn
		}
	}
	for i := range r.Checks {
		c := &r.Checks[i]
		if c.Details == nil {
			c.Details = []string{} // [] rather than null in JSON
		}
		if n := len(c.Details); n > maxDetails {
			c.Details, c.More = c.Details[:maxDetails], c.More+n-maxDetails
		}
	}
	return r
}

// maxDetails bounds the details a check keeps, in JSON too: a file of a
// million bad lines needs the first ones and a count, not 100 MB of
// report.
const maxDetails = 1000

// findingDetails renders findings as details, errors first, at most
// maxDetails of them, and how many it left out.
func findingDetails(fs finding.List) ([]string, int) {
	shown, rest := fs.Sorted().Head(maxDetails)
	out := make([]string, len(shown))
	for i, x := range shown {
		out[i] = x.Detail()
	}
	return out, rest
}

// ExitCode maps the report to the commands' exit codes: 1 when a check
// failed, 3 when none failed but one could not be run, else 0 (warnings
// allowed).
func (r *Report) ExitCode() int {
	switch r.Result {
	case Fail:
		return cli.ExitInvalid
	case Error:
		return cli.ExitSystem
	}
	return cli.ExitOK
}

// maxTextDetails bounds the detail lines printed per check in text (JSON
// has them all): a table missing ten thousand routes needs a sample, not a
// scroll.
const maxTextDetails = 20

// WriteText prints one line per check, then its details and what to do,
// indented, then a total.
func (r *Report) WriteText(w io.Writer) {
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	counts := map[Status]int{}
	for _, c := range r.Checks {
		counts[c.Status]++
		fmt.Fprintf(w, "%-5s %-*s  %s\n", strings.ToUpper(string(c.Status)), width, c.Name, c.Summary)
		for i, d := range c.Details {
			if i == maxTextDetails {
				break
			}
			fmt.Fprintf(w, "      %s\n", d)
		}
		if more := max(0, len(c.Details)-maxTextDetails) + c.More; more > 0 {
			fmt.Fprintf(w, "      ... and %d more (--output json lists up to %d)\n", more, maxDetails)
		}
		if c.Hint != "" && c.Status != Pass && c.Status != Skip {
			fmt.Fprintf(w, "      what to do: %s\n", c.Hint)
		}
	}
	var parts []string
	for _, s := range []Status{Fail, Error, Warn, Pass, Skip} {
		if n := counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, words[s]))
		}
	}
	fmt.Fprintf(w, "result: %s (%s)\n", strings.ToUpper(string(r.Result)), strings.Join(parts, ", "))
}

var words = map[Status]string{Fail: "failed", Error: "could not run", Warn: "warned", Pass: "passed", Skip: "skipped"}

// WriteJSON prints the report for machines.
func (r *Report) WriteJSON(w io.Writer) error {
	return cli.WriteJSON(w, struct {
		Schema int `json:"schema"`
		*Report
	}{cli.SchemaVersion, r})
}

// plural says "1 range", "2 ranges".

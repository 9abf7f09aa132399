// Package cli holds what both commands share at their edge: exit codes,
// logging set-up, and the text/JSON report writer.
package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/anyip/anyip/internal/finding"
)

// Exit codes, the same for both commands (DESIGN.md §6).
const (
	ExitOK      = 0 // done, or nothing to change
	ExitInvalid = 1 // the configuration is invalid; nothing was changed
	ExitUsage   = 2 // usage error
	ExitSystem  = 3 // the system failed us: I/O, netlink, permissions
)

// Logger returns a slog logger writing text to w (stderr, which journald
// collects). ANYIP_LOG_LEVEL=debug turns on debug lines.
func Logger(w io.Writer, name string) *slog.Logger {
	level := slog.LevelInfo
	if strings.EqualFold(os.Getenv("ANYIP_LOG_LEVEL"), "debug") {
		level = slog.LevelDebug
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		// journald stamps every line itself; a second time stamp is noise.
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	return slog.New(h).With("cmd", name)
}

// Format is the --output flag's value.
type Format string

func (f *Format) String() string { return string(*f) }

func (f *Format) Set(s string) error {
	switch s {
	case "text", "json":
		*f = Format(s)
		return nil
	}
	return fmt.Errorf("want text or json, not %q", s)
}

// WriteJSON writes v indented, with a final newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteFindings prints findings one a line, errors first.
func WriteFindings(w io.Writer, fs finding.List) {
	for _, f := range fs.Sorted() {
		fmt.Fprintln(w, f.String())
	}
}

// Summary says "2 errors, 1 warning" with the plurals right.
func Summary(fs finding.List) string {
	e, w := fs.Count()
	return Plural(e, "error") + ", " + Plural(w, "warning")
}

// Plural says "1 range", "2 ranges", "3 addresses".
func Plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	if strings.HasSuffix(s, "s") || strings.HasSuffix(s, "ch") || strings.HasSuffix(s, "sh") || strings.HasSuffix(s, "x") {
		return fmt.Sprintf("%d %ses", n, s)
	}
	return fmt.Sprintf("%d %ss", n, s)
}

// RangeLimits are the --max-range and --max-range6 flags every command
// takes: the largest VIP range accepted, as a prefix length. Their
// defaults come from ANYIP_MAX_RANGE and ANYIP_MAX_RANGE6 (the units read
// them from /etc/default/anyip), so a limit raised once holds at boot, in
// the service and in check alike.
type RangeLimits struct{ Bits4, Bits6 int }

// Environment variables that set the RangeLimits defaults.
const (
	EnvMaxRange  = "ANYIP_MAX_RANGE"
	EnvMaxRange6 = "ANYIP_MAX_RANGE6"
)

// DefaultRangeLimits returns the built-in limits, overridden by the
// environment. A value that is not a number is kept as -1 so Validate
// names it rather than silently using the default.
func DefaultRangeLimits(bits4, bits6 int) RangeLimits {
	l := RangeLimits{bits4, bits6}
	for _, e := range []struct {
		name string
		dst  *int
	}{{EnvMaxRange, &l.Bits4}, {EnvMaxRange6, &l.Bits6}} {
		if v := strings.TrimPrefix(strings.TrimSpace(os.Getenv(e.name)), "/"); v != "" {
			if _, err := fmt.Sscan(v, e.dst); err != nil {
				*e.dst = -1
			}
		}
	}
	return l
}

// Register adds the two flags to fl, defaulting to l's current values.
func (l *RangeLimits) Register(fl *flag.FlagSet) {
	fl.IntVar(&l.Bits4, "max-range", l.Bits4, "largest IPv4 range allowed, as a prefix length (default from $"+EnvMaxRange+")")
	fl.IntVar(&l.Bits6, "max-range6", l.Bits6, "largest IPv6 range allowed, as a prefix length (default from $"+EnvMaxRange6+")")
}

// Validate says what is wrong with the limits, for a usage error.
func (l RangeLimits) Validate() error {
	if l.Bits4 < 1 || l.Bits4 > 32 || l.Bits6 < 1 || l.Bits6 > 128 {
		return fmt.Errorf("--max-range (or $%s) takes 1-32 and --max-range6 (or $%s) 1-128; got %d and %d",
			EnvMaxRange, EnvMaxRange6, l.Bits4, l.Bits6)
	}
	return nil
}

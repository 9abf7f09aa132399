// Package cli holds what both commands share at their edge: exit codes,
// logging set-up, and the text/JSON report writer.
package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"

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
// collects). ANYIP_LOG_LEVEL=debug turns on debug lines. When w is the
// journal's stream (JOURNAL_STREAM), each line starts with its syslog
// level, <3> to <7>, which journald strips and records as the priority
// (the units' default SyslogLevelPrefix=yes): `journalctl -p warning`
// then shows the warnings and errors. A terminal or any other pipe gets
// the plain lines.
func Logger(w io.Writer, name string) *slog.Logger {
	level := slog.LevelInfo
	if strings.EqualFold(os.Getenv("ANYIP_LOG_LEVEL"), "debug") {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{
		Level: level,
		// journald stamps every line itself; a second time stamp is noise.
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}
	var h slog.Handler
	if IsJournal(w) {
		h = newSyslogHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("cmd", name)
}

// ReportLogger is Logger for a command whose report on stdout already
// says every fact in words (first boot): on a terminal the log would say
// each one a second time, so it is left out unless verbose (-v) asks for
// it or ANYIP_LOG_LEVEL is set. The journal and any pipe get it whole.
func ReportLogger(w io.Writer, name string, verbose bool) *slog.Logger {
	if f, ok := w.(*os.File); ok && isTerminal(f) && !verbose && os.Getenv("ANYIP_LOG_LEVEL") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return Logger(w, name)
}

// IsJournal reports whether w is the stream systemd connected to the
// journal: a file whose device and inode are those JOURNAL_STREAM names
// ("dev:ino", decimal). Comparing both, as systemd.exec(5) asks, keeps a
// child that inherited the variable but whose stderr was redirected from
// writing prefixes into a file or a terminal.
func IsJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	js := os.Getenv("JOURNAL_STREAM")
	dev, ino, ok := strings.Cut(js, ":")
	if !ok {
		return false
	}
	d, err1 := strconv.ParseUint(dev, 10, 64)
	i, err2 := strconv.ParseUint(ino, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	fd, fi, ok := fileID(f)
	return ok && fd == d && fi == i
}

// SyslogPrefix is the "<N>" that gives a journal line its priority:
// err, warning, info or debug.
func SyslogPrefix(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>"
	case l >= slog.LevelWarn:
		return "<4>"
	case l >= slog.LevelInfo:
		return "<6>"
	}
	return "<7>"
}

// syslogHandler is slog's text handler with each record's line prefixed
// by its level. The text handler writes a record in one Write; the
// handler sets the prefix for that Write under a lock shared by every
// handler derived from it (WithAttrs, WithGroup), so lines never mix.
type syslogHandler struct {
	text slog.Handler
	out  *prefixWriter
}

type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(append(p.buf[:0], p.prefix...), b...)
	if _, err := p.w.Write(p.buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

func newSyslogHandler(w io.Writer, opts *slog.HandlerOptions) *syslogHandler {
	out := &prefixWriter{w: w}
	return &syslogHandler{text: slog.NewTextHandler(out, opts), out: out}
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.text.Enabled(ctx, l)
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.prefix = SyslogPrefix(r.Level)
	return h.text.Handle(ctx, r)
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &syslogHandler{text: h.text.WithAttrs(as), out: h.out}
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	return &syslogHandler{text: h.text.WithGroup(name), out: h.out}
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
	// The flag's error quotes the value already.
	return fmt.Errorf("want text or json")
}

// WriteJSON writes v indented, with a final newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteFindings prints findings one a line, errors first, at most
// finding.MaxListed of them and then a count of the rest. On the journal
// each line carries its finding's priority (see Logger).
func WriteFindings(w io.Writer, fs finding.List) {
	journal := IsJournal(w)
	sorted := fs.Sorted()
	for i, l := range FindingLines(sorted, finding.MaxListed) {
		if journal {
			lvl := slog.LevelInfo
			if i < len(sorted) {
				lvl = slog.LevelWarn
				if sorted[i].Severity == finding.Error {
					lvl = slog.LevelError
				}
			}
			l = SyslogPrefix(lvl) + l
		}
		fmt.Fprintln(w, l)
	}
}

// FindingLines renders findings one a line, errors first, at most max of
// them; when there are more, a last line counts the rest.
func FindingLines(fs finding.List, max int) []string {
	sorted := fs.Sorted()
	shown, rest := sorted.Head(max)
	lines := make([]string, 0, len(shown)+1)
	for _, f := range shown {
		lines = append(lines, f.String())
	}
	if rest > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more (%s)", rest, Summary(sorted[len(shown):])))
	}
	return lines
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
type RangeLimits struct {
	Bits4, Bits6 int
	// builtin are the defaults without the environment, for --help.
	builtin [2]int
	// envErr names a variable that is not a prefix length; it is a usage
	// error unless the flag it is the default of is given.
	envErr  [2]error
	flagSet [2]bool
}

// Environment variables that set the RangeLimits defaults.
const (
	EnvMaxRange  = "ANYIP_MAX_RANGE"
	EnvMaxRange6 = "ANYIP_MAX_RANGE6"
)

// DefaultRangeLimits returns the built-in limits, overridden by the
// environment. A value that is not a number keeps the built-in default
// and is named by Validate, rather than silently ignored.
func DefaultRangeLimits(bits4, bits6 int) RangeLimits {
	l := RangeLimits{Bits4: bits4, Bits6: bits6, builtin: [2]int{bits4, bits6}}
	for i, e := range []struct {
		name string
		dst  *int
		max  int
	}{{EnvMaxRange, &l.Bits4, 32}, {EnvMaxRange6, &l.Bits6, 128}} {
		raw := os.Getenv(e.name)
		v := strings.TrimPrefix(strings.TrimSpace(raw), "/")
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > e.max {
			l.envErr[i] = fmt.Errorf("$%s is %q (in the environment; the units read it from /etc/default/anyip): set it to a prefix length from 1 to %d, or remove it for the default /%d",
				e.name, finding.Clip(raw), e.max, *e.dst)
			continue
		}
		*e.dst = n
	}
	return l
}

// Register adds the two flags to fl, defaulting to l's current values.
func (l *RangeLimits) Register(fl *flag.FlagSet) {
	// One bracket says both defaults: the built-in one, and the variable
	// that replaces it.
	fl.Var(&limitFlag{&l.Bits4, &l.flagSet[0]}, "max-range", fmt.Sprintf("largest IPv4 range allowed, as a prefix length `N` (default %d, or $%s)", l.builtin[0], EnvMaxRange))
	fl.Var(&limitFlag{&l.Bits6, &l.flagSet[1]}, "max-range6", fmt.Sprintf("largest IPv6 range allowed, as a prefix length `N` (default %d, or $%s)", l.builtin[1], EnvMaxRange6))
}

// limitFlag is an int flag that remembers being given, so a bad variable
// it overrides is no error.
type limitFlag struct {
	dst *int
	set *bool
}

func (f *limitFlag) String() string {
	if f.dst == nil {
		return "0"
	}
	return strconv.Itoa(*f.dst)
}

func (f *limitFlag) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimPrefix(s, "/"))
	if err != nil {
		return fmt.Errorf("want a prefix length")
	}
	*f.dst, *f.set = n, true
	return nil
}

// Validate says what is wrong with the limits, for a usage error.
func (l RangeLimits) Validate() error {
	for i := range l.envErr {
		if l.envErr[i] != nil && !l.flagSet[i] {
			return l.envErr[i]
		}
	}
	if l.Bits4 < 1 || l.Bits4 > 32 {
		return fmt.Errorf("--max-range takes a prefix length from 1 to 32, not %d", l.Bits4)
	}
	if l.Bits6 < 1 || l.Bits6 > 128 {
		return fmt.Errorf("--max-range6 takes a prefix length from 1 to 128, not %d", l.Bits6)
	}
	return nil
}

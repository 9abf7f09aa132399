// Package cli holds what both commands share at their edge: exit codes,
// logging set-up, and the text/JSON report writer.
package cli

import (
	"encoding/json"
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
	return plural(e, "error") + ", " + plural(w, "warning")
}

func plural(n int, s string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", s)
	}
	return fmt.Sprintf("%d %ss", n, s)
}

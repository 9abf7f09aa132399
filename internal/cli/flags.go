package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/anyip/anyip/internal/finding"
)

// Version is the release, set at build time with
// -ldflags '-X github.com/anyip/anyip/internal/cli.Version=1.2.3';
// without it, what the Go tool recorded of the source is shown.
var Version = ""

// VersionLine is what --version prints: "anyip-routes 1.2.3".
func VersionLine(name string) string {
	v := Version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok {
			if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v += " (" + s.Value[:12] + ")"
				}
			}
		}
	}
	return name + " " + v
}

// Flags is a command's (or a verb's) flag set with the help the project
// writes by hand: the usage text, then each flag that is not a test hook,
// with one default. A bad flag is one line that points at --help, as
// iproute2 does, not the whole usage.
type Flags struct {
	*flag.FlagSet
	name   string
	text   string
	hidden map[string]bool
	// others are flags the command takes elsewhere (another verb's):
	// given here, they are named as not this verb's, not as unknown.
	others map[string]bool
	verb   string
}

// NewFlags makes a flag set for name ("anyip-routes up"); text is printed
// before the flags by --help.
func NewFlags(name, text string) *Flags {
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	// Parse reports errors itself, in one line.
	fl.SetOutput(io.Discard)
	fl.Usage = func() {}
	return &Flags{FlagSet: fl, name: name, text: text, hidden: map[string]bool{}}
}

// Hide keeps flags out of --help: hooks for tests, not for operators.
func (f *Flags) Hide(names ...string) {
	for _, n := range names {
		f.hidden[n] = true
	}
}

// NotHere names flags the command takes, but not here (in verb): given
// here, the error says `--resolv-conf is not a flag of down` rather than
// that the flag does not exist.
func (f *Flags) NotHere(verb string, names ...string) {
	if f.others == nil {
		f.others = map[string]bool{}
	}
	f.verb = verb
	for _, n := range names {
		if f.Lookup(n) == nil {
			f.others[n] = true
		}
	}
}

// Dashed spells a flag as the usage shows it: -h, --output.
func Dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// WriteUsage writes the usage text and the visible flags.
func (f *Flags) WriteUsage(w io.Writer) {
	fmt.Fprint(w, f.text)
	f.VisitAll(func(fl *flag.Flag) {
		if f.hidden[fl.Name] {
			return
		}
		arg, usage := flag.UnquoteUsage(fl)
		head := "  " + Dashed(fl.Name)
		if arg != "" {
			head += " " + arg
		}
		if !isZero(fl) && !strings.Contains(usage, "(default") {
			usage += " (default " + fl.DefValue + ")"
		}
		line := head
		body := wrap(usage, 78-usageIndent)
		if len(head) < usageIndent-1 {
			line += strings.Repeat(" ", usageIndent-len(head)) + body[0]
		} else {
			line += "\n" + strings.Repeat(" ", usageIndent) + body[0]
		}
		for _, b := range body[1:] {
			line += "\n" + strings.Repeat(" ", usageIndent) + b
		}
		fmt.Fprintln(w, line)
	})
}

// usageIndent is the column flag descriptions start in.
const usageIndent = 24

// wrap breaks s into lines of at most width bytes, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// isZero reports whether fl's default is its type's zero value, which
// --help does not print.
func isZero(fl *flag.Flag) bool {
	switch fl.DefValue {
	case "", "0", "false", "0s", "[]":
		return true
	}
	t := reflect.TypeOf(fl.Value)
	var z reflect.Value
	if t.Kind() == reflect.Pointer {
		z = reflect.New(t.Elem())
	} else {
		z = reflect.Zero(t)
	}
	return fl.DefValue == z.Interface().(flag.Value).String()
}

// Parsed is how a Parse ended when it did not end with flags to use.
type Parsed struct {
	Done bool // end the command with Code: help was printed, or an error
	Code int
}

// Parse parses args. --help (or -h) prints the usage to stdout and ends
// with 0; a bad flag or value prints one line to stderr, or a JSON
// object to stdout when the command line asks for JSON, and ends with 2.
func (f *Flags) Parse(args []string, stdout, stderr io.Writer) Parsed {
	err := f.FlagSet.Parse(args)
	if err == nil {
		return Parsed{}
	}
	if errors.Is(err, flag.ErrHelp) {
		f.WriteUsage(stdout)
		return Parsed{Done: true, Code: ExitOK}
	}
	return Parsed{Done: true, Code: f.Usage(args, stdout, stderr, "%s", f.explain(err.Error()))}
}

// explain restates the flag package's errors with the flags spelled as
// the usage shows them (--output, not -output), and names a flag of
// another verb as such.
func (f *Flags) explain(msg string) string {
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		if f.others[name] {
			return fmt.Sprintf("%s is not a flag of %s", Dashed(name), f.verb)
		}
		return "unknown flag " + Dashed(name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return Dashed(name) + " needs a value"
	}
	for _, p := range []string{"invalid value ", "invalid boolean value "} {
		rest, ok := strings.CutPrefix(msg, p)
		if !ok {
			continue
		}
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			break
		}
		tail := strings.TrimPrefix(strings.TrimPrefix(rest[len(q):], " for flag -"), " for -")
		if name, why, ok := strings.Cut(tail, ": "); ok {
			if p == "invalid boolean value " {
				why = "want true or false"
			}
			return fmt.Sprintf("invalid value %s for %s: %s", q, Dashed(name), why)
		}
	}
	return msg
}

// Usage reports a usage error: one line naming the command and pointing
// at --help, or {"schema", "result": "usage", "error"} on stdout when args
// ask for --output json. It returns ExitUsage.
func (f *Flags) Usage(args []string, stdout, stderr io.Writer, format string, a ...any) int {
	return UsageError(f.name, WantsJSON(args), stdout, stderr, format, a...)
}

// UsageError is Flags.Usage for a caller without a flag set.
func UsageError(name string, asJSON bool, stdout, stderr io.Writer, format string, a ...any) int {
	msg := clipMessage(fmt.Sprintf(format, a...))
	if asJSON {
		WriteJSON(stdout, struct {
			Schema int    `json:"schema"`
			Result string `json:"result"`
			Error  string `json:"error"`
		}{SchemaVersion, "usage", name + ": " + msg})
		return ExitUsage
	}
	fmt.Fprintf(stderr, "%s: %s (see %s --help)\n", name, msg, name)
	return ExitUsage
}

// WantsJSON reports whether args ask for --output json in any of the
// spellings the flag package takes, so that even a command line that does
// not parse can be answered in JSON.
func WantsJSON(args []string) bool {
	for i, a := range args {
		if a == "--" {
			break
		}
		switch a {
		case "--output=json", "-output=json":
			return true
		case "--output", "-output":
			if i+1 < len(args) && args[i+1] == "json" {
				return true
			}
		}
	}
	return false
}

// SchemaVersion is the "schema" of every JSON report: it changes when a
// field is renamed or removed, not when one is added.
const SchemaVersion = 1

// clipMessage bounds a usage error, which may echo a value of any length.
func clipMessage(s string) string { return finding.Finding{Message: s}.Clipped().Message }

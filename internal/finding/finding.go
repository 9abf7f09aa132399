// Package finding is the shape every complaint about the operator's input
// takes, whether it comes from a property that does not parse, a range that
// swallows the gateway, or a bad line in anyip-routes.cfg. One shape means
// one way to print, log, publish and test them.
package finding

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Severity orders findings: an Error makes the configuration invalid and
// nothing is changed; a Warning is printed and the run goes on.
type Severity int

const (
	Warning Severity = iota
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText writes, so findings saved in a
// state record or JSON output read back.
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = Error
	case "warning":
		*s = Warning
	default:
		return fmt.Errorf("unknown severity %q (want error or warning)", b)
	}
	return nil
}

// A Finding says what is wrong, where, and what to do.
//
// Where is an OVF key ("loadbalance.service_ip_range") or a file position
// ("/etc/vmware/anyip-routes.cfg:7"). Value is the offending text as the
// operator typed it, already redacted when the key holds a secret.
type Finding struct {
	Severity Severity `json:"severity" yaml:"severity"`
	Where    string   `json:"where" yaml:"where"`
	Value    string   `json:"value,omitempty" yaml:"value,omitempty"`
	Message  string   `json:"message" yaml:"message"`
	Hint     string   `json:"hint,omitempty" yaml:"hint,omitempty"`
	// More counts the findings of this severity that this one stands for
	// and that were not kept (see Bounded): counts stay true when the
	// list is not whole.
	More int `json:"more,omitempty" yaml:"more,omitempty"`
	// Conflict is what the value collides with, for automation: the
	// address (a gateway, a name server) or range it holds or overlaps,
	// and ConflictWhere the key, file:line or interface that holds it.
	Conflict      string `json:"conflict,omitempty" yaml:"conflict,omitempty"`
	ConflictWhere string `json:"conflict_where,omitempty" yaml:"conflict_where,omitempty"`
}

// With returns f with its conflict named (see Finding.Conflict).
func (f Finding) With(conflict, where string) Finding {
	f.Conflict, f.ConflictWhere = clipTo(conflict, MaxValue), clipTo(where, MaxValue)
	return f
}

// MaxValue bounds, in bytes, a value echoed back to the operator, and
// MaxMessage a message (which may quote one): a megabyte host name or
// ranges line must not become a megabyte log line or fill the published
// status. The start of a value is enough to find it; its length is kept.
const (
	MaxValue   = 160
	MaxMessage = 640
)

// Clip bounds a value echoed in a finding or an error message to
// MaxValue bytes, cut at a character boundary, and says how long it was.
// Every place that echoes operator input goes through it.
func Clip(s string) string { return clipTo(s, MaxValue) }

// clipTo cuts s so that it takes at most max bytes also when quoted (%q):
// a control byte quotes as four (\x1c), and messages quote what they echo.
func clipTo(s string, max int) string {
	if len(s) <= max/4 {
		return s
	}
	width, cut := 0, len(s)
	for i, r := range s {
		w := len(strconv.QuoteRune(r)) - 2
		if r == utf8.RuneError {
			w = 4 // an invalid byte quotes as \xNN
		}
		if width+w > max {
			cut = i
			break
		}
		width += w
	}
	if cut == len(s) {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:cut], len(s))
}

// Clipped returns f with its value and message bounded (see Clip).
func (f Finding) Clipped() Finding {
	f.Value = clipTo(f.Value, MaxValue)
	f.Message = clipTo(f.Message, MaxMessage)
	f.Hint = clipTo(f.Hint, MaxMessage)
	f.Where = clipTo(f.Where, MaxValue)
	f.Conflict = clipTo(f.Conflict, MaxValue)
	f.ConflictWhere = clipTo(f.ConflictWhere, MaxValue)
	return f
}

func (f Finding) String() string {
	return f.Severity.String() + ": " + f.Detail()
}

// Detail is the finding without its severity, for lists that already say
// it: where, the value, what is wrong, and what to do.
func (f Finding) Detail() string {
	f = f.Clipped()
	var b strings.Builder
	b.WriteString(f.Where)
	if f.Value != "" {
		fmt.Fprintf(&b, " = %q", f.Value)
	}
	b.WriteString(": ")
	b.WriteString(f.Message)
	if f.Hint != "" {
		b.WriteString(" (")
		b.WriteString(f.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// List is a set of findings reported together, so the operator fixes
// everything in one pass instead of one error per boot.
type List []Finding

// HasErrors reports whether any finding makes the configuration invalid.
func (l List) HasErrors() bool {
	for _, f := range l {
		if f.Severity == Error {
			return true
		}
	}
	return false
}

// Count returns the number of errors and warnings.
func (l List) Count() (errors, warnings int) {
	for _, f := range l {
		if f.Severity == Error {
			errors += 1 + f.More
		} else {
			warnings += 1 + f.More
		}
	}
	return errors, warnings
}

// MaxListed bounds the findings printed or logged one by one; the rest
// are counted. A file of a million bad lines needs the first ones fixed
// and a count, not a million lines of output.
const MaxListed = 100

// Error makes a List usable as an error value; it lists errors first, at
// most MaxListed of them, and counts the rest.
func (l List) Error() string {
	var b strings.Builder
	shown, rest := l.Sorted().Head(MaxListed)
	for i, f := range shown {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(f.String())
	}
	if rest > 0 {
		fmt.Fprintf(&b, "\n... and %d more", rest)
	}
	return b.String()
}

// Head returns the first n findings of l and how many it left out,
// counting those a left-out finding stands for.
func (l List) Head(n int) (List, int) {
	if len(l) <= n {
		return l, 0
	}
	e, w := l[n:].Count()
	return l[:n], e + w
}

// Sorted returns errors before warnings, keeping the order within each.
func (l List) Sorted() List {
	out := make(List, 0, len(l))
	for _, f := range l {
		if f.Severity == Error {
			out = append(out, f)
		}
	}
	for _, f := range l {
		if f.Severity != Error {
			out = append(out, f)
		}
	}
	return out
}

// Errorf and Warnf build findings tersely at the call sites that produce many.
// Both clip what they are given (see Clip), so a finding stays small in
// every output, JSON and the state record included.
func Errorf(where, value, hint, format string, args ...any) Finding {
	return Finding{Severity: Error, Where: where, Value: value, Hint: hint, Message: fmt.Sprintf(format, args...)}.Clipped()
}

func Warnf(where, value, hint, format string, args ...any) Finding {
	return Finding{Severity: Warning, Where: where, Value: value, Hint: hint, Message: fmt.Sprintf(format, args...)}.Clipped()
}

// Package finding is the shape every complaint about the operator's input
// takes, whether it comes from a property that does not parse, a range that
// swallows the gateway, or a bad line in anyip-routes.cfg. One shape means
// one way to print, log, publish and test them.
package finding

import (
	"fmt"
	"strings"
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
}

func (f Finding) String() string {
	return f.Severity.String() + ": " + f.Detail()
}

// Detail is the finding without its severity, for lists that already say
// it: where, the value, what is wrong, and what to do.
func (f Finding) Detail() string {
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
			errors++
		} else {
			warnings++
		}
	}
	return errors, warnings
}

// Error makes a List usable as an error value; it lists errors first.
func (l List) Error() string {
	var b strings.Builder
	for i, f := range l.Sorted() {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(f.String())
	}
	return b.String()
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
func Errorf(where, value, hint, format string, args ...any) Finding {
	return Finding{Severity: Error, Where: where, Value: value, Hint: hint, Message: fmt.Sprintf(format, args...)}
}

func Warnf(where, value, hint, format string, args ...any) Finding {
	return Finding{Severity: Warning, Where: where, Value: value, Hint: hint, Message: fmt.Sprintf(format, args...)}
}

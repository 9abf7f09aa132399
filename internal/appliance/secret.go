package appliance

import (
	"fmt"
	"log/slog"
)

// Secret holds a value that must never reach a log, an error, stdout or a
// state file. Every way Go has of printing or encoding a value prints
// Redacted instead; only Reveal gives the value, at its destination.
type Secret struct{ v string }

// Redacted is what a secret prints as.
const Redacted = "[redacted]"

func NewSecret(v string) Secret { return Secret{v} }

func (s Secret) Reveal() string { return s.v }
func (s Secret) IsSet() bool    { return s.v != "" }
func (s Secret) Len() int       { return len([]rune(s.v)) }

func (s Secret) String() string   { return Redacted }
func (s Secret) GoString() string { return Redacted }

// Format covers %v, %+v, %#v, %q, %x and the rest: fmt would otherwise
// print the unexported field for some verbs.
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, Redacted) }

func (s Secret) LogValue() slog.Value         { return slog.StringValue(Redacted) }
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
func (s Secret) MarshalYAML() (any, error)    { return Redacted, nil }

package appliance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const secretValue = "Hunter2-very-secret"

// holder nests a Secret the way callers do: by value, by pointer, in a
// slice, a map and an interface.
type holder struct {
	User  string
	Pass  Secret
	Ptr   *Secret
	List  []Secret
	ByKey map[string]Secret
	Any   any
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(secretValue)
	h := holder{User: "admin", Pass: s, Ptr: &s, List: []Secret{s}, ByKey: map[string]Secret{"k": s}, Any: s}
	cfg, _, fs := FromProperties(with(KeyRootPassword, secretValue, KeyHAProxyPassword, secretValue))
	if fs.HasErrors() {
		t.Fatalf("errors:\n%v", fs)
	}
	if cfg.RootPassword.Reveal() != secretValue {
		t.Fatal("Reveal does not give the value")
	}

	values := map[string]any{"Secret": s, "*Secret": &s, "holder": h, "Config": cfg}
	type render struct {
		name string
		fn   func(v any) (string, error)
	}
	var renders []render
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%-20v"} {
		renders = append(renders, render{"fmt " + verb, func(v any) (string, error) { return fmt.Sprintf(verb, v), nil }})
	}
	renders = append(renders,
		render{"fmt.Sprint", func(v any) (string, error) { return fmt.Sprint(v), nil }},
		render{"fmt.Sprintln", func(v any) (string, error) { return fmt.Sprintln(v), nil }},
		render{"fmt.Errorf %w-less", func(v any) (string, error) { return fmt.Errorf("failed with %v", v).Error(), nil }},
		render{"json.Marshal", func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err }},
		render{"json.MarshalIndent", func(v any) (string, error) { b, err := json.MarshalIndent(v, "", " "); return string(b), err }},
		render{"yaml.Marshal", func(v any) (string, error) { b, err := yaml.Marshal(v); return string(b), err }},
		render{"slog text", func(v any) (string, error) {
			var b bytes.Buffer
			slog.New(slog.NewTextHandler(&b, nil)).Info("configured", "value", v, slog.Group("g", "nested", v))
			return b.String(), nil
		}},
		render{"slog JSON", func(v any) (string, error) {
			var b bytes.Buffer
			slog.New(slog.NewJSONHandler(&b, nil)).Info("configured", "value", v, slog.Group("g", "nested", v))
			return b.String(), nil
		}},
		render{"slog text With", func(v any) (string, error) {
			var b bytes.Buffer
			slog.New(slog.NewTextHandler(&b, nil)).With("value", v).Warn("x")
			return b.String(), nil
		}},
	)
	for name, v := range values {
		for _, r := range renders {
			out, err := r.fn(v)
			if err != nil {
				t.Errorf("%s of %s: %v", r.name, name, err)
				continue
			}
			if strings.Contains(out, secretValue) || strings.Contains(out, fmt.Sprintf("%x", secretValue)) {
				t.Errorf("%s of %s shows the secret: %s", r.name, name, out)
			}
			if !strings.Contains(out, Redacted) {
				t.Errorf("%s of %s does not print %s: %s", r.name, name, Redacted, out)
			}
		}
	}
}

// The exact forms, for the plain Secret value.
func TestSecretForms(t *testing.T) {
	s := NewSecret(secretValue)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		if got := fmt.Sprintf(verb, s); got != Redacted {
			t.Errorf("Sprintf(%q) = %q, want %q", verb, got, Redacted)
		}
	}
	if got := s.String(); got != Redacted {
		t.Errorf("String() = %q", got)
	}
	b, err := json.Marshal(s)
	if err != nil || string(b) != `"`+Redacted+`"` {
		t.Errorf("json.Marshal = %s, %v", b, err)
	}
	y, err := yaml.Marshal(s)
	if err != nil || strings.TrimSpace(string(y)) != "'"+Redacted+"'" && strings.TrimSpace(string(y)) != Redacted {
		t.Errorf("yaml.Marshal = %q, %v", y, err)
	}
	txt, err := s.MarshalText()
	if err != nil || string(txt) != Redacted {
		t.Errorf("MarshalText = %q, %v", txt, err)
	}
	if v := s.LogValue(); v.String() != Redacted {
		t.Errorf("LogValue = %q", v)
	}
	if s.Len() != len([]rune(secretValue)) || !s.IsSet() || (Secret{}).IsSet() {
		t.Error("Len/IsSet do not describe the value")
	}
	// A wrapped error carrying a secret still redacts.
	err = fmt.Errorf("apply: %w", errors.New(fmt.Sprint("password ", s)))
	if strings.Contains(err.Error(), secretValue) {
		t.Errorf("error shows the secret: %v", err)
	}
}

// Findings about secret keys never show the value, whatever is wrong with it.
func TestFindingsNeverShowSecrets(t *testing.T) {
	cert, key, other := selfSigned(t, "ecdsa")
	for _, c := range []struct {
		name   string
		kv     []string
		secret string
	}{
		{"short root password", []string{KeyRootPassword, "abc"}, "abc"},
		{"short haproxy password", []string{KeyHAProxyPassword, "x1y2z"}, "x1y2z"},
		{"long root password", []string{KeyRootPassword, strings.Repeat("Zq", 70)}, strings.Repeat("Zq", 70)},
		{"password with spaces", []string{KeyRootPassword, " ab c "}, "ab c"},
		{"key not PEM", []string{KeyCACert, cert, KeyCAKey, "my-secret-key-text"}, "my-secret-key-text"},
		{"key without cert", []string{KeyCAKey, "my-secret-key-text"}, "my-secret-key-text"},
		{"mismatched key", []string{KeyCACert, cert, KeyCAKey, other}, body(other)[0]},
		{"flattened mismatched key", []string{KeyCACert, flatten(cert), KeyCAKey, flatten(other)}, body(other)[0]},
		{"bad cert with a key", []string{KeyCACert, "bad", KeyCAKey, key}, body(key)[0]},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, fs := FromProperties(with(c.kv...))
			if !fs.HasErrors() {
				t.Fatalf("no error for %s", c.name)
			}
			for _, f := range fs {
				assertNoSecret(t, f, c.secret)
				if IsSecret(f.Where) && f.Value != "" && f.Value != Redacted {
					t.Errorf("finding at %s has Value %q", f.Where, f.Value)
				}
			}
			if strings.Contains(fs.Error(), c.secret) {
				t.Errorf("List.Error() shows the secret")
			}
			var b bytes.Buffer
			if err := json.NewEncoder(&b).Encode(fs); err != nil || strings.Contains(b.String(), c.secret) {
				t.Errorf("JSON of the findings shows the secret (err %v)", err)
			}
		})
	}
}

package ovfenv

import (
	"errors"
	"strings"
	"testing"
)

// faultingChannel faults or panics in Start, as the port access does on a
// hypervisor that claims to be VMware without the backdoor.
type faultingChannel struct {
	fakeChannel
	start func()
}

func (c *faultingChannel) Start() error { c.start(); return nil }

// A port fault is reported as what it is, not as the runtime's "nil
// pointer dereference"; any other panic is named as itself.
func TestBackdoorFaultSaysWhatHappened(t *testing.T) {
	var nowhere *[1]byte
	for _, c := range []struct {
		name  string
		start func()
		want  string
	}{
		// The real fault: the access has no address, so the runtime
		// reports a nil dereference.
		{"fault without an address", func() { _ = nowhere[0] }, ErrPortFault.Error()},
		{"other panic", func() { panic("unexpected state") }, "the VMware backdoor exchange failed: unexpected state"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := &faultingChannel{start: c.start}
			_, err := Backdoor{NewChannel: func() Channel { return ch }}.Read(t.Context())
			if err == nil || err.Error() != c.want || strings.Contains(err.Error(), "nil pointer") {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if c.want == ErrPortFault.Error() && !errors.Is(err, ErrPortFault) {
				t.Errorf("not ErrPortFault: %v", err)
			}
		})
	}
}

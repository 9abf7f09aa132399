package ovfenv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/anyip/anyip/internal/finding"
)

// StatusKey is the guestinfo variable the appliance reports its state in,
// readable from vCenter (VM advanced settings) and govc vm.info -e.
const StatusKey = "guestinfo.anyip.status"

// CACertKey is where the appliance's CA certificate is published (base64
// PEM), the old appliance's key: the vSphere admin gives it to the
// Supervisor as the Data Plane API's CA.
const CACertKey = "guestinfo.dataplaneapi.cacert"

// MaxStatusSize bounds a published value: guestinfo is meant for short
// strings, and the VMX limits what it keeps.
const MaxStatusSize = 4096

const truncMarker = "...[truncated]"

// clip bounds a name or value echoed in an error, so that a hostile
// document cannot produce a multi-megabyte message: the one clip of
// echoed values, finding.Clip.
var clip = finding.Clip

// Publisher sets guestinfo variables from inside the guest.
type Publisher struct {
	// NewChannel returns a fresh RPCI channel; nil means the real VMware
	// backdoor.
	NewChannel func() Channel
	// LookPath resolves helper programs; nil means exec.LookPath.
	LookPath func(string) (string, error)
}

// DefaultPublisher uses the VMware backdoor and the open-vm-tools
// programs found through PATH.
func DefaultPublisher() Publisher { return Publisher{} }

// Publish sets guestinfo key to value, trying the backdoor, then
// vmware-rpctool, then vmtoolsd --cmd. It returns the name of the channel
// that worked. Errors never include the value.
func (p Publisher) Publish(ctx context.Context, key, value string) (string, error) {
	if err := checkGuestinfoKey(key); err != nil {
		return "", err
	}
	request := "info-set " + key + " " + boundValue(value)

	_, backdoorErr := rpci(ctx, p.NewChannel, []byte(request))
	if backdoorErr == nil {
		return "backdoor", nil
	}
	failures := []string{"backdoor: " + backdoorErr.Error()}
	// The request travels as a single argv element, so no shell ever
	// sees the value.
	cmds := []Command{
		{Program: "vmware-rpctool", Args: []string{request}, Timeout: commandTimeout, LookPath: p.LookPath},
		{Program: "vmtoolsd", Args: []string{"--cmd", request}, Timeout: commandTimeout, LookPath: p.LookPath},
	}
	for _, c := range cmds {
		if err := ctx.Err(); err != nil {
			failures = append(failures, c.Name()+": not tried: "+err.Error())
			continue
		}
		if _, err := c.run(ctx); err != nil {
			failures = append(failures, c.Name()+": "+err.Error())
			continue
		}
		return c.Name(), nil
	}
	err := fmt.Errorf("cannot set %s: %s", key, strings.Join(failures, "; "))
	if errors.Is(backdoorErr, ErrNotVMware) {
		// Off VMware, not publishing is what is expected, not a fault:
		// errors.Is(err, ErrNotVMware) lets the caller say so quietly.
		return "", notVMware{err}
	}
	return "", err
}

// notVMware is a publish error on a machine whose CPU is not VMware's.
type notVMware struct{ error }

func (notVMware) Unwrap() error { return ErrNotVMware }

// checkGuestinfoKey rejects keys the VMX would not store as meant: the
// request is "info-set <key> <value>", split at the first space.
func checkGuestinfoKey(key string) error {
	if !strings.HasPrefix(key, "guestinfo.") || len(key) == len("guestinfo.") {
		return fmt.Errorf("guestinfo key %q must start with \"guestinfo.\" and name a variable", clip(key))
	}
	if len(key) > 128 {
		return fmt.Errorf("guestinfo key %q is longer than 128 bytes", clip(key))
	}
	for _, r := range key {
		if r > unicode.MaxASCII || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("guestinfo key %q may only hold printable ASCII without spaces", clip(key))
		}
	}
	return nil
}

// boundValue makes value safe to send: NUL cannot travel in an argv
// element, and the length is capped on a UTF-8 boundary with a marker so a
// reader can tell the value was cut.
func boundValue(value string) string {
	value = strings.ReplaceAll(value, "\x00", " ")
	value = strings.ToValidUTF8(value, "\uFFFD")
	if len(value) <= MaxStatusSize {
		return value
	}
	cut := MaxStatusSize - len(truncMarker)
	for cut > 0 && !utf8.RuneStart(value[cut]) {
		cut--
	}
	return value[:cut] + truncMarker
}

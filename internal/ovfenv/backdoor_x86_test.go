//go:build 386 || amd64

package ovfenv

import (
	"errors"
	"testing"

	"github.com/vmware/govmomi/toolbox"
	"github.com/vmware/vmw-guestinfo/vmcheck"
)

var (
	errNotVirtualForTest = toolbox.ErrNotVirtualWorld
	wantNotVirtualMsg    = "not a VMware virtual CPU"
)

// TestRealBackdoor runs the real channel. Off VMware it must fail with
// ErrNotVMware, having only executed CPUID; on a VMware VM it may
// succeed or fail, but must return.
func TestRealBackdoor(t *testing.T) {
	data, err := Backdoor{}.Read(t.Context())
	if vmcheck.IsVirtualCPU() {
		t.Logf("VMware virtual CPU: %d bytes, err %v", len(data), err)
		return
	}
	if !errors.Is(err, ErrNotVMware) {
		t.Fatalf("err = %v, want ErrNotVMware", err)
	}
	if data != nil {
		t.Fatalf("data %q along with the error", data)
	}
}

//go:build 386 || amd64

package ovfenv

import (
	"errors"
	"testing"

	"github.com/vmware/govmomi/toolbox"
)

// Off VMware the publish error says so (errors.Is ErrNotVMware), so the
// caller can note it quietly rather than warn at every boot; on a VMware
// CPU whose channels fail it does not.
func TestPublishOffVMware(t *testing.T) {
	ch := &fakeChannel{startErr: toolbox.ErrNotVirtualWorld}
	_, err := Publisher{NewChannel: ch.factory(), LookPath: noPrograms}.Publish(t.Context(), StatusKey, "v")
	if !errors.Is(err, ErrNotVMware) {
		t.Fatalf("err = %v, want one that is ErrNotVMware", err)
	}
	if want := "cannot set guestinfo.anyip.status: backdoor: not a VMware virtual CPU; vmware-rpctool: not found in PATH; vmtoolsd: not found in PATH"; err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	ch = &fakeChannel{reply: "0 Permission denied"}
	_, err = Publisher{NewChannel: ch.factory(), LookPath: noPrograms}.Publish(t.Context(), StatusKey, "v")
	if err == nil || errors.Is(err, ErrNotVMware) {
		t.Errorf("a VMware CPU's failure: %v", err)
	}
}

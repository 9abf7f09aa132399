package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/upgrade"
)

// --upgrade says what it did, and the second time that nothing is left.
func TestUpgradeSaysWhatItDid(t *testing.T) {
	root := t.TempDir()
	for rel, data := range map[string]string{
		"etc/systemd/system/route-tables.service": "[Service]\nExecStart=/var/lib/vmware/routetablectl.sh watch\nExecStopPost=/var/lib/vmware/routetablectl.sh down\n",
		"var/lib/vmware/routetablectl.sh":         "#!/bin/bash\nip rule del ...\n",
		upgrade.OldMarker:                         "",
	} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755)
		os.WriteFile(filepath.Join(root, rel), []byte(data), 0o755)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--upgrade", "--root", root}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, w := range []string{"upgrade: changed: made /var/lib/vmware/routetablectl.sh inert", "upgrade: changed: disabled and masked route-tables.service",
		"took over the old first boot's marker", "anyip's units are not installed", "3 changes; the originals are in /var/lib/anyip/old-appliance."} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"--upgrade", "--root", root}, nil, &out, &errOut); code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "upgrade: nothing to do") || strings.Contains(out.String(), "changed:") {
		t.Errorf("second run:\n%s", out.String())
	}
}

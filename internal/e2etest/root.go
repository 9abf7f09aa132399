package e2etest

import (
	"os"
	"path/filepath"
	"testing"
)

// RootShadow is the /etc/shadow a fresh appliance root starts with: root
// locked, as a Debian image before its first boot.
const RootShadow = "root:*:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n"

// SSHDConfig is the start of Debian's sshd_config: it reads the drop-ins
// first, so the first value there wins.
const SSHDConfig = "Include /etc/ssh/sshd_config.d/*.conf\n\n#PermitRootLogin prohibit-password\nKbdInteractiveAuthentication no\nUsePAM yes\n"

// SeedRoot makes dir the files first boot finds on an appliance and
// edits: /etc/shadow (0640) and sshd's configuration. First boot's --root
// points there in tests, never at this machine's /etc. scripts/seed-root.sh
// is the same for the demo and the benchmarks.
func SeedRoot(t testing.TB, dir string) {
	t.Helper()
	for _, f := range []struct {
		path string
		data string
		mode os.FileMode
	}{
		{"etc/shadow", RootShadow, 0o640},
		{"etc/ssh/sshd_config", SSHDConfig, 0o644},
	} {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
	}
}

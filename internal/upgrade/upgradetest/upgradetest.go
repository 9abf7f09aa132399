// Package upgradetest lays the old appliance's units, scripts and files
// (internal/upgrade/testdata/old-appliance, taken from its repository) into
// a root directory, for the upgrade's tests and the boot test.
package upgradetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
)

// Install copies the old appliance's files under root, scripts executable.
func Install(t testing.TB, root string) {
	t.Helper()
	src := filepath.Join(e2etest.Root(), "internal", "upgrade", "testdata", "old-appliance")
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() == "README.md" {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(root, rel), data, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
}

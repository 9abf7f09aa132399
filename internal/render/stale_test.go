package render

import (
	"os"
	"path/filepath"
	"testing"
)

// A writer killed between creating its temp file and renaming it leaves the
// temp file behind; the next write must not leave it there for ever.
func TestWriteFileSweepsStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "anyip-routes.cfg")
	stale := filepath.Join(dir, ".anyip-routes.cfg.tmp-12345")
	other := filepath.Join(dir, ".other.tmp-1")
	for _, f := range []string{stale, other} {
		if err := os.WriteFile(f, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFile(path, []byte("10.0.0.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file still there (err %v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another file's temp was removed: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("dir holds %d entries, want the file and the unrelated temp", len(ents))
	}
}

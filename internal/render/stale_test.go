package render

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A writer killed between creating its temp file and renaming it leaves the
// temp file behind; the next write must not leave it there for ever. Only
// such files go: an operator's file of a like name stays, and so does the
// temp file of a writer that is alive.
func TestWriteFileSweepsStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "anyip-routes.cfg")
	stale := filepath.Join(dir, ".anyip-routes.cfg.anyip-tmp-12345")
	live := filepath.Join(dir, ".anyip-routes.cfg.anyip-tmp-67890")
	keep := []string{
		filepath.Join(dir, ".anyip-routes.cfg.tmp-backup"), // an operator's
		filepath.Join(dir, ".anyip-routes.cfg.tmp-12345"),
		filepath.Join(dir, ".anyip-routes.cfg.anyip-tmp-backup"),
		filepath.Join(dir, ".anyip-routes.cfg.anyip-tmp-"),
		filepath.Join(dir, ".other.anyip-tmp-1"), // another file's
		live,
	}
	for _, f := range append([]string{stale}, keep...) {
		if err := os.WriteFile(f, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A live writer holds its temp file's lock.
	lf, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	if err := WriteFile(path, []byte("10.0.0.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file still there (err %v)", err)
	}
	for _, f := range keep {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(f), err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1+len(keep) {
		t.Errorf("dir holds %d entries, want the file and the %d kept", len(ents), len(keep))
	}

	// Once its writer is gone, the live one is stale too.
	lf.Close()
	Sweep(path)
	if _, err := os.Stat(live); !os.IsNotExist(err) {
		t.Errorf("temp file of a writer that has gone still there (err %v)", err)
	}
}

// A temp file swept between its creation and its writer's lock is noticed,
// and the write still happens, through a new one.
func TestCreateTempSurvivesASweep(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for range 200 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 3 {
				Sweep(path)
			}
		}()
		if err := WriteFile(path, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		<-done
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("dir holds %d entries after the writes, want 1", len(ents))
	}
}

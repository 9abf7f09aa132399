package watch

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func newWatcher(t *testing.T, path string) *Watcher {
	t.Helper()
	w, err := New(path, Options{Retry: 20 * time.Millisecond, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// expect waits (generously) for a change report.
func expect(t *testing.T, w *Watcher, what string) {
	t.Helper()
	select {
	case <-w.C():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no change reported within 5s", what)
	}
}

// quiet drains pending reports, then checks none comes for a while. (It
// can only miss a spurious report, never invent one.)
func quiet(t *testing.T, w *Watcher, what string) {
	t.Helper()
	select {
	case <-w.C():
		t.Fatalf("%s: change reported", what)
	case <-time.After(150 * time.Millisecond):
	}
}

func drain(w *Watcher) {
	for {
		select {
		case <-w.C():
		case <-time.After(50 * time.Millisecond):
			return
		}
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatchEdits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "anyip-routes.cfg")
	write(t, path, "10.0.0.0/28\n")
	w := newWatcher(t, path)
	if !w.Watching() {
		t.Fatal("not watching an existing directory")
	}
	quiet(t, w, "no edit")

	// In-place append (the writer closes the file).
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("10.0.0.16/28\n")
	f.Close()
	expect(t, w, "append")
	drain(w)

	// Write a temp file and rename it into place (atomic writers, vim).
	tmp := filepath.Join(dir, ".anyip-routes.cfg.tmp")
	write(t, tmp, "10.0.0.32/28\n")
	drain(w) // the temp file itself is not ours: may or may not be quiet
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	expect(t, w, "rename into place")
	drain(w)

	// sed -i: a new inode renamed over the old one.
	if out, err := exec.Command("sed", "-i", "s/32/48/", path).CombinedOutput(); err != nil {
		t.Fatalf("sed -i: %v: %s", err, out)
	}
	expect(t, w, "sed -i")
	drain(w)

	// Mode change.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	expect(t, w, "chmod")
	drain(w)

	// Another file in the directory is none of our business.
	write(t, filepath.Join(dir, "other.cfg"), "x\n")
	os.Remove(filepath.Join(dir, "other.cfg"))
	quiet(t, w, "another file")

	// Delete, then re-create.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	expect(t, w, "delete")
	drain(w)
	write(t, path, "10.0.0.0/28\n")
	expect(t, w, "re-create")
	drain(w)

	// Renamed away.
	if err := os.Rename(path, path+".bak"); err != nil {
		t.Fatal(err)
	}
	expect(t, w, "rename away")
}

func TestWatchMissingDirectory(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "etc", "vmware")
	path := filepath.Join(dir, "anyip-routes.cfg")
	w := newWatcher(t, path)
	if w.Watching() {
		t.Fatal("watching a directory that does not exist")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The directory's arrival is reported: the file may have come too.
	expect(t, w, "directory created")
	if !w.Watching() {
		t.Fatal("not watching after the directory appeared")
	}
	write(t, path, "10.0.0.0/28\n")
	expect(t, w, "file created in the new directory")
	drain(w)

	// The directory goes away and comes back as a new inode.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	expect(t, w, "directory removed")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	drain(w)
	write(t, path, "10.0.0.16/28\n")
	expect(t, w, "file written in the re-created directory")

	// The directory is moved away and another takes its place: the
	// watch must follow the path, not the old inode.
	drain(w)
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	expect(t, w, "directory moved away")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	drain(w)
	write(t, path, "10.0.0.32/28\n")
	expect(t, w, "file written in the replacement directory")
	drain(w)
	write(t, filepath.Join(dir+".old", "anyip-routes.cfg"), "x\n")
	quiet(t, w, "write in the moved-away directory")
}

func TestWatchClose(t *testing.T) {
	w := newWatcher(t, filepath.Join(t.TempDir(), "missing", "f"))
	done := make(chan error, 1)
	go func() { done <- w.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

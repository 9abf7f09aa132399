package render

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A cfg that is a link to the operator's file is written through: the
// target gets the new content with its mode, the link stays a link, and
// the temp file lives (and is gone) in the target's directory.
func TestWriteFileThroughSymlink(t *testing.T) {
	etc, data := t.TempDir(), t.TempDir()
	target := filepath.Join(data, "ranges.cfg")
	if err := os.WriteFile(target, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(target, 0o640)
	for name, dest := range map[string]string{"absolute": target, "relative": filepath.Join("..", filepath.Base(data), "ranges.cfg")} {
		t.Run(name, func(t *testing.T) {
			link := filepath.Join(etc, "anyip-routes.cfg")
			os.Remove(link)
			if err := os.Symlink(dest, link); err != nil {
				t.Fatal(err)
			}
			if err := WriteFile(link, []byte("new "+name+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
				t.Fatalf("the link was replaced: %v, %v", st.Mode(), err)
			}
			assertFile(t, target, "new "+name+"\n", 0o640)
			assertAlone(t, data, "ranges.cfg")
			assertAlone(t, etc)
		})
	}
}

// A chain of links ending in a file not yet made creates that file.
func TestWriteFileThroughDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "anyip-routes.cfg")
	os.Symlink("second", link)
	os.Symlink("real.cfg", filepath.Join(dir, "second"))
	if err := WriteFile(link, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(dir, "real.cfg"), "x\n", 0o644)
	if st, _ := os.Lstat(link); st.Mode()&fs.ModeSymlink == 0 {
		t.Error("the link was replaced")
	}
}

// What is not a regular file is refused with an error naming it; the
// link and what it points to stay as they were.
func TestWriteFileRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	for _, c := range []struct {
		name, dest, want string
	}{
		{"/dev/null", "/dev/null", "character device"},
		{"FIFO", fifo, "FIFO"},
		{"directory", filepath.Join(dir, "sub"), "directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			link := filepath.Join(dir, "anyip-routes.cfg")
			os.Remove(link)
			os.Symlink(c.dest, link)
			before, _ := os.Stat(c.dest)
			err := WriteFile(link, []byte("10.0.0.0/24\n"), 0o644)
			if err == nil {
				t.Fatal("WriteFile replaced it")
			}
			for _, w := range []string{link, c.dest, c.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if st, _ := os.Lstat(link); st == nil || st.Mode()&fs.ModeSymlink == 0 {
				t.Error("the link was replaced")
			}
			if after, _ := os.Stat(c.dest); after == nil || after.Mode() != before.Mode() {
				t.Errorf("%s changed: %v, was %v", c.dest, after, before.Mode())
			}
		})
	}
	// Not a link: the FIFO itself.
	if err := WriteFile(fifo, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("writing over a FIFO: %v", err)
	}
}

// Neither a new file nor a rewritten one is group- or world-writable.
func TestWriteFileNeverGroupOrWorldWritable(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "anyip-routes.cfg")
	if err := WriteFile(p, []byte("a\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	assertFile(t, p, "a\n", 0o644)
	os.Chmod(p, 0o666)
	if err := WriteFile(p, []byte("b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertFile(t, p, "b\n", 0o644)
	os.Chmod(p, 0o660)
	if err := WriteFile(p, []byte("c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertFile(t, p, "c\n", 0o640)
}

// The owner and group of the file replaced are kept.
func TestWriteFileKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "anyip-routes.cfg")
	if err := os.WriteFile(p, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const uid, gid = 4242, 4343
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	sys := st.Sys().(*syscall.Stat_t)
	if sys.Uid != uid || sys.Gid != gid {
		t.Errorf("owner %d:%d, want %d:%d", sys.Uid, sys.Gid, uid, gid)
	}
	assertFile(t, p, "new\n", 0o644)
}

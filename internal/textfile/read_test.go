package textfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const limit = 1 << 10
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"small", []byte("10.0.0.0/24\n")},
		{"exactly the limit", bytes.Repeat([]byte("x"), limit)},
	} {
		got, err := ReadFile(write(c.name, c.data), limit)
		if err != nil || !bytes.Equal(got, c.data) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", c.name, len(got), err, len(c.data))
		}
	}
	link := filepath.Join(dir, "link")
	os.Symlink("small", link)
	if got, err := ReadFile(link, limit); err != nil || string(got) != "10.0.0.0/24\n" {
		t.Errorf("through a symlink: %q, %v", got, err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), limit); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// What is refused is refused before anything is read or allocated, with an
// error that names the path and says why.
func TestReadFileRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo") // no writer: a blocking open would hang
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	os.Symlink("/dev/zero", zero)
	sparse := filepath.Join(dir, "sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	over := filepath.Join(dir, "over")
	os.WriteFile(over, bytes.Repeat([]byte("x"), 1<<10+1), 0o644)

	for _, c := range []struct {
		path string
		kind error
		want string
	}{
		{fifo, ErrNotRegular, "is a FIFO, not a regular file"},
		{zero, ErrNotRegular, "is a character device, not a regular file"},
		{dir, ErrNotRegular, "is a directory"},
		{sparse, ErrTooLarge, "is 8192 MiB, more than the 1 KiB limit"},
		{over, ErrTooLarge, "is 1025 bytes, more than the 1 KiB limit"},
	} {
		data, err := ReadFile(c.path, 1<<10)
		if !errors.Is(err, c.kind) || data != nil {
			t.Errorf("%s: %d bytes, %v; want %v", c.path, len(data), err, c.kind)
			continue
		}
		if !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want it to name the path and say %q", c.path, err, c.want)
		}
	}
}

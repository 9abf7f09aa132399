package render

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func TestWriteFileModes(t *testing.T) {
	for _, mode := range []fs.FileMode{0o600, 0o640, 0o644} {
		dir := t.TempDir()
		p := filepath.Join(dir, "anyip-routes.cfg")
		if err := WriteFile(p, []byte("10.0.0.0/24\n"), mode); err != nil {
			t.Fatal(err)
		}
		assertFile(t, p, "10.0.0.0/24\n", mode)
		assertAlone(t, dir)
	}

	// An existing file keeps its mode, whatever the caller asks for.
	dir := t.TempDir()
	p := filepath.Join(dir, "anyip-routes.cfg")
	if err := os.WriteFile(p, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertFile(t, p, "new\n", 0o640)
	assertAlone(t, dir)
}

func TestWriteFileEmpty(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "empty")
	if err := WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	assertFile(t, p, "", 0o644)
}

func TestWriteFileErrors(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "missing", "f"), []byte("x"), 0o644); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	assertAlone(t, dir, "")
}

// A reader polling while the file is rewritten sees the whole old content
// or the whole new content, never a mix or a truncated file.
func TestWriteFileAtomicForReaders(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "anyip-routes.cfg")
	a := bytes.Repeat([]byte("10.0.0.0/24\n"), 20000)
	b := bytes.Repeat([]byte("2001:db8:ffff::/64\n"), 15000)
	if err := WriteFile(p, a, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}) // closed by the writer when it is through
	quit := make(chan struct{}) // closed by the reader to stop the writer early
	var wg sync.WaitGroup
	var writeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := range 300 {
			select {
			case <-quit:
				return
			default:
			}
			data := a
			if i%2 == 0 {
				data = b
			}
			if err := WriteFile(p, data, 0o644); err != nil {
				writeErr = err
				return
			}
		}
	}()
	reads, sawA, sawB := 0, false, false
	var readErr string
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true // one last read below
		default:
		}
		got, err := os.ReadFile(p)
		reads++
		switch {
		case err != nil:
			readErr = err.Error()
		case bytes.Equal(got, a):
			sawA = true
		case bytes.Equal(got, b):
			sawB = true
		default:
			readErr = fmt.Sprintf("%d bytes that are neither the old nor the new content", len(got))
		}
		if readErr != "" {
			break
		}
	}
	close(quit)
	wg.Wait()
	if readErr != "" {
		t.Fatalf("read %d: %s", reads, readErr)
	}
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	if !sawA && !sawB {
		t.Fatal("no complete read")
	}
	t.Logf("%d reads", reads)
	assertFile(t, p, string(a), 0o644) // 300 writes: the last one (i=299) wrote a
	assertAlone(t, dir)
}

func assertFile(t *testing.T, p, content string, mode fs.FileMode) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != mode || !st.Mode().IsRegular() {
		t.Errorf("%s: mode %v, want %v", p, st.Mode(), mode)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != content {
		t.Errorf("%s: content %q, want %q", p, got, content)
	}
}

// assertAlone fails when dir holds anything but the named files (by
// default the one file of the test): no temp files left behind.
func assertAlone(t *testing.T, dir string, names ...string) {
	t.Helper()
	if names == nil {
		names = []string{"anyip-routes.cfg"}
	}
	if len(names) == 1 && names[0] == "" {
		names = nil
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) && !(len(got) == 0 && len(names) == 0) {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

// Package upgradetest lays the old appliance's units, scripts and files
// (internal/upgrade/testdata/old-appliance, taken from its repository) into
// a root directory, for the upgrade's tests and the boot test, and anyip's
// units beside them as `make install` puts them.
package upgradetest

import (
	"crypto/sha256"
	"fmt"
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
		return write(root, rel, data, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// InstallAnyip puts anyip's units where `make install` does
// (lib/systemd/system, ExecStart= in /usr/sbin), and a stand-in for each
// program they run: what the upgrade needs to find anyip installed.
func InstallAnyip(t testing.TB, root string) {
	t.Helper()
	units, err := filepath.Glob(filepath.Join(e2etest.Root(), "systemd", "*.service"))
	if err != nil || len(units) == 0 {
		t.Fatalf("no units in systemd/: %v", err)
	}
	for _, u := range units {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		unit := strings.ReplaceAll(string(data), "@SBINDIR@", "/usr/sbin")
		if err := write(root, filepath.Join("lib/systemd/system", filepath.Base(u)), []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, cmd := range []string{"anyip-firstboot", "anyip-routes"} {
		if err := write(root, filepath.Join("usr/sbin", cmd), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// Tree lists everything under root, one line each: the path, its type,
// mode and modification time, and a symlink's target or a file's
// checksum. Two equal listings mean nothing under root was written (even
// with the same bytes), moved, removed or re-linked.
func Tree(t testing.TB, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d", rel, st.Mode(), st.ModTime().UnixNano())
		switch {
		case st.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " -> %s", target)
		case st.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", sha256.Sum256(data))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func write(root, rel string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, rel), data, mode)
}

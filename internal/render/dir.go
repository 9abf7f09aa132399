package render

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/anyip/anyip/internal/textfile"
)

// maxOwnFile bounds what is read of a file of ours before it is rewritten.
const maxOwnFile = 1 << 20

// Owned is a set of files in one directory that we own by name: every file
// whose name starts with Prefix and ends with Suffix is ours to write and to
// remove; no other file of the directory is ever touched.
type Owned struct {
	Dir, Prefix, Suffix string
}

func (o Owned) ours(name string) bool {
	return strings.HasPrefix(name, o.Prefix) && strings.HasSuffix(name, o.Suffix) && !strings.HasPrefix(name, ".")
}

// Sync makes our files of the directory exactly want (name → contents):
// each written atomically when it differs, each of ours not in want
// removed. It reports what it wrote and removed, sorted. A name in want
// that is not ours is an error, and nothing is changed then.
func (o Owned) Sync(want map[string][]byte, mode fs.FileMode) (written, removed []string, err error) {
	for name := range want {
		if !o.ours(name) || filepath.Base(name) != name {
			return nil, nil, fmt.Errorf("%s: %q is not a name of ours (%s*%s)", o.Dir, name, o.Prefix, o.Suffix)
		}
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, nil, err
	}
	for _, name := range sortedKeys(want) {
		p := filepath.Join(o.Dir, name)
		// Bounded like every read; a file of ours grown past the bound is
		// simply rewritten.
		cur, err := textfile.ReadFile(p, maxOwnFile)
		if err == nil && bytes.Equal(cur, want[name]) {
			continue
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, textfile.ErrTooLarge) {
			return written, removed, err
		}
		if err := WriteFile(p, want[name], mode); err != nil {
			return written, removed, fmt.Errorf("write %s: %w", p, err)
		}
		written = append(written, name)
	}
	entries, err := os.ReadDir(o.Dir)
	if err != nil {
		return written, removed, err
	}
	for _, e := range entries {
		if _, keep := want[e.Name()]; keep || !o.ours(e.Name()) || e.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(o.Dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return written, removed, err
		}
		removed = append(removed, e.Name())
	}
	if len(removed) > 0 {
		if err := syncDir(o.Dir); err != nil {
			return written, removed, err
		}
	}
	return written, removed, nil
}

func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

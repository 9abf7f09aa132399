package upgrade

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	sdunit "github.com/coreos/go-systemd/v22/unit"
)

// ourUnitDirs are where `make install` (UNITDIR, /lib/systemd/system by
// default) and a package put anyip's units, relative to the root. Not
// etc/systemd/system: the old anyip-routes.service there is not ours.
var ourUnitDirs = []string{"lib/systemd/system", "usr/lib/systemd/system"}

// NotInstalledError says that anyip is not installed under Root, so the
// upgrade changed nothing.
type NotInstalledError struct {
	Root string
	// Missing names each missing file under Root: a unit where `make
	// install` puts it, or the program a unit's ExecStart= runs.
	Missing []string
}

func (e *NotInstalledError) Error() string {
	how := "make install DESTDIR=" + e.Root
	if e.Root == "/" {
		how = "make install"
	}
	return fmt.Sprintf("anyip is not installed under %s: missing %s; install anyip there first (%s, or anyip's package), then run --upgrade again: "+
		"taking the old appliance's units away without anyip's would leave it with no network configurator; %s",
		e.Root, strings.Join(e.Missing, ", "), how, ErrUntouched)
}

// Is makes a NotInstalledError an ErrUntouched.
func (e *NotInstalledError) Is(target error) bool { return target == ErrUntouched }

// CheckInstalled returns a *NotInstalledError unless each of anyip's units
// is installed under root, with the program its ExecStart= runs.
func CheckInstalled(root string) error {
	_, err := installedUnits(root)
	return err
}

// installedUnits finds each of OurUnits under root, relative to it, and
// checks that the programs they start are there.
func installedUnits(root string) (map[string]string, error) {
	units := map[string]string{}
	var missing []string
	for _, name := range OurUnits {
		rel := ""
		for _, dir := range ourUnitDirs {
			if st, err := os.Stat(filepath.Join(root, dir, name)); err == nil && st.Mode().IsRegular() {
				rel = path.Join(dir, name)
				break
			}
		}
		if rel == "" {
			// Where `make install` puts it; a package's usr/lib counts too.
			missing = append(missing, filepath.Join(root, ourUnitDirs[0], name))
			continue
		}
		units[name] = rel
		progs, err := execStart(filepath.Join(root, rel))
		if err != nil {
			return nil, err
		}
		for _, p := range progs {
			st, err := os.Stat(filepath.Join(root, p))
			switch {
			case errors.Is(err, fs.ErrNotExist):
				missing = append(missing, fmt.Sprintf("%s (%s's ExecStart=)", filepath.Join(root, p), name))
			case err != nil:
				return nil, err
			case !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0:
				missing = append(missing, fmt.Sprintf("%s (%s's ExecStart=, not an executable file)", filepath.Join(root, p), name))
			}
		}
	}
	if len(missing) > 0 {
		return nil, &NotInstalledError{Root: root, Missing: missing}
	}
	return units, nil
}

// execStart lists the absolute programs a unit's ExecStart= lines run,
// without systemd's prefixes (-, @, :, +, !).
func execStart(unitPath string) ([]string, error) {
	opts, err := unitOptions(unitPath)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range opts {
		if o.Section != "Service" || o.Name != "ExecStart" {
			continue
		}
		if f := strings.Fields(o.Value); len(f) > 0 {
			if p := strings.TrimLeft(f[0], "-@:+!"); strings.HasPrefix(p, "/") {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// enabled reports whether the unit at rel (under root) is linked from
// every target its [Install] section names, to itself: a link to another
// file of the same name (the old anyip-routes.service) does not count.
func enabled(root, name, rel string) (bool, error) {
	opts, err := unitOptions(filepath.Join(root, rel))
	if err != nil {
		return false, err
	}
	for _, o := range opts {
		suffix := map[string]string{"WantedBy": ".wants", "RequiredBy": ".requires"}[o.Name]
		if o.Section != "Install" || suffix == "" {
			continue
		}
		for _, target := range strings.Fields(o.Value) {
			link, err := os.Readlink(filepath.Join(root, unitDir, target+suffix, name))
			if err != nil {
				return false, nil
			}
			if !path.IsAbs(link) {
				link = path.Join("/"+unitDir, target+suffix, link)
			}
			ours := false
			for _, dir := range ourUnitDirs {
				ours = ours || path.Clean(link) == "/"+path.Join(dir, name)
			}
			if !ours {
				return false, nil
			}
		}
	}
	return true, nil
}

func unitOptions(unitPath string) ([]*sdunit.UnitOption, error) {
	data, err := read(unitPath)
	if err != nil {
		return nil, err
	}
	opts, err := sdunit.DeserializeOptions(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", unitPath, err)
	}
	return opts, nil
}

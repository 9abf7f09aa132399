// Package upgrade takes an appliance built from the old shell scripts
// (haproxytech/vmware-haproxy) over in place, for anyip-firstboot
// --upgrade: its units are disabled and masked (the old
// anyip-routes.service in /etc/systemd/system shadows ours in /lib), its
// scripts made inert, its configuration files and first-boot marker moved
// into a backup directory of ours, cloud-init turned off (it would apply
// the old network metadata), and its policy rules removed once ours are in
// place. Every step is idempotent and says what it did; nothing is
// deleted that the backup directory does not keep (README, "Upgrading an
// old appliance", has the rollback).
package upgrade

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/render"
	"github.com/anyip/anyip/internal/textfile"
)

// The old appliance's pieces, relative to the root.
var (
	// OldUnits are masked; the old anyip-routes.service is only moved
	// aside, since ours has its name.
	OldUnits = []string{"route-tables.service", "net-postconfig.service", "ovf-to-cloud-init.service"}
	// OldRoutesUnit is the old anyip-routes.service, which shadows ours.
	OldRoutesUnit = "anyip-routes.service"
	// OldScripts are replaced by a stub that does nothing, so that a unit
	// still running stops without its "down" removing routes.
	OldScripts = []string{
		"var/lib/vmware/anyiproutectl.sh", "var/lib/vmware/routetablectl.sh",
		"var/lib/vmware/net-postconfig.sh", "var/lib/vmware/ovf-to-cloud-init.sh",
	}
	// OldConfig is what first boot now writes from the wizard: the NICs'
	// tables and gateways, and the additional workload networks.
	OldConfig = []string{"etc/vmware/route-tables.cfg", "etc/vmware/workload-networks.cfg"}
)

const (
	unitDir = "etc/systemd/system"
	// OldMarker is the old first boot's "done" file.
	OldMarker = "var/lib/vmware/.ovf_to_cloud_init.done"
	// BackupDir keeps everything the upgrade moved, under its own path.
	BackupDir = "var/lib/anyip/old-appliance"
	// RecordFile says what the upgrade found; first boot reads it.
	RecordFile   = "var/lib/anyip/old-appliance.yaml"
	rtTables     = "etc/iproute2/rt_tables"
	cloudInitOff = "etc/cloud/cloud-init.disabled"
	// DataplaneDropIn has the old dataplaneapi.service read the
	// configuration first boot writes.
	DataplaneDropIn = "etc/systemd/system/dataplaneapi.service.d/10-anyip.conf"
)

// OurUnits are enabled by the upgrade.
var OurUnits = []string{"anyip-network.service", "anyip-firstboot.service", "anyip-routes.service"}

// installed reports whether anyip's units are installed under root.
func installed(root string) bool {
	for _, dir := range []string{"lib/systemd/system", "usr/lib/systemd/system"} {
		if _, err := os.Stat(filepath.Join(root, dir, OurUnits[1])); err == nil {
			return true
		}
	}
	return false
}

// wanted lists the links of multi-user.target.wants, to tell whether
// enable changed anything.
func wanted(root string) string {
	es, _ := os.ReadDir(filepath.Join(root, unitDir, "multi-user.target.wants"))
	var b strings.Builder
	for _, e := range es {
		t, _ := os.Readlink(filepath.Join(root, unitDir, "multi-user.target.wants", e.Name()))
		b.WriteString(e.Name() + ">" + t + "\n")
	}
	return b.String()
}

// Stub is what an old script becomes.
const Stub = "#!/bin/sh\n# Retired by anyip-firstboot --upgrade; the original is in /" + BackupDir + ".\n" +
	"echo \"$0: retired by anyip-firstboot --upgrade; anyip's units do this now\" >&2\nexit 0\n"

// Record is what the upgrade leaves for first boot and the operator.
type Record struct {
	UpgradedAt time.Time `yaml:"upgraded_at"`
	// OldFirstBoot says the old first boot had run: the ranges file's
	// lines then hold the wizard's ranges as it wrote them, and a wizard
	// range missing from the file was deleted by hand.
	OldFirstBoot bool     `yaml:"old_first_boot"`
	Moved        []string `yaml:"moved,omitempty"`
}

// Options say where and how.
type Options struct {
	Root string // "/" on the appliance
	// Systemctl runs systemctl (with --root= when Root is not "/").
	Systemctl func(args ...string) error
	// Rules removes the old appliance's policy rules once ours are in
	// place, on the running system only; nil skips it.
	Rules func() (removed, left int, err error)
}

// Step is one thing the upgrade did, or found done.
type Step struct {
	What    string `json:"what"`
	Changed bool   `json:"changed"`
}

// Run upgrades the appliance under o.Root.
func Run(o Options) ([]Step, error) {
	var steps []Step
	say := func(changed bool, format string, a ...any) {
		steps = append(steps, Step{What: fmt.Sprintf(format, a...), Changed: changed})
	}
	root := func(p string) string { return filepath.Join(o.Root, p) }
	rec := Record{UpgradedAt: time.Now().UTC().Truncate(time.Second)}
	if old, err := loadRecord(root(RecordFile)); err == nil && old != nil {
		rec = *old // a second run keeps what the first found
	}

	// 1. Scripts first: a unit stopped from here on runs the stub.
	for _, s := range OldScripts {
		cur, err := read(root(s))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return steps, err
		case bytes.Equal(cur, []byte(Stub)):
			say(false, "/%s is inert already", s)
			continue
		}
		if err := backup(o.Root, s); err != nil {
			return steps, err
		}
		if err := render.WriteFile(root(s), []byte(Stub), 0o755); err != nil {
			return steps, err
		}
		rec.Moved = appendNew(rec.Moved, s)
		say(true, "made /%s inert (the original is in /%s)", s, BackupDir)
	}

	// 2. Units.
	oldRoutes := filepath.Join(unitDir, OldRoutesUnit)
	if _, err := os.Stat(root(oldRoutes)); err == nil {
		if err := o.Systemctl("disable", OldRoutesUnit); err != nil {
			return steps, err
		}
		if err := backup(o.Root, oldRoutes); err != nil {
			return steps, err
		}
		if err := os.Remove(root(oldRoutes)); err != nil {
			return steps, err
		}
		rec.Moved = appendNew(rec.Moved, oldRoutes)
		say(true, "disabled the old /%s, which hid anyip's (moved to /%s)", oldRoutes, BackupDir)
	}
	for _, u := range OldUnits {
		path := filepath.Join(unitDir, u)
		if target, err := os.Readlink(root(path)); err == nil && target == "/dev/null" {
			say(false, "%s is masked already", u)
			continue
		}
		st, err := os.Lstat(root(path))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return steps, err
		}
		if err := o.Systemctl("disable", u); err != nil {
			return steps, err
		}
		if st.Mode().IsRegular() {
			if err := backup(o.Root, path); err != nil {
				return steps, err
			}
			if err := os.Remove(root(path)); err != nil {
				return steps, err
			}
			rec.Moved = appendNew(rec.Moved, path)
		}
		if err := o.Systemctl("mask", u); err != nil {
			return steps, err
		}
		say(true, "disabled and masked %s", u)
	}
	if installed(o.Root) {
		before := wanted(o.Root)
		if err := o.Systemctl(append([]string{"enable"}, OurUnits...)...); err != nil {
			return steps, err
		}
		say(wanted(o.Root) != before, "enabled %s", strings.Join(OurUnits, ", "))
	} else {
		say(false, "anyip's units are not installed under %s: run make install, then enable them", o.Root)
	}
	if data, err := read(root(filepath.Join(unitDir, "dataplaneapi.service"))); err == nil {
		changed, err := dataplaneDropIn(o.Root, data)
		if err != nil {
			return steps, err
		}
		say(changed, "dataplaneapi.service reads /etc/haproxy/dataplaneapi.yaml (/%s)", DataplaneDropIn)
	}
	if _, err := os.Stat(root("etc/cloud")); err == nil {
		if _, err := os.Stat(root(cloudInitOff)); err == nil {
			say(false, "cloud-init is off already")
		} else {
			if err := render.WriteFile(root(cloudInitOff), []byte("# anyip-firstboot --upgrade: first boot configures the appliance, not cloud-init.\n"), 0o644); err != nil {
				return steps, err
			}
			say(true, "turned cloud-init off (/%s): it would apply the old network metadata", cloudInitOff)
		}
	}

	// 3. Configuration: first boot writes it from the wizard now. The
	// ranges file stays: first boot migrates it in place.
	for _, c := range OldConfig {
		if _, err := os.Stat(root(c)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		lines, _ := read(root(c))
		if err := backup(o.Root, c); err != nil {
			return steps, err
		}
		if err := os.Remove(root(c)); err != nil {
			return steps, err
		}
		rec.Moved = appendNew(rec.Moved, c)
		say(true, "moved /%s to /%s (%s of settings; first boot takes them from the vApp properties)", c, BackupDir, cli.Plural(settings(lines), "line"))
	}
	if _, err := os.Stat(root(OldMarker)); err == nil {
		rec.OldFirstBoot = true
		if err := backup(o.Root, OldMarker); err != nil {
			return steps, err
		}
		if err := os.Remove(root(OldMarker)); err != nil {
			return steps, err
		}
		rec.Moved = appendNew(rec.Moved, OldMarker)
		say(true, "took over the old first boot's marker: the wizard's ranges in the ranges file are the operator's from now on")
	}
	if changed, err := dropOldTables(root(rtTables)); err != nil {
		return steps, err
	} else if changed {
		say(true, "removed the rtctl_* table names from /%s (anyip's are in rt_tables.d/anyip.conf)", rtTables)
	}

	// 4. On the running system: the manager reads the units again, the old
	// ones stop (their scripts are stubs: nothing is taken down), and
	// anyip's run: anyip-routes adopts the old VIP routes in place.
	if o.Root == "/" {
		for _, args := range [][]string{
			{"daemon-reload"},
			append([]string{"stop"}, OldUnits...),
			{"restart", "anyip-network.service", "anyip-firstboot.service", "anyip-routes.service"},
		} {
			err := o.Systemctl(args...)
			if err != nil && args[0] == "restart" {
				// A unit restarted right after a stop can meet its old
				// cgroup still going away; the restart is safe to repeat.
				time.Sleep(time.Second)
				err = o.Systemctl(args...)
			}
			if err != nil {
				return steps, err
			}
		}
		say(true, "stopped the old units and restarted anyip's: the old VIP routes were adopted in place")
	}

	// 5. The old rules, on a running system, once ours are there.
	if o.Rules != nil {
		removed, left, err := o.Rules()
		switch {
		case err != nil:
			return steps, err
		case removed > 0:
			say(true, "removed %d policy rules of the old appliance; anyip's rules send the replies", removed)
		}
		if left > 0 {
			say(false, "kept %d policy rules of the old appliance: anyip's are not in place yet; run again after first boot (a reboot drops them too)", left)
		}
	}

	data, err := yaml.Marshal(&rec)
	if err != nil {
		return steps, err
	}
	if err := os.MkdirAll(filepath.Dir(root(RecordFile)), 0o755); err != nil {
		return steps, err
	}
	if cur, _ := read(root(RecordFile)); !bytes.Equal(cur, data) {
		if err := render.WriteFile(root(RecordFile), data, 0o644); err != nil {
			return steps, err
		}
	}
	return steps, nil
}

// maxFile bounds every file the upgrade reads: units, scripts, tables.
const maxFile = 1 << 20

func read(path string) ([]byte, error) { return textfile.ReadFile(path, maxFile) }

// LoadRecord returns the upgrade's record under root, or nil.
func LoadRecord(root string) (*Record, error) { return loadRecord(filepath.Join(root, RecordFile)) }

func loadRecord(path string) (*Record, error) {
	data, err := read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := yaml.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// backup copies root/rel to the backup directory, once: a second run
// never overwrites the original with a stub.
func backup(root, rel string) error {
	dst := filepath.Join(root, BackupDir, rel)
	if _, err := os.Lstat(dst); err == nil {
		return nil
	}
	src := filepath.Join(root, rel)
	st, err := os.Lstat(src)
	if err != nil {
		return err
	}
	data, err := read(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	return render.WriteFile(dst, data, st.Mode().Perm())
}

func appendNew(list []string, s string) []string {
	for _, l := range list {
		if l == s {
			return list
		}
	}
	return append(list, s)
}

// settings counts the lines that are neither blank nor comments.
func settings(data []byte) int {
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n
}

// dropOldTables removes the rtctl_ names routetablectl.sh added to
// rt_tables: the same numbers are anyip_workload and anyip_frontend now.
func dropOldTables(path string) (bool, error) {
	data, err := read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var out bytes.Buffer
	changed := false
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		f := bytes.Fields(l)
		if len(f) >= 2 && f[0][0] != '#' && bytes.HasPrefix(f[1], []byte("rtctl_")) {
			changed = true
			continue
		}
		out.Write(l)
	}
	if !changed {
		return false, nil
	}
	return true, render.WriteFile(path, out.Bytes(), 0o644)
}

// dataplaneDropIn points the old dataplaneapi.service, which passes every
// setting as a flag from /etc/haproxy/dataplaneapi.cfg, at the
// configuration file first boot writes.
func dataplaneDropIn(root string, unit []byte) (bool, error) {
	bin := "/usr/local/bin/dataplaneapi"
	for _, l := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "ExecStart="); ok && v != "" {
			bin = strings.Fields(v)[0]
		}
	}
	want := []byte("# anyip-firstboot --upgrade: the Data Plane API reads the configuration first boot writes\n" +
		"# (port, userlist file) from the vApp properties.\n[Service]\nExecStart=\nExecStart=" + bin + " -f /etc/haproxy/dataplaneapi.yaml\n")
	path := filepath.Join(root, DataplaneDropIn)
	if cur, err := read(path); err == nil && bytes.Equal(cur, want) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	return true, render.WriteFile(path, want, 0o644)
}

// Systemctl returns a runner of systemctl for root: --root= for an image,
// the running manager for "/", then daemon-reload.
func Systemctl(root string) func(args ...string) error {
	return func(args ...string) error {
		if root != "/" {
			args = append([]string{"--root=" + root}, args...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("systemctl %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
}

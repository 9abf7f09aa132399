// Package upgrade takes an appliance built from the old shell scripts
// (haproxytech/vmware-haproxy) over in place, for anyip-firstboot
// --upgrade: its units are disabled and masked (the old
// anyip-routes.service in /etc/systemd/system shadows ours in /lib), its
// scripts made inert, its configuration files and first-boot marker moved
// into a backup directory of ours, cloud-init turned off (it would apply
// the old network metadata), and its policy rules removed once ours are in
// place. Nothing is done until anyip's own units are installed. Every step
// is idempotent and says what it did, or in a dry run what it would do;
// nothing is deleted that the backup directory does not keep (README,
// "Upgrading an old appliance", has the rollback).
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

	sdunit "github.com/coreos/go-systemd/v22/unit"
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
	// DryRun says what the upgrade would do and changes nothing: no file
	// written, moved or removed, no unit stopped, disabled or enabled, no
	// rule removed.
	DryRun bool
	// Systemctl runs systemctl (with --root= when Root is not "/"). A dry
	// run never calls it.
	Systemctl func(args ...string) error
	// Rules removes the old appliance's policy rules once ours are in
	// place, on the running system only (with remove false it only counts
	// them); nil skips it.
	Rules func(remove bool) (removed, left int, err error)
}

// Step is one thing the upgrade did, or found done; in a dry run, what it
// would do.
type Step struct {
	What    string `json:"what"`
	Changed bool   `json:"changed"`
}

// upgrade is one run: its steps so far and the record it keeps.
type upgrade struct {
	o     Options
	steps []Step
	rec   Record
}

func (u *upgrade) path(rel string) string { return filepath.Join(u.o.Root, rel) }

// same is a step found done already, in either mode.
func (u *upgrade) same(format string, a ...any) {
	u.steps = append(u.steps, Step{What: fmt.Sprintf(format, a...)})
}

// change is a step that changes the system: do runs it and did says it;
// a dry run says would instead and runs nothing. act names the step in
// an error.
func (u *upgrade) change(act, did, would string, do func() error) error {
	if u.o.DryRun {
		u.steps = append(u.steps, Step{What: would, Changed: true})
		return nil
	}
	if err := do(); err != nil {
		return fmt.Errorf("%s: %w", act, err)
	}
	u.steps = append(u.steps, Step{What: did, Changed: true})
	return nil
}

// moveAside keeps rel in the backup directory and removes it.
func (u *upgrade) moveAside(rel string) error {
	if err := backup(u.o.Root, rel); err != nil {
		return err
	}
	if err := os.Remove(u.path(rel)); err != nil {
		return err
	}
	u.rec.Moved = appendNew(u.rec.Moved, rel)
	return nil
}

// ErrUntouched marks an error Run met before it changed anything; its
// text ends the message.
var ErrUntouched = errors.New("nothing was changed")

// Run upgrades the appliance under o.Root, or with o.DryRun says how it
// would. anyip must be installed there first (a *NotInstalledError, and
// nothing is changed): without its units, taking the old appliance's away
// would leave no network configurator.
func Run(o Options) ([]Step, error) {
	units, err := installedUnits(o.Root)
	if err != nil {
		if !errors.Is(err, ErrUntouched) {
			err = fmt.Errorf("read anyip's units: %w; %w", err, ErrUntouched)
		}
		return nil, err
	}
	u := &upgrade{o: o, rec: Record{UpgradedAt: time.Now().UTC().Truncate(time.Second)}}
	old, err := loadRecord(u.path(RecordFile))
	if errors.Is(err, errBadRecord) {
		return nil, fmt.Errorf("%w: it is the upgrade's own record; move it aside, then run --upgrade again (it is written anew from what /%s keeps); %w", err, BackupDir, ErrUntouched)
	}
	if err != nil {
		return nil, fmt.Errorf("read the upgrade's record: %w; %w", err, ErrUntouched)
	}
	if old != nil {
		u.rec = *old // a second run keeps what the first found
	}
	if _, err := os.Lstat(u.path(filepath.Join(BackupDir, OldMarker))); err == nil {
		u.rec.OldFirstBoot = true // a record moved aside loses nothing
	}
	for _, step := range []func() error{u.scripts, u.oldUnits, func() error { return u.ourUnits(units) }, u.dataplane, u.cloudInit, u.config, u.live, u.rules, u.record} {
		if err := step(); err != nil {
			return u.steps, err
		}
	}
	return u.steps, nil
}

// scripts come first: a unit stopped from here on runs the stub.
func (u *upgrade) scripts() error {
	for _, s := range OldScripts {
		cur, err := read(u.path(s))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return err
		case bytes.Equal(cur, []byte(Stub)):
			u.same("/%s is inert already", s)
			continue
		}
		err = u.change("make /"+s+" inert",
			fmt.Sprintf("made /%s inert (the original is in /%s)", s, BackupDir),
			fmt.Sprintf("would make /%s inert (keeping the original in /%s)", s, BackupDir),
			func() error {
				if err := backup(u.o.Root, s); err != nil {
					return err
				}
				if err := render.WriteFile(u.path(s), []byte(Stub), 0o755); err != nil {
					return err
				}
				u.rec.Moved = appendNew(u.rec.Moved, s)
				return nil
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// oldUnits disables the old appliance's units: its anyip-routes.service
// is moved aside (it hides ours), the others masked.
func (u *upgrade) oldUnits() error {
	oldRoutes := filepath.Join(unitDir, OldRoutesUnit)
	if _, err := os.Stat(u.path(oldRoutes)); err == nil {
		err := u.change("disable the old /"+oldRoutes,
			fmt.Sprintf("disabled the old /%s, which hid anyip's (moved to /%s)", oldRoutes, BackupDir),
			fmt.Sprintf("would disable the old /%s, which hides anyip's, and move it to /%s", oldRoutes, BackupDir),
			func() error {
				if err := u.o.Systemctl("disable", OldRoutesUnit); err != nil {
					return err
				}
				return u.moveAside(oldRoutes)
			})
		if err != nil {
			return err
		}
	}
	for _, name := range OldUnits {
		path := filepath.Join(unitDir, name)
		if target, err := os.Readlink(u.path(path)); err == nil && target == "/dev/null" {
			u.same("%s is masked already", name)
			continue
		}
		st, err := os.Lstat(u.path(path))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		err = u.change("disable and mask "+name, "disabled and masked "+name, "would disable and mask "+name, func() error {
			if err := u.o.Systemctl("disable", name); err != nil {
				return err
			}
			if st.Mode().IsRegular() {
				if err := u.moveAside(path); err != nil {
					return err
				}
			}
			return u.o.Systemctl("mask", name)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ourUnits enables anyip's units unless each is linked from its targets
// already.
func (u *upgrade) ourUnits(units map[string]string) error {
	var off []string
	for _, name := range OurUnits {
		on, err := enabled(u.o.Root, name, units[name])
		if err != nil {
			return err
		}
		if !on {
			off = append(off, name)
		}
	}
	if len(off) == 0 {
		u.same("%s are enabled already", strings.Join(OurUnits, ", "))
		return nil
	}
	return u.change("enable "+strings.Join(off, ", "), "enabled "+strings.Join(off, ", "), "would enable "+strings.Join(off, ", "), func() error {
		return u.o.Systemctl(append([]string{"enable"}, OurUnits...)...)
	})
}

// dataplane points the old dataplaneapi.service, which passes every
// setting as a flag from /etc/haproxy/dataplaneapi.cfg, at the
// configuration file first boot writes.
func (u *upgrade) dataplane() error {
	data, err := read(u.path(filepath.Join(unitDir, "dataplaneapi.service")))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	want, err := dataplaneDropIn(data)
	if err != nil {
		return fmt.Errorf("/%s: %w", filepath.Join(unitDir, "dataplaneapi.service"), err)
	}
	path := u.path(DataplaneDropIn)
	if cur, err := read(path); err == nil && bytes.Equal(cur, want) {
		u.same("dataplaneapi.service reads /etc/haproxy/dataplaneapi.yaml already (/%s)", DataplaneDropIn)
		return nil
	}
	return u.change("write /"+DataplaneDropIn,
		fmt.Sprintf("dataplaneapi.service reads /etc/haproxy/dataplaneapi.yaml (/%s)", DataplaneDropIn),
		fmt.Sprintf("would have dataplaneapi.service read /etc/haproxy/dataplaneapi.yaml (/%s)", DataplaneDropIn),
		func() error {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			return render.WriteFile(path, want, 0o644)
		})
}

// cloudInit turns cloud-init off: it would apply the old network metadata.
func (u *upgrade) cloudInit() error {
	if _, err := os.Stat(u.path("etc/cloud")); err != nil {
		return nil
	}
	if _, err := os.Stat(u.path(cloudInitOff)); err == nil {
		u.same("cloud-init is off already")
		return nil
	}
	return u.change("turn cloud-init off (/"+cloudInitOff+")",
		fmt.Sprintf("turned cloud-init off (/%s): left on, it would apply the old network metadata", cloudInitOff),
		fmt.Sprintf("would turn cloud-init off (/%s): left on, it would apply the old network metadata", cloudInitOff),
		func() error {
			return render.WriteFile(u.path(cloudInitOff), []byte("# anyip-firstboot --upgrade: first boot configures the appliance, not cloud-init.\n"), 0o644)
		})
}

// config moves the old configuration aside: first boot writes it from
// the wizard now. The ranges file stays: first boot migrates it in place.
func (u *upgrade) config() error {
	for _, c := range OldConfig {
		if _, err := os.Stat(u.path(c)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		lines, _ := read(u.path(c))
		n := cli.Plural(settings(lines), "line")
		err := u.change("move /"+c+" to /"+BackupDir,
			fmt.Sprintf("moved /%s to /%s (%s of settings; first boot takes them from the vApp properties)", c, BackupDir, n),
			fmt.Sprintf("would move /%s to /%s (%s of settings; first boot takes them from the vApp properties)", c, BackupDir, n),
			func() error { return u.moveAside(c) })
		if err != nil {
			return err
		}
	}
	if _, err := os.Stat(u.path(OldMarker)); err == nil {
		err := u.change("take over the old first boot's marker /"+OldMarker,
			"took over the old first boot's marker: the wizard's ranges in the ranges file are the operator's from now on",
			fmt.Sprintf("would take over the old first boot's marker (moved to /%s): the wizard's ranges in the ranges file are the operator's from then on", BackupDir),
			func() error {
				u.rec.OldFirstBoot = true
				return u.moveAside(OldMarker)
			})
		if err != nil {
			return err
		}
	}
	data, err := read(u.path(rtTables))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if out, changed := withoutOldTables(data); changed {
		return u.change("remove the rtctl_* table names from /"+rtTables,
			fmt.Sprintf("removed the rtctl_* table names from /%s (anyip's are in rt_tables.d/anyip.conf)", rtTables),
			fmt.Sprintf("would remove the rtctl_* table names from /%s (anyip's are in rt_tables.d/anyip.conf)", rtTables),
			func() error { return render.WriteFile(u.path(rtTables), out, 0o644) })
	}
	return nil
}

// live is on the running system only: the manager reads the units again,
// the old ones stop (their scripts are stubs: nothing is taken down), and
// anyip's run: anyip-routes adopts the old VIP routes in place.
func (u *upgrade) live() error {
	if u.o.Root != "/" {
		return nil
	}
	return u.change("stop the old units and restart anyip's",
		"stopped the old units and restarted anyip's: the old VIP routes were adopted in place",
		"would stop the old units and restart anyip's: anyip-routes would adopt the old VIP routes in place",
		func() error {
			for _, args := range [][]string{
				{"daemon-reload"},
				append([]string{"stop"}, OldUnits...),
				append([]string{"restart"}, OurUnits...),
			} {
				err := u.o.Systemctl(args...)
				if err != nil && args[0] == "restart" {
					// A unit restarted right after a stop can meet its
					// old cgroup still going away; the restart is safe
					// to repeat.
					time.Sleep(time.Second)
					err = u.o.Systemctl(args...)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
}

// rules removes the old policy rules, on a running system, once ours are
// there. A dry run counts them against the rules in place now: anyip's
// restart, which the real run does first, may add rules of ours.
func (u *upgrade) rules() error {
	if u.o.Rules == nil {
		return nil
	}
	removed, left, err := u.o.Rules(!u.o.DryRun)
	if err != nil {
		return fmt.Errorf("remove the old appliance's policy rules: %w", err)
	}
	if removed > 0 {
		if u.o.DryRun {
			u.steps = append(u.steps, Step{What: fmt.Sprintf("would remove %d policy rules of the old appliance; anyip's rules send the replies", removed), Changed: true})
		} else {
			u.steps = append(u.steps, Step{What: fmt.Sprintf("removed %d policy rules of the old appliance; anyip's rules send the replies", removed), Changed: true})
		}
	}
	if left > 0 {
		if u.o.DryRun {
			u.same("would keep %d policy rules of the old appliance unless anyip's units, once restarted, put rules of theirs for the same tables in place", left)
		} else {
			u.same("kept %d policy rules of the old appliance: anyip's are not in place yet; run again after first boot (a reboot drops them too)", left)
		}
	}
	return nil
}

// record keeps what the upgrade found, for first boot and the operator.
func (u *upgrade) record() error {
	if u.o.DryRun {
		return nil
	}
	data, err := yaml.Marshal(&u.rec)
	if err != nil {
		return err
	}
	if cur, _ := read(u.path(RecordFile)); bytes.Equal(cur, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(u.path(RecordFile)), 0o755); err != nil {
		return fmt.Errorf("write /%s: %w", RecordFile, err)
	}
	if err := render.WriteFile(u.path(RecordFile), data, 0o644); err != nil {
		return fmt.Errorf("write /%s: %w", RecordFile, err)
	}
	return nil
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
		return nil, fmt.Errorf("%s: %w (%v)", path, errBadRecord, err)
	}
	return &r, nil
}

var errBadRecord = errors.New("not a record of the upgrade")

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

// withoutOldTables drops the rtctl_ names routetablectl.sh added to
// rt_tables: the same numbers are anyip_workload and anyip_frontend now.
func withoutOldTables(data []byte) ([]byte, bool) {
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
	return out.Bytes(), changed
}

// dataplaneDropIn is the drop-in that runs the old unit's dataplaneapi
// binary with the configuration file first boot writes.
func dataplaneDropIn(unit []byte) ([]byte, error) {
	bin := "/usr/local/bin/dataplaneapi"
	opts, err := sdunit.DeserializeOptions(bytes.NewReader(unit))
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		if f := strings.Fields(o.Value); o.Section == "Service" && o.Name == "ExecStart" && len(f) > 0 {
			bin = f[0]
		}
	}
	return []byte("# anyip-firstboot --upgrade: the Data Plane API reads the configuration first boot writes\n" +
		"# (port, userlist file) from the vApp properties.\n[Service]\nExecStart=\nExecStart=" + bin + " -f /etc/haproxy/dataplaneapi.yaml\n"), nil
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

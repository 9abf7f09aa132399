package packaging_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/runlock"
	"github.com/anyip/anyip/internal/state"
)

// The units the project ships, by file name in systemd/.
var units = []string{"anyip-firstboot.service", "anyip-network.service", "anyip-routes.service"}

// sbinDir returns a directory holding freshly built anyip-firstboot and
// anyip-routes, to stand for @SBINDIR@: systemd-analyze verify checks that
// each ExecStart= program exists and is executable.
func sbinDir(t *testing.T) string {
	t.Helper()
	var dir string
	for _, cmd := range []string{"anyip-firstboot", "anyip-routes"} {
		bin := e2etest.Binary(t, cmd)
		st, err := os.Stat(bin)
		if err != nil || st.Mode()&0o111 == 0 {
			t.Fatalf("cmd/%s built no executable (%v): the units run it, so they cannot be verified without it", cmd, err)
		}
		dir = filepath.Dir(bin)
	}
	return dir
}

// installedUnits writes the units with @SBINDIR@ replaced, as `make
// install` does, into a new directory and returns their paths.
func installedUnits(t *testing.T, sbin string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, u := range units {
		data, err := os.ReadFile(filepath.Join(e2etest.Root(), "systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, u)
		if err := os.WriteFile(out, bytes.ReplaceAll(data, []byte("@SBINDIR@"), []byte(sbin)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, out)
	}
	return paths
}

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found; scripts/deps.sh installs it (Debian package systemd)")
	}
	return p
}

// verifyReport is what systemd-analyze verify said, split by whom it
// concerns.
type verifyReport struct {
	exit  int
	ours  []string // lines naming one of our units, their files or our binaries
	other []string // lines naming only some other unit
	bare  []string // lines naming no unit at all
}

var unitName = regexp.MustCompile(`[A-Za-z0-9:_.\\@-]+\.(service|socket|target|mount|automount|swap|timer|path|slice|scope|device)\b`)

// verify runs `systemd-analyze verify` on the unit files and sorts its
// output.
//
// What counts: verify loads each unit and everything it pulls in
// (Wants=/Requires= chains, e.g. network-online.target and whatever this
// machine hooks into it), and reports problems of any of them, exiting
// non-zero for errors (a missing ExecStart= program, a Requires= on a unit
// that does not exist) but only printing warnings (an unknown key or
// section, a bad value that is ignored). So:
//
//   - every line that names one of our unit files, our unit names or the
//     directory of our binaries is a failure, whatever the exit status;
//   - lines that name only other units are this machine's noise (a broken
//     third-party unit behind network-online.target, say) and are logged;
//   - a non-zero exit with no line attributable to another unit is a
//     failure too.
//
// Ordering against units that do not exist here (After=open-vm-tools.service
// and vmtoolsd.service, Before=haproxy.service) is not a problem to systemd
// and verify prints nothing for it, so nothing about those is filtered.
func verify(t *testing.T, paths []string, sbin string) verifyReport {
	t.Helper()
	args := append([]string{"verify"}, paths...)
	cmd := exec.Command(systemdAnalyze(t), args...)
	cmd.Dir = filepath.Dir(paths[0])
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0", "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	var r verifyReport
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
		r.exit = ee.ExitCode()
	}
	needles := []string{sbin}
	for _, p := range paths {
		needles = append(needles, p, filepath.Base(p))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		switch {
		case slices.ContainsFunc(needles, func(n string) bool { return strings.Contains(line, n) }):
			r.ours = append(r.ours, line)
		case unitName.MatchString(line):
			r.other = append(r.other, line)
		default:
			r.bare = append(r.bare, line)
		}
	}
	return r
}

func (r verifyReport) problems() []string {
	p := slices.Clone(r.ours)
	if r.exit != 0 && len(r.other) == 0 {
		p = append(p, "systemd-analyze verify exited "+strconv.Itoa(r.exit)+" without naming another unit: "+strings.Join(r.bare, " | "))
	}
	return p
}

func TestUnitsVerify(t *testing.T) {
	sbin := sbinDir(t)
	r := verify(t, installedUnits(t, sbin), sbin)
	for _, l := range append(r.other, r.bare...) {
		t.Logf("ignored (not about our units): %s", l)
	}
	for _, p := range r.problems() {
		t.Errorf("systemd-analyze verify: %s", p)
	}
}

// The filter above must not hide what it is there to catch: a broken copy
// of each unit is reported.
func TestUnitsVerifyCatchesMistakes(t *testing.T) {
	sbin := sbinDir(t)
	for _, c := range []struct {
		name, old, new string
	}{
		{"unknown key", "[Service]\n", "[Service]\nRestartSecs=2s\n"},
		{"missing program", "@SBINDIR@/", "@SBINDIR@/no-such-"},
		{"bad value", "Type=", "Type=sometimes\n#"},
		{"hard dependency on a missing unit", "[Unit]\n", "[Unit]\nRequires=anyip-no-such.service\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			paths := installedUnits(t, sbin)
			for _, p := range paths {
				src, err := os.ReadFile(filepath.Join(e2etest.Root(), "systemd", filepath.Base(p)))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(src, []byte(c.old)) {
					t.Fatalf("%s has no %q to break", filepath.Base(p), c.old)
				}
				broken := strings.Replace(string(src), c.old, c.new, 1)
				broken = strings.ReplaceAll(broken, "@SBINDIR@", sbin)
				if err := os.WriteFile(p, []byte(broken), 0o644); err != nil {
					t.Fatal(err)
				}
				r := verify(t, []string{p}, sbin)
				if len(r.problems()) == 0 {
					t.Errorf("%s with %s: verify reported nothing (exit %d, other %q, bare %q)", filepath.Base(p), c.name, r.exit, r.other, r.bare)
				}
			}
		})
	}
}

// unit is a parsed unit file: section → key → values in order (a key may
// repeat; an empty assignment resets the list, as systemd does).
type unit map[string]map[string][]string

func readUnit(t *testing.T, name string) unit {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e2etest.Root(), "systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: %q is not a plain key=value in a section", name, n, line)
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if v == "" {
				u[section][k] = nil
				continue
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// get returns the last value of a single-valued key.
func (u unit) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// words returns every word of a list-valued key, over all its lines.
func (u unit) words(section, key string) []string {
	var out []string
	for _, v := range u[section][key] {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

func wantValue(t *testing.T, u unit, name, section, key, want string) {
	t.Helper()
	if got := u.get(section, key); got != want {
		t.Errorf("%s: [%s] %s=%q, want %q", name, section, key, got, want)
	}
}

func wantWords(t *testing.T, u unit, name, section, key string, want ...string) {
	t.Helper()
	got := u.words(section, key)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s: [%s] %s=%q lacks %s", name, section, key, got, w)
		}
	}
}

func isYes(v string) bool {
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1":
		return true
	}
	return false
}

// writable reports whether a sandboxed unit may write path: through
// ReadWritePaths=, a StateDirectory= below /var/lib or a RuntimeDirectory=
// below /run.
func writable(u unit, path string) bool {
	for _, d := range u.words("Service", "RuntimeDirectory") {
		p := "/run/" + d
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	for _, p := range u.words("Service", "ReadWritePaths") {
		p = strings.TrimLeft(p, "-+")
		if path == p || strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	for _, d := range u.words("Service", "StateDirectory") {
		p := "/var/lib/" + d
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// wantRunLock checks a unit may take the run lock, and that stopping it
// leaves the lock's directory to the other unit.
func wantRunLock(t *testing.T, u unit, name string) {
	t.Helper()
	if !writable(u, runlock.DefaultPath) {
		t.Errorf("%s: ProtectSystem=strict and nothing makes the run lock %s writable", name, runlock.DefaultPath)
	}
	if slices.Contains(u.words("Service", "RuntimeDirectory"), filepath.Base(filepath.Dir(runlock.DefaultPath))) && !isYes(u.get("Service", "RuntimeDirectoryPreserve")) {
		t.Errorf("%s: RuntimeDirectoryPreserve=%q: stopping the unit would remove the lock the other unit holds", name, u.get("Service", "RuntimeDirectoryPreserve"))
	}
}

func TestFirstbootUnit(t *testing.T) {
	const name = "anyip-firstboot.service"
	u := readUnit(t, name)
	wantValue(t, u, name, "Service", "Type", "oneshot")
	if !isYes(u.get("Service", "RemainAfterExit")) {
		t.Errorf("%s: RemainAfterExit=%q, want yes", name, u.get("Service", "RemainAfterExit"))
	}
	wantValue(t, u, name, "Service", "ExecStart", "@SBINDIR@/anyip-firstboot")
	// Debian's open-vm-tools ships open-vm-tools.service (alias
	// vmtoolsd.service); other distributions vmtoolsd.service.
	wantWords(t, u, name, "Unit", "After", "open-vm-tools.service", "vmtoolsd.service", "network-online.target")
	wantWords(t, u, name, "Unit", "Wants", "network-online.target")
	wantWords(t, u, name, "Unit", "Before", "anyip-routes.service", "haproxy.service")
	wantWords(t, u, name, "Install", "WantedBy", "multi-user.target")
	// The findings must reach `systemctl status`.
	for _, k := range []string{"StandardOutput", "StandardError"} {
		if v := u.get("Service", k); v != "" && v != "journal" && v != "journal+console" && v != "inherit" {
			t.Errorf("%s: %s=%s hides the findings from the journal", name, k, v)
		}
	}
	if ts := u.get("Service", "TimeoutStartSec"); ts == "" || ts == "infinity" {
		t.Errorf("%s: TimeoutStartSec=%q: a hung source would hold up the boot and HAProxy for ever", name, ts)
	}

	// Sandbox: may write what the command writes by default, and no more.
	wantValue(t, u, name, "Service", "ProtectSystem", "strict")
	for _, p := range append([]string{cfgfile.DefaultPath, filepath.Join(state.DefaultDir, "firstboot.yaml")}, networkPaths...) {
		if !writable(u, p) {
			t.Errorf("%s: ProtectSystem=strict and nothing makes %s writable", name, p)
		}
	}
	wantRunLock(t, u, name)
	if writable(u, "/usr/sbin/anyip-firstboot") || writable(u, "/var/lib/dpkg/status") {
		t.Errorf("%s: writable paths too broad: %q", name, u.words("Service", "ReadWritePaths"))
	}
	if slices.Contains(u.words("Service", "ConfigurationDirectory"), "vmware") {
		t.Errorf("%s: ConfigurationDirectory=vmware lets `systemctl clean --what=all` delete the operator's ranges", name)
	}
	wantWords(t, u, name, "Service", "CapabilityBoundingSet", "CAP_NET_ADMIN")
	wantWords(t, u, name, "Service", "RestrictAddressFamilies", "AF_NETLINK", "AF_UNIX")
	for _, k := range []string{"NoNewPrivileges", "ProtectHome", "PrivateTmp"} {
		if !isYes(u.get("Service", k)) {
			t.Errorf("%s: %s=%q, want yes", name, k, u.get("Service", k))
		}
	}
	// The OVF ISO transport reads /dev/sr*: no device sandbox.
	for _, k := range []string{"PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectClock"} {
		if v := u.get("Service", k); v != "" && v != "no" && v != "auto" {
			t.Errorf("%s: %s=%s would hide the CD-ROM of the ISO transport", name, k, v)
		}
	}
}

// What first boot's network parts write, early and late.
var networkPaths = []string{"/etc/systemd/network/10-anyip-management.network", "/etc/hostname", "/etc/resolv.conf"}

// The early half of first boot runs before networkd starts, writes the
// network and nothing else, and is bounded in time.
func TestNetworkUnit(t *testing.T) {
	const name = "anyip-network.service"
	u := readUnit(t, name)
	wantValue(t, u, name, "Service", "Type", "oneshot")
	wantValue(t, u, name, "Service", "ExecStart", "@SBINDIR@/anyip-firstboot --early")
	wantValue(t, u, name, "Unit", "DefaultDependencies", "no")
	wantWords(t, u, name, "Unit", "Before", "network-pre.target", "systemd-networkd.service", "anyip-firstboot.service")
	wantWords(t, u, name, "Unit", "Wants", "network-pre.target")
	wantWords(t, u, name, "Install", "WantedBy", "multi-user.target")
	if ts := u.get("Service", "TimeoutStartSec"); ts == "" || ts == "infinity" {
		t.Errorf("%s: TimeoutStartSec=%q would hold the network back for ever", name, ts)
	}
	wantValue(t, u, name, "Service", "ProtectSystem", "strict")
	for _, p := range networkPaths {
		if !writable(u, p) {
			t.Errorf("%s: nothing makes %s writable", name, p)
		}
	}
	if caps := u.words("Service", "CapabilityBoundingSet"); slices.Contains(caps, "CAP_NET_ADMIN") || !slices.Contains(caps, "CAP_SYS_ADMIN") {
		t.Errorf("%s: CapabilityBoundingSet=%q: the host name needs CAP_SYS_ADMIN, and no route is touched this early", name, caps)
	}
	if !slices.Contains(u.words("Service", "SystemCallFilter"), "sethostname") {
		t.Errorf("%s: sethostname is not allowed", name)
	}
}

func TestRoutesUnit(t *testing.T) {
	const name = "anyip-routes.service"
	u := readUnit(t, name)
	wantValue(t, u, name, "Service", "Type", "notify")
	wantValue(t, u, name, "Service", "ExecStart", "@SBINDIR@/anyip-routes watch")
	wantValue(t, u, name, "Service", "Restart", "on-failure")
	wd := u.get("Service", "WatchdogSec")
	if d, err := time.ParseDuration(wd); err != nil || d < 5*time.Second || d > 5*time.Minute {
		t.Errorf("%s: WatchdogSec=%q, want a duration between 5s and 5min", name, wd)
	}
	wantWords(t, u, name, "Unit", "After", "anyip-firstboot.service")
	wantWords(t, u, name, "Unit", "Before", "haproxy.service")
	wantWords(t, u, name, "Install", "WantedBy", "multi-user.target")
	if slices.Contains(u.words("Unit", "Requires"), "anyip-firstboot.service") || slices.Contains(u.words("Unit", "BindsTo"), "anyip-firstboot.service") {
		t.Errorf("%s: a failed first boot must not keep the ranges file from being applied", name)
	}

	// Stop leaves the routes: nothing runs `down`, and the process gets
	// SIGTERM like any other.
	for _, k := range []string{"ExecStop", "ExecStopPost", "ExecReload", "ExecStartPre", "ExecStartPost"} {
		for _, v := range u["Service"][k] {
			if slices.Contains(strings.Fields(v), "down") || k == "ExecStop" || k == "ExecStopPost" {
				t.Errorf("%s: %s=%s: stopping or restarting the service must leave the routes in place", name, k, v)
			}
		}
	}
	if ks := u.get("Service", "KillSignal"); ks != "" && ks != "SIGTERM" {
		t.Errorf("%s: KillSignal=%s; the service leaves the routes in place on SIGTERM", name, ks)
	}

	// Sandbox: CAP_NET_ADMIN and netlink for the routes, CAP_NET_RAW and
	// packet sockets for the neighbour responder and the announcements,
	// nothing else.
	wantValue(t, u, name, "Service", "ProtectSystem", "strict")
	if got := u.words("Service", "CapabilityBoundingSet"); !slices.Equal(got, []string{"CAP_NET_ADMIN", "CAP_NET_RAW"}) {
		t.Errorf("%s: CapabilityBoundingSet=%q, want CAP_NET_ADMIN CAP_NET_RAW alone", name, got)
	}
	fams := u.words("Service", "RestrictAddressFamilies")
	wantWords(t, u, name, "Service", "RestrictAddressFamilies", "AF_NETLINK", "AF_UNIX", "AF_PACKET")
	if len(fams) > 0 && strings.HasPrefix(fams[0], "~") {
		t.Errorf("%s: RestrictAddressFamilies=%q is wider than the service needs", name, fams)
	}
	for _, k := range []string{"NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelModules", "ProtectKernelTunables", "RestrictSUIDSGID", "LockPersonality"} {
		if !isYes(u.get("Service", k)) {
			t.Errorf("%s: %s=%q, want yes", name, k, u.get("Service", k))
		}
	}
	if !writable(u, filepath.Join(state.DefaultDir, "x")) {
		t.Errorf("%s: cannot write its state under %s", name, state.DefaultDir)
	}
	wantRunLock(t, u, name)
	if writable(u, cfgfile.DefaultPath) {
		t.Errorf("%s: may write %s; it only reads it", name, cfgfile.DefaultPath)
	}
	if v := u.get("Service", "PrivateNetwork"); isYes(v) {
		t.Errorf("%s: PrivateNetwork=%s would manage the routes of an empty namespace", name, v)
	}
}

var exposure = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// The sandboxing must not quietly erode: systemd's own score of each unit
// stays within a bound (0 = locked down, 10 = unprotected).
func TestUnitsExposure(t *testing.T) {
	sbin := sbinDir(t)
	max := map[string]float64{
		"anyip-firstboot.service": 3.5, // root, host network, devices (ISO transport), writes /etc, sets the host name
		"anyip-network.service":   3.5, // root, devices (ISO transport), writes /etc, sets the host name
		"anyip-routes.service":    2.5, // root, host network, CAP_NET_ADMIN
	}
	for _, p := range installedUnits(t, sbin) {
		cmd := exec.Command(systemdAnalyze(t), "security", "--offline=yes", "--no-pager", p)
		cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0", "LC_ALL=C")
		out, err := cmd.CombinedOutput()
		if bytes.Contains(out, []byte("--offline")) && err != nil {
			t.Skipf("systemd-analyze cannot score unit files offline (systemd < 250): %s", bytes.TrimSpace(out))
		}
		m := exposure.FindSubmatch(out)
		if m == nil {
			t.Fatalf("systemd-analyze security %s: no exposure level (%v):\n%s", filepath.Base(p), err, out)
		}
		got, _ := strconv.ParseFloat(string(m[1]), 64)
		t.Logf("%s: exposure %.1f", filepath.Base(p), got)
		if limit := max[filepath.Base(p)]; got > limit {
			t.Errorf("%s: exposure %.1f > %.1f:\n%s", filepath.Base(p), got, limit, out)
		}
	}
}

package packaging_test

import (
	"bytes"
	"debug/elf"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/upgrade"
)

// staged is one `make install DESTDIR=... PREFIX=/usr` tree.
type staged struct {
	t         *testing.T
	dest, bin string
}

func newStaged(t *testing.T) *staged {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make not found (Debian package make)")
	}
	dir := t.TempDir()
	return &staged{t: t, dest: filepath.Join(dir, "root"), bin: filepath.Join(dir, "bin")}
}

// make runs a Makefile target of the repository into the staging root. BIN
// points the build at a temp directory so the test leaves ./bin alone.
func (s *staged) make(target string) string {
	s.t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "-C", e2etest.Root(), target,
		"DESTDIR="+s.dest, "PREFIX=/usr", "BIN="+s.bin)
	// Under `make test` the outer make's flags and variables (MAKEFLAGS
	// carries command-line assignments such as PREFIX=) must not leak in.
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains([]string{"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "DESTDIR", "PREFIX", "SYSCONFDIR", "UNITDIR", "BIN"}, name) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("make %s: %v\n%s", target, err, out)
	}
	return string(out)
}

func (s *staged) path(p string) string { return filepath.Join(s.dest, p) }

func (s *staged) write(p, data string, mode fs.FileMode) {
	s.t.Helper()
	if err := os.MkdirAll(filepath.Dir(s.path(p)), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(s.path(p), []byte(data), mode); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chmod(s.path(p), mode); err != nil {
		s.t.Fatal(err)
	}
}

// files lists the regular files (and symlinks) under the staging root.
func (s *staged) files() []string {
	s.t.Helper()
	var out []string
	filepath.WalkDir(s.dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			s.t.Fatal(err)
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(s.dest, p)
			out = append(out, "/"+rel)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func (s *staged) wantFile(p string, mode fs.FileMode, want []byte) []byte {
	s.t.Helper()
	st, err := os.Stat(s.path(p))
	if err != nil {
		s.t.Errorf("not installed: %s", p)
		return nil
	}
	if st.Mode().Perm() != mode {
		s.t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), mode)
	}
	data, err := os.ReadFile(s.path(p))
	if err != nil {
		s.t.Fatal(err)
	}
	if want != nil && !bytes.Equal(data, want) {
		s.t.Errorf("%s:\n%s\nwant:\n%s", p, data, want)
	}
	return data
}

func source(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e2etest.Root(), p))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

const (
	cfgPath    = "/etc/vmware/anyip-routes.cfg"
	protPath   = "/etc/iproute2/rt_protos.d/anyip.conf"
	tablesPath = "/etc/iproute2/rt_tables.d/anyip.conf"
	sysctlPath = "/usr/lib/sysctl.d/60-anyip.conf"
	networkd   = "/usr/lib/systemd/networkd.conf.d/anyip.conf"
)

// The .link files that name the NICs by role, from the PCI slots the
// descriptor pins.
var links = map[string]string{
	"management": "pci-0000:03:00.0",
	"workload":   "pci-0000:0b:00.0",
	"frontend":   "pci-0000:13:00.0",
}

// everything install puts in the staging root, the ranges file included.
var installed = []string{
	protPath,
	tablesPath,
	cfgPath,
	"/lib/systemd/system/anyip-firstboot.service",
	"/lib/systemd/system/anyip-network.service",
	"/lib/systemd/system/anyip-routes.service",
	sysctlPath,
	"/usr/lib/systemd/network/10-anyip-frontend.link",
	"/usr/lib/systemd/network/10-anyip-management.link",
	"/usr/lib/systemd/network/10-anyip-workload.link",
	networkd,
	"/usr/sbin/anyip-firstboot",
	"/usr/sbin/anyip-routes",
}

// checkInstalled checks every installed file but the ranges file.
func (s *staged) checkInstalled() {
	s.t.Helper()
	if got := s.files(); !slices.Equal(got, installed) {
		s.t.Errorf("installed files:\n %s\nwant:\n %s", strings.Join(got, "\n "), strings.Join(installed, "\n "))
	}
	for _, cmd := range []string{"anyip-firstboot", "anyip-routes"} {
		p := "/usr/sbin/" + cmd
		s.wantFile(p, 0o755, nil)
		if f, err := elf.Open(s.path(p)); err != nil {
			s.t.Errorf("%s is not an executable: %v", p, err)
		} else {
			f.Close()
		}
	}
	for _, u := range units {
		p := "/lib/systemd/system/" + u
		src := source(s.t, "systemd/"+u)
		data := s.wantFile(p, 0o644, bytes.ReplaceAll(src, []byte("@SBINDIR@"), []byte("/usr/sbin")))
		if bytes.Contains(data, []byte("@SBINDIR@")) {
			s.t.Errorf("%s still holds @SBINDIR@", p)
		}
		cmd := strings.TrimSuffix(u, ".service")
		if cmd == "anyip-network" {
			cmd = "anyip-firstboot --early" // the early half of first boot
		}
		if !bytes.Contains(data, []byte("\nExecStart=/usr/sbin/"+cmd)) {
			s.t.Errorf("%s: ExecStart does not run /usr/sbin/%s", p, cmd)
		}
	}
	sysctl := s.wantFile(sysctlPath, 0o644, source(s.t, "systemd/anyip.sysctl"))
	if !bytes.Contains(sysctl, []byte("\nnet.ipv6.ip_nonlocal_bind = 1\n")) {
		s.t.Errorf("%s does not let HAProxy bind IPv6 VIPs:\n%s", sysctlPath, sysctl)
	}
	tables := s.wantFile(tablesPath, 0o644, source(s.t, "systemd/anyip.rt_tables"))
	if !bytes.Contains(tables, []byte("\n2\tanyip_workload\n3\tanyip_frontend\n")) {
		s.t.Errorf("%s does not name tables 2 and 3:\n%s", tablesPath, tables)
	}
	for role, path := range links {
		link := s.wantFile("/usr/lib/systemd/network/10-anyip-"+role+".link", 0o644, nil)
		if !bytes.Contains(link, []byte("\n[Match]\nPath="+path+"\n")) || !bytes.Contains(link, []byte("\n[Link]\nName="+role+"\n")) {
			s.t.Errorf("the %s .link file does not name %s %s:\n%s", role, path, role, link)
		}
	}
	nd := s.wantFile(networkd, 0o644, source(s.t, "systemd/anyip-networkd.conf"))
	if !bytes.Contains(nd, []byte("\nManageForeignRoutingPolicyRules=no\n")) || !bytes.Contains(nd, []byte("\nManageForeignRoutes=no\n")) {
		s.t.Errorf("%s lets networkd remove others' rules or routes:\n%s", networkd, nd)
	}
	prot := s.wantFile(protPath, 0o644, source(s.t, "systemd/anyip.rt_protos"))
	if !bytes.Contains(prot, []byte("\n241\tanyip\n")) {
		s.t.Errorf("%s does not name protocol 241 anyip:\n%s", protPath, prot)
	}
	// What --upgrade needs before it takes the old appliance's units away.
	if err := upgrade.CheckInstalled(s.dest); err != nil {
		s.t.Errorf("anyip-firstboot --upgrade does not find what make install put there: %v", err)
	}
}

// A fresh install lays everything out; uninstall removes all of it, the
// default ranges file included, as nobody changed it.
func TestInstallFresh(t *testing.T) {
	s := newStaged(t)
	s.make("install")
	s.checkInstalled()
	s.wantFile(cfgPath, 0o644, source(t, "systemd/anyip-routes.cfg"))

	// Installing again (an upgrade) changes nothing.
	s.make("install")
	s.checkInstalled()

	s.make("uninstall")
	if got := s.files(); len(got) != 0 {
		t.Errorf("left after uninstall: %q", got)
	}
	var ni *upgrade.NotInstalledError
	if err := upgrade.CheckInstalled(s.dest); !errors.As(err, &ni) {
		t.Errorf("after uninstall, --upgrade would find anyip installed (%v)", err)
	}
}

// An operator's ranges file is neither replaced by install nor removed by
// uninstall; its bytes and mode stay as they were.
func TestInstallKeepsOperatorRanges(t *testing.T) {
	const mine = "# ranges of this site\n10.99.0.0/28\n"
	s := newStaged(t)
	s.write(cfgPath, mine, 0o640)
	s.make("install")
	s.checkInstalled()
	s.wantFile(cfgPath, 0o640, []byte(mine))

	s.make("uninstall")
	if got := s.files(); !slices.Equal(got, []string{cfgPath}) {
		t.Errorf("after uninstall: %q, want only %s", got, cfgPath)
	}
	s.wantFile(cfgPath, 0o640, []byte(mine))
}

// The default file, once first boot (or the operator) changed it, is the
// operator's: uninstall keeps it.
func TestUninstallKeepsChangedRanges(t *testing.T) {
	s := newStaged(t)
	s.make("install")
	changed := string(source(t, "systemd/anyip-routes.cfg")) + "# BEGIN anyip-firstboot\n10.40.30.64/26\n# END anyip-firstboot\n"
	s.write(cfgPath, changed, 0o644)

	s.make("install")
	s.wantFile(cfgPath, 0o644, []byte(changed))
	s.make("uninstall")
	if got := s.files(); !slices.Equal(got, []string{cfgPath}) {
		t.Errorf("after uninstall: %q, want only %s", got, cfgPath)
	}
	s.wantFile(cfgPath, 0o644, []byte(changed))
}

package boottest

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-crypt/crypt"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/ovfenv"
	"github.com/anyip/anyip/internal/pki"
	"github.com/anyip/anyip/internal/shadow"
	"github.com/anyip/anyip/internal/upgrade"
	"github.com/anyip/anyip/internal/upgrade/upgradetest"
)

// TestBootWizard boots the 3-NIC example and checks the rest of the
// wizard as the appliance's own programs see it: root's password in
// /etc/shadow, sshd -T, haproxy -c with the Data Plane API's user, the CA
// generated once and kept across a reboot; then a reboot with the
// environment as govc's InjectOvfEnv writes it, & < > ' in root's password.
func TestBootWizard(t *testing.T) {
	env := example(t, "ovf-env-3nic.xml")
	cfg := mustConfig(t, env)
	a := New(t, Options{Env: env, HAProxy: HAProxyConfig(cfg.ServiceRanges, netip.AddrPort{})})
	a.Boot(url(VIP(cfg.ServiceRanges[0]), 80))
	ranges := prefixes(cfg.ServiceRanges)
	var ca string
	if !t.Run("first boot", func(t *testing.T) {
		a := a.For(t)
		a.unit("anyip-firstboot.service", "active", "exited", "success", "0")
		a.rootPassword(cfg.RootPassword.Reveal())
		if out := a.MustExec("sshd", "-T"); !strings.Contains(out, "\npermitrootlogin yes\n") {
			a.Fatalf("sshd -T does not show permitrootlogin yes (appliance.permit_root_login True):\n%s", grep(out, "permitrootlogin"))
		}
		a.haproxyChecks("admin", cfg.HAProxyPassword.Reveal())
		ca = a.caFiles()
		a.contains("journal of anyip-firstboot", a.Journal("-u", "anyip-firstboot"), "generated a CA")
		a.routes(sorted(ranges))
	}) {
		return
	}
	t.Run("reboot keeps the CA", func(t *testing.T) {
		a := a.For(t)
		shadowBefore := a.ReadFile("/etc/shadow")
		a.Reboot(url(VIP(cfg.ServiceRanges[0]), 80))
		a.unit("anyip-firstboot.service", "active", "exited", "success", "0")
		if got := a.caFiles(); got != ca {
			a.Fatalf("the generated CA changed across a reboot")
		}
		if a.ReadFile("/etc/shadow") != shadowBefore {
			a.Fatalf("/etc/shadow rewritten by a boot with the same password")
		}
		a.routes(sorted(ranges))
	})
	t.Run("InjectOvfEnv", func(t *testing.T) {
		a := a.For(t)
		const pw = `In&j<ect>'Pw-7`
		e, err := ovfenv.Parse(env)
		if err != nil {
			t.Fatal(err)
		}
		injected := e2etest.Props(e.Properties).With("appliance.root_pwd", pw).InjectOvfEnvXML()
		if !strings.Contains(string(injected), `oe:value="`+pw+`"`) {
			t.Fatal("the environment is not written unescaped")
		}
		a.GuestInfo.Set(envKey, string(injected))
		a.Reboot(url(VIP(cfg.ServiceRanges[0]), 80))
		a.unit("anyip-firstboot.service", "active", "exited", "success", "0")
		a.rootPassword(pw)
		a.routes(sorted(ranges))
		a.serves(url(VIP(cfg.ServiceRanges[0]), 80), VIP(cfg.ServiceRanges[0]).String()+" vip-1")
		a.published("ok: ")
		for _, s := range append(a.GuestInfo.Sets(), InfoSet{Value: a.Journal("-u", "anyip-firstboot")}) {
			if strings.Contains(s.Value, pw) || strings.Contains(s.Value, cfg.HAProxyPassword.Reveal()) {
				a.Fatalf("a password in guestinfo or the journal")
			}
		}
	})
}

// TestBootUpgradedOldAppliance boots an image that had the old appliance's
// units, scripts and files (from its repository) and its first boot done,
// upgraded with anyip-firstboot --upgrade: it serves its VIPs with only
// anyip's units running, one route per range, one rule of each kind, and
// the old ranges file taken over with the operator's line kept.
func TestBootUpgradedOldAppliance(t *testing.T) {
	env := example(t, "ovf-env-3nic.xml")
	cfg := mustConfig(t, env)
	a := New(t, Options{Env: env, HAProxy: HAProxyConfig(cfg.ServiceRanges, netip.AddrPort{})})
	oldFiles(t, a.Root)
	// The old first boot appended the wizard's ranges; the operator added
	// one of their own since.
	vipNIC := nicOf(t, a, cfg.ServiceRanges[0])
	own := FreeRanges(vipNIC.Addr.Masked(), 28, 1, cfg.ServiceRanges, vipNIC.Addr.Addr(), vipNIC.Router, vipNIC.Addr.Masked().Addr())[0]
	old := "# old header\n" + strings.Join(prefixes(cfg.ServiceRanges), "\n") + "\n" + own.String() + "\n"
	a.writeFile(cfgPath, []byte(old), 0o644)
	a.writeFile(upgrade.OldMarker, nil, 0o644)
	a.writeFile("/etc/vmware/workload-networks.cfg", []byte("10.50.0.0/16\n"), 0o644)

	bin := e2etest.Binary(t, "anyip-firstboot")
	out, err := exec.Command(bin, "--upgrade", "--root", a.Root).CombinedOutput()
	if err != nil {
		t.Fatalf("anyip-firstboot --upgrade: %v\n%s", err, out)
	}
	t.Logf("upgrade:\n%s", out)

	a.Boot(url(VIP(cfg.ServiceRanges[0]), 80))
	a.unit("anyip-firstboot.service", "active", "exited", "success", "0")
	a.unit("anyip-routes.service", "active", "running", "success", "")
	for _, u := range upgrade.OldUnits {
		if st := a.Show(u, "LoadState")["LoadState"]; st != "masked" {
			a.Fatalf("%s: LoadState %s, want masked", u, st)
		}
	}
	if p := a.Show("anyip-routes.service", "FragmentPath")["FragmentPath"]; !strings.HasPrefix(p, "/usr/lib/systemd/system/") && !strings.HasPrefix(p, "/lib/systemd/system/") {
		a.Fatalf("anyip-routes.service comes from %s, not from anyip", p)
	}
	want := sorted(append(prefixes(cfg.ServiceRanges), own.String()))
	a.routes(want)
	if other := a.MustExec("ip", "route", "show", "table", "local", "proto", "boot"); strings.TrimSpace(other) != "" {
		a.Fatalf("routes of another protocol beside ours:\n%s", other)
	}
	a.oneRuleEach()
	if got := managed(a.ReadFile(cfgPath)); !slices.Equal(got, prefixes(cfg.ServiceRanges)) {
		a.Fatalf("managed block %v, want the wizard's %v", got, prefixes(cfg.ServiceRanges))
	}
	got := slices.DeleteFunc(outside(a.ReadFile(cfgPath)), func(l string) bool { return l == "" || strings.HasPrefix(l, "#") })
	if !slices.Equal(got, []string{own.String()}) {
		a.Fatalf("the operator's lines %v, want [%s]", got, own)
	}
	a.serves(url(VIP(cfg.ServiceRanges[0]), 80), VIP(cfg.ServiceRanges[0]).String()+" vip-1")
	a.serves(url(VIP(own), 8080), VIP(own).String()+" any")
	if n := strings.Count(a.Journal("-b"), "anyiproutectl.sh"); n != 0 {
		a.Fatalf("the old scripts ran (%d journal lines)", n)
	}

	// The running appliance still has the old appliance's rules (an
	// upgrade without a reboot: routetablectl.sh made them at its last
	// boot). --upgrade on the running system removes them, the VIPs
	// answering throughout.
	t.Run("live upgrade removes the old rules", func(t *testing.T) {
		a := a.For(t)
		fe := nicOf(t, a, cfg.ServiceRanges[0])
		for _, r := range [][]string{
			{"from", fe.Addr.Masked().String(), "lookup", "3"},
			{"to", cfg.AdditionalNetworks[0].String(), "lookup", "2"},
		} {
			a.VM.Run(t, "ip", append([]string{"rule", "add"}, r...)...)
		}
		// A dry run first: it says what the upgrade would do on the
		// running system, and removes no rule and restarts no unit.
		rules, pid := a.MustExec("ip", "rule", "show"), a.Show("anyip-routes.service", "ExecMainPID")["ExecMainPID"]
		dry := a.MustExec("anyip-firstboot", "--upgrade", "--dry-run")
		a.contains("anyip-firstboot --upgrade --dry-run", dry, "would remove 2 policy rules of the old appliance", "would stop the old units and restart anyip's", "; nothing was changed.")
		if after := a.MustExec("ip", "rule", "show"); after != rules {
			a.Fatalf("the dry run changed the rules:\n%s\nwas:\n%s", after, rules)
		}
		if after := a.Show("anyip-routes.service", "ExecMainPID")["ExecMainPID"]; after != pid {
			a.Fatalf("the dry run restarted anyip-routes.service (pid %s, was %s)", after, pid)
		}
		s := a.Sample(prefixes(cfg.ServiceRanges), url(VIP(cfg.ServiceRanges[0]), 80))
		out := a.MustExec("anyip-firstboot", "--upgrade")
		problems := s.Stop()
		a.contains("anyip-firstboot --upgrade", out, "removed 2 policy rules of the old appliance", "stopped the old units and restarted anyip's")
		if problems != "" {
			a.Fatalf("during the live upgrade: %s", problems)
		}
		a.oneRuleEach()
		a.unit("anyip-routes.service", "active", "running", "success", "")
		a.routes(want)
		rs, hs := s.Counts()
		t.Logf("%d samples of the table and %d requests during the live upgrade, none missing", rs, hs)
	})
}

// oneRuleEach: no policy rule twice, whatever its priority.
func (a *Appliance) oneRuleEach() {
	a.t.Helper()
	rules := a.MustExec("ip", "rule", "show")
	seen := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(rules), "\n") {
		if _, rule, ok := strings.Cut(l, ":"); ok {
			seen[strings.TrimSpace(rule)]++
		}
	}
	for r, n := range seen {
		if n != 1 {
			a.Fatalf("rule %q %d times:\n%s", r, n, rules)
		}
	}
}

// oldFiles installs the old appliance's units, scripts and files, enabled
// as its build enabled them.
func oldFiles(t *testing.T, root string) {
	t.Helper()
	upgradetest.Install(t, root)
	for _, u := range append([]string{upgrade.OldRoutesUnit}, upgrade.OldUnits...) {
		link := filepath.Join(root, "etc/systemd/system/multi-user.target.wants", u)
		os.Remove(link)
		if err := os.Symlink("/etc/systemd/system/"+u, link); err != nil {
			t.Fatal(err)
		}
	}
}

// rootPassword checks root's hash in /etc/shadow against pw.
func (a *Appliance) rootPassword(pw string) {
	a.t.Helper()
	h, err := shadow.Get([]byte(a.ReadFile("/etc/shadow")), "root")
	if err != nil {
		a.Fatalf("/etc/shadow: %v", err)
	}
	if ok, err := crypt.CheckPassword(pw, h); err != nil || !ok {
		a.Fatalf("root's hash in /etc/shadow does not verify against the wizard's password (%v)", err)
	}
	if m := strings.TrimSpace(a.MustExec("stat", "-c", "%a %U %G", "/etc/shadow")); m != "640 root shadow" {
		a.Fatalf("/etc/shadow is %s, want 640 root shadow", m)
	}
}

// haproxyChecks: HAProxy accepts its configuration and the Data Plane
// API's userlist, whose user's hash is the wizard's password.
func (a *Appliance) haproxyChecks(user, pw string) {
	a.t.Helper()
	a.MustExec("haproxy", "-c", "-q", "-f", "/etc/haproxy/haproxy.cfg")
	if code, out, errs := a.Exec("haproxy", "-c", "-f", "/etc/haproxy/dataplaneapi-users.cfg"); code != 0 && code != 2 || strings.Contains(out+errs, "ALERT") {
		a.Fatalf("haproxy -c on the Data Plane API's userlist: exit %d\n%s%s", code, out, errs)
	}
	list := a.ReadFile("/etc/haproxy/dataplaneapi-users.cfg")
	ok := false
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "user" && f[1] == user {
			ok = shadow.Matches(f[3], pw)
		}
	}
	if !ok {
		a.Fatalf("the userlist has no %s with the wizard's password", user)
	}
	if m := strings.TrimSpace(a.MustExec("stat", "-c", "%a", "/etc/haproxy/dataplaneapi-users.cfg")); m != "600" {
		a.Fatalf("the userlist is %s, want 600", m)
	}
	a.contains("/etc/haproxy/dataplaneapi.yaml", a.ReadFile("/etc/haproxy/dataplaneapi.yaml"), "tls_port: 5556", "userlist_file: /etc/haproxy/dataplaneapi-users.cfg")
}

// caFiles checks the CA's files and modes and that the key is the
// certificate's, and returns the certificate.
func (a *Appliance) caFiles() string {
	a.t.Helper()
	cert, key := a.ReadFile("/etc/haproxy/ca.crt"), a.ReadFile("/etc/haproxy/ca.key")
	if err := pki.CheckPair([]byte(cert), []byte(key)); err != nil {
		a.Fatalf("the CA: %v", err)
	}
	for f, want := range map[string]string{"/etc/haproxy/ca.crt": "644 root", "/etc/haproxy/ca.key": "600 root", "/etc/haproxy/server.key": "600 root"} {
		if m := strings.TrimSpace(a.MustExec("stat", "-c", "%a %U", f)); m != want {
			a.Fatalf("%s is %s, want %s", f, m, want)
		}
	}
	return cert
}

func grep(s, word string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, word) {
			return l
		}
	}
	return "(no " + word + ")"
}

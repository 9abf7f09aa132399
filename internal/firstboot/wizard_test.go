package firstboot

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"

	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-crypt/crypt"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/pki"
	"github.com/anyip/anyip/internal/shadow"
)

// wizardRoot is an appliance root with the files first boot edits, and a
// logger whose output the test can search.
func wizardRoot(t *testing.T) (Options, *bytes.Buffer, *slog.Logger) {
	t.Helper()
	root := t.TempDir()
	e2etest.SeedRoot(t, root)
	var log bytes.Buffer
	return Options{Root: root}, &log, slog.New(slog.NewTextHandler(&log, nil))
}

func config(t *testing.T, kv ...string) appliance.Config {
	t.Helper()
	raw := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		raw[kv[i]] = kv[i+1]
	}
	c, _, fs := appliance.FromProperties(raw)
	if fs.HasErrors() {
		t.Fatalf("config: %v", fs)
	}
	return c
}

func results(out []Outcome) map[string]string {
	m := map[string]string{}
	for _, o := range out {
		m[o.Part] = o.Result
	}
	return m
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

const rootPwd, apiPwd = `R00t&<pw>'"x`, "api-S3cret-77"

// A fresh appliance gets root's password, sshd's setting, the Data Plane
// API's user and port, and a CA; the next run with the same wizard changes
// nothing, and keeps the generated CA.
func TestWizardPartsApplyOnceThenUnchanged(t *testing.T) {
	o, log, l := wizardRoot(t)
	c := config(t, appliance.KeyRootPassword, rootPwd, appliance.KeyPermitRootLogin, "False",
		appliance.KeyHAProxyUser, "", appliance.KeyHAProxyPassword, apiPwd, appliance.KeyDataplanePort, "0")
	p := PlanWizard(c, "lb-01.example.internal")
	got := results(applyWizard(o, p, map[string]bool{}, l))
	for _, part := range wizardParts {
		if got[part] != Applied {
			t.Errorf("%s: %s, want applied\n%s", part, got[part], log)
		}
	}

	sh, _ := os.ReadFile(filepath.Join(o.Root, ShadowFile))
	hash, err := shadow.Get(sh, "root")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := crypt.CheckPassword(rootPwd, hash); !ok || err != nil || !strings.HasPrefix(hash, "$6$") {
		t.Errorf("root's hash %q does not verify: %v", hash, err)
	}
	if !strings.Contains(string(sh), "\ndaemon:*:20000:0:99999:7:::\n") || mode(t, filepath.Join(o.Root, ShadowFile)) != 0o640 {
		t.Errorf("shadow's other lines or mode changed:\n%s", sh)
	}
	drop, _ := os.ReadFile(filepath.Join(o.Root, SSHDropIn))
	if !strings.Contains(string(drop), "\nPermitRootLogin no\n") {
		t.Errorf("sshd drop-in:\n%s", drop)
	}
	users, _ := os.ReadFile(filepath.Join(o.Root, DataplaneUsers))
	if h := userlistHash(users, "admin"); !shadow.Matches(h, apiPwd) {
		t.Errorf("the userlist has no admin with the password:\n%s", users)
	}
	if m := mode(t, filepath.Join(o.Root, DataplaneUsers)); m != 0o600 {
		t.Errorf("userlist mode %v", m)
	}
	conf, _ := os.ReadFile(filepath.Join(o.Root, DataplaneConf))
	if !strings.Contains(string(conf), "tls_port: 5556\n") || !strings.Contains(string(conf), "tls_host: 0.0.0.0\n") || !strings.Contains(string(conf), "userlist_file: /etc/haproxy/dataplaneapi-users.cfg\n") {
		t.Errorf("Data Plane API configuration:\n%s", conf)
	}
	cert, _ := os.ReadFile(filepath.Join(o.Root, CACertFile))
	key, _ := os.ReadFile(filepath.Join(o.Root, CAKeyFile))
	if err := pki.CheckPair(cert, key); err != nil {
		t.Errorf("generated CA: %v", err)
	}
	if mode(t, filepath.Join(o.Root, CACertFile)) != 0o644 || mode(t, filepath.Join(o.Root, CAKeyFile)) != 0o600 {
		t.Error("CA modes are not 0644 and 0600")
	}
	srv := serverCert(t, o.Root, cert)
	if srv.Subject.CommonName != "lb-01.example.internal" || srv.VerifyHostname("lb-01.example.internal") != nil || srv.VerifyHostname("127.0.0.1") != nil {
		t.Errorf("server certificate for %v %v", srv.DNSNames, srv.IPAddresses)
	}
	for _, s := range []string{rootPwd, apiPwd, string(key)} {
		if strings.Contains(log.String(), s) {
			t.Errorf("the log holds a secret:\n%s", log)
		}
	}

	log.Reset()
	again := results(applyWizard(o, PlanWizard(c, "lb-01.example.internal"), map[string]bool{}, l))
	for _, part := range wizardParts {
		if again[part] != Unchanged {
			t.Errorf("second run: %s: %s, want unchanged\n%s", part, again[part], log)
		}
	}
	cert2, _ := os.ReadFile(filepath.Join(o.Root, CACertFile))
	users2, _ := os.ReadFile(filepath.Join(o.Root, DataplaneUsers))
	sh2, _ := os.ReadFile(filepath.Join(o.Root, ShadowFile))
	if !bytes.Equal(cert, cert2) || !bytes.Equal(users, users2) || !bytes.Equal(sh, sh2) {
		t.Error("an unchanged run rewrote the CA, the userlist or shadow")
	}
}

// The Data Plane API listens on the management address only, as the old
// appliance's TLS_HOST did, when that address is static.
func TestDataplaneListensOnManagement(t *testing.T) {
	c := config(t, appliance.KeyManagementIP, "10.40.10.5/24", appliance.KeyDataplanePort, "8443")
	conf := string(PlanWizard(c, "x").DataplaneConf)
	if !strings.Contains(conf, "tls_host: 10.40.10.5\n") || !strings.Contains(conf, "tls_port: 8443\n") {
		t.Errorf("configuration:\n%s", conf)
	}
}

// The wizard's CA is written as given (spaces for newlines repaired by the
// appliance package), and replaces a generated one; the old appliance's
// 0644 key becomes 0600.
func TestWizardCAReplacesAndKeyIsPrivate(t *testing.T) {
	o, _, l := wizardRoot(t)
	cert, key, err := pki.NewCA("given", mustNow())
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(o.Root, CAKeyFile)
	os.MkdirAll(filepath.Dir(keyPath), 0o755)
	os.WriteFile(keyPath, []byte("old"), 0o644)
	oneLine := func(b []byte) string { return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", " ") }
	c := config(t, appliance.KeyCACert, oneLine(cert), appliance.KeyCAKey, oneLine(key))
	out := applyCA(o, PlanWizard(c, "x"), l)
	if out.Result != Applied {
		t.Fatalf("ca: %+v", out)
	}
	gotCert, _ := os.ReadFile(filepath.Join(o.Root, CACertFile))
	gotKey, _ := os.ReadFile(keyPath)
	if !bytes.Equal(gotCert, cert) || !bytes.Equal(gotKey, key) || mode(t, keyPath) != 0o600 {
		t.Errorf("CA not written as given (mode %v)", mode(t, keyPath))
	}
	serverCert(t, o.Root, cert) // signed by the wizard's CA
	// Another CA in the wizard: a new server certificate, signed by it.
	cert2, key2, _ := pki.NewCA("given later", mustNow())
	c2 := config(t, appliance.KeyCACert, oneLine(cert2), appliance.KeyCAKey, oneLine(key2))
	if out := applyCA(o, PlanWizard(c2, "x"), l); out.Result != Applied || !strings.Contains(out.Detail, "server certificate") {
		t.Errorf("new CA: %+v", out)
	}
	serverCert(t, o.Root, cert2)
	// Same files, key made world-readable by hand: put back to 0600.
	os.Chmod(keyPath, 0o644)
	if out := applyCA(o, PlanWizard(c, "x"), l); out.Result != Applied || mode(t, keyPath) != 0o600 {
		t.Errorf("a 0644 key was left: %+v, %v", out, mode(t, keyPath))
	}
}

// A refused part changes nothing of its own; the others apply.
func TestWizardRefusedPartChangesNothing(t *testing.T) {
	o, _, l := wizardRoot(t)
	c := config(t, appliance.KeyRootPassword, rootPwd, appliance.KeyHAProxyPassword, apiPwd)
	got := results(applyWizard(o, PlanWizard(c, "x"), map[string]bool{PartRootPassword: true, PartCA: true}, l))
	if got[PartRootPassword] != Refused || got[PartCA] != Refused || got[PartSSH] != Applied || got[PartDataplane] != Applied {
		t.Errorf("outcomes %v", got)
	}
	sh, _ := os.ReadFile(filepath.Join(o.Root, ShadowFile))
	if string(sh) != e2etest.RootShadow {
		t.Errorf("a refused root password changed shadow:\n%s", sh)
	}
	if _, err := os.Stat(filepath.Join(o.Root, CACertFile)); err == nil {
		t.Error("a refused CA part wrote a CA")
	}
}

// Without the Include line sshd would never read the drop-in: the part
// fails and says what to add; with no sshd at all it has nothing to do.
func TestWizardSSHNeedsTheInclude(t *testing.T) {
	o, _, l := wizardRoot(t)
	conf := filepath.Join(o.Root, SSHDConfig)
	os.WriteFile(conf, []byte("PermitRootLogin no\n"), 0o644)
	out := applySSH(o, PlanWizard(config(t), "x"), l)
	if out.Result != Failed || !strings.Contains(out.Detail, "Include /etc/ssh/sshd_config.d/*.conf") {
		t.Errorf("no Include: %+v", out)
	}
	os.Remove(conf)
	if out := applySSH(o, PlanWizard(config(t), "x"), l); out.Result != Unchanged || !strings.Contains(out.Detail, "not installed") {
		t.Errorf("no sshd: %+v", out)
	}
}

// An empty Data Plane API password gives an empty userlist, never the
// old appliance's "haproxy".
func TestWizardNoDataplanePasswordNoUser(t *testing.T) {
	o, _, l := wizardRoot(t)
	c := config(t, appliance.KeyHAProxyPassword, "")
	if out := applyDataplane(o, PlanWizard(c, "x"), l); out.Result != Applied {
		t.Fatalf("%+v", out)
	}
	users, _ := os.ReadFile(filepath.Join(o.Root, DataplaneUsers))
	if strings.Contains(string(users), "\n    user ") || shadow.Matches(userlistHash(users, "admin"), "haproxy") {
		t.Errorf("a user without a password:\n%s", users)
	}
}

// sshd itself reads the drop-in as the wizard meant, and HAProxy accepts
// the userlist: the programs, not our reading of their syntax.
func TestWizardFilesAsTheProgramsReadThem(t *testing.T) {
	o, _, l := wizardRoot(t)
	for _, permit := range []string{"True", "false"} {
		c := config(t, appliance.KeyPermitRootLogin, permit, appliance.KeyHAProxyUser, "ops@lb", appliance.KeyHAProxyPassword, apiPwd)
		p := PlanWizard(c, "x")
		applySSH(o, p, l)
		if out := applyDataplane(o, p, l); out.Result == Failed {
			t.Fatal(out.Detail)
		}
		sshdT(t, o.Root, map[string]string{"True": "yes", "false": "no"}[permit])
	}
	users := filepath.Join(o.Root, DataplaneUsers)
	out, err := exec.Command("haproxy", "-c", "-f", users).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 2) || bytes.Contains(out, []byte("ALERT")) {
		t.Errorf("haproxy -c: %v\n%s", err, out)
	}
	bad := append(readFile(t, users), []byte("    user x bogus y\n")...)
	if err := checkUserlist(t.TempDir(), bad); err == nil {
		t.Error("checkUserlist accepted a broken userlist")
	}
}

// sshdT runs sshd -T on the root's sshd_config, the drop-in path rewritten
// to the root's own, and checks PermitRootLogin.
func sshdT(t *testing.T, root, want string) {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		t.Fatal("sshd is not installed; scripts/deps.sh installs openssh-server")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "sshd_config")
	main := strings.ReplaceAll(string(readFile(t, filepath.Join(root, SSHDConfig))), "/etc/ssh/sshd_config.d/", filepath.Join(root, "etc/ssh/sshd_config.d")+"/")
	// sshd -T needs a host key; one made for the test, never this machine's.
	key := filepath.Join(dir, "host_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	main += "HostKey " + key + "\n"
	os.WriteFile(conf, []byte(main), 0o600)
	// sshd wants its privilege separation directory, /run/sshd, which the
	// package's tmpfiles.d makes at boot: give it one on a tmpfs in a mount
	// namespace of its own, never on this machine's /run.
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-ec",
		`mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd && exec "$0" -T -f "$1"`, sshd, conf).CombinedOutput()
	if err != nil {
		t.Fatalf("sshd -T: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "\npermitrootlogin "+want+"\n") {
		t.Errorf("sshd -T does not show permitrootlogin %s:\n%s", want, grepLine(string(out), "permitrootlogin"))
	}
}

// serverCert returns the Data Plane API's server certificate after
// checking that it is signed by ca, serves TLS, and its key is 0600.
func serverCert(t *testing.T, root string, ca []byte) *x509.Certificate {
	t.Helper()
	certPEM, keyPEM := readFile(t, filepath.Join(root, ServerCertFile)), readFile(t, filepath.Join(root, ServerKeyFile))
	if m := mode(t, filepath.Join(root, ServerKeyFile)); m != 0o600 {
		t.Errorf("server key mode %v", m)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("the server certificate is not signed by the CA: %v", err)
	}
	return c
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func grepLine(s, word string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, word) {
			return l
		}
	}
	return "(no " + word + ")"
}

func mustNow() time.Time { return time.Now() }

// A dry run says which of the wizard's parts would change: all on a fresh
// root, none once applied.
func TestWizardDryRun(t *testing.T) {
	o, _, l := wizardRoot(t)
	c := config(t, appliance.KeyRootPassword, rootPwd, appliance.KeyHAProxyPassword, apiPwd)
	p := PlanWizard(c, "x")
	for _, oc := range plannedWizard(o, p, map[string]bool{PartSSH: true}) {
		want := Planned
		if oc.Part == PartSSH {
			want = Refused
		}
		if oc.Result != want {
			t.Errorf("fresh: %s %s, want %s", oc.Part, oc.Result, want)
		}
	}
	applyWizard(o, p, map[string]bool{}, l)
	for _, oc := range plannedWizard(o, p, map[string]bool{}) {
		if oc.Result != Unchanged {
			t.Errorf("applied: %s %s, want unchanged", oc.Part, oc.Result)
		}
	}
}

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"html"
	"io"
	"io/fs"
	"math/big"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/firstboot"
	"github.com/anyip/anyip/internal/ovfenv"
	"github.com/anyip/anyip/internal/ovfenv/isotest"
)

// These tests deploy the shipped example environments the way a VM gets
// them: through guestinfo (a stand-in for open-vm-tools' vmware-rpctool on
// PATH, found by the automatic source order with no --ovf-env) and through
// the OVF ISO transport (a real ISO 9660 image). The outcome must reach
// guestinfo.anyip.status, and no secret from the wizard may appear in it,
// in the output or in any file written.

// rpctool is a fake vmware-rpctool: it answers `info-get guestinfo.ovfEnv`
// with a file (or, without one, fails as the real one does when the VM has
// no vApp options), and records every request and every published status.
type rpctool struct {
	t     *testing.T
	dir   string // holds vmware-rpctool; the PATH of the command under test
	calls string // one request per record
	sets  string // the values of info-set guestinfo.anyip.status
	ca    string // the values of info-set guestinfo.dataplaneapi.cacert
}

const recordSep = "\x1e"

func newRpctool(t *testing.T, envFile string) *rpctool {
	t.Helper()
	dir := t.TempDir()
	f := &rpctool{t: t, dir: filepath.Join(dir, "bin"), calls: filepath.Join(dir, "calls"), sets: filepath.Join(dir, "status"), ca: filepath.Join(dir, "cacert")}
	if err := os.Mkdir(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	answer := `echo 'No value found' >&2; exit 1`
	if envFile != "" {
		answer = `cat ` + shellQuote(envFile)
	}
	script := `#!/bin/sh
# Stands in for open-vm-tools' vmware-rpctool: one argument, the request.
PATH=/usr/bin:/bin
printf '%s\036' "$*" >>` + shellQuote(f.calls) + `
if [ $# -ne 1 ]; then echo "usage: vmware-rpctool <request>" >&2; exit 2; fi
case "$1" in
'info-get ` + ovfenv.OVFEnvKey + `')
	` + answer + ` ;;
'info-set ` + ovfenv.StatusKey + ` '*)
	printf '%s\036' "${1#'info-set ` + ovfenv.StatusKey + ` '}" >>` + shellQuote(f.sets) + ` ;;
'info-set ` + ovfenv.CACertKey + ` '*)
	printf '%s\036' "${1#'info-set ` + ovfenv.CACertKey + ` '}" >>` + shellQuote(f.ca) + ` ;;
*)
	echo 'Unknown command' >&2; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(f.dir, "vmware-rpctool"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func records(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), recordSep), recordSep)
}

// statuses returns every value published to guestinfo.anyip.status.
func (f *rpctool) statuses() []string { return records(f.t, f.sets) }

// status returns the one value published.
func (f *rpctool) status() string {
	f.t.Helper()
	s := f.statuses()
	if len(s) != 1 {
		f.t.Fatalf("published %d statuses, want 1: %q (requests: %q)", len(s), s, records(f.t, f.calls))
	}
	return s[0]
}

// firstboot runs anyip-firstboot in the box with PATH set to path only, so
// that the programs it may find (vmware-rpctool, vmtoolsd) are exactly the
// ones the test put there.
func (b *box) firstboot(path string, args ...string) result {
	b.t.Helper()
	return b.firstbootStdin(path, nil, args...)
}

// firstbootStdin is firstboot with stdin (nil: none).
func (b *box) firstbootStdin(path string, stdin io.Reader, args ...string) result {
	b.t.Helper()
	args = append([]string{"--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root}, args...)
	cmd := b.ns.Command(e2etest.Binary(b.t, "anyip-firstboot"), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PATH="+path)
	cmd.Stdin = stdin
	r := e2etest.Exec(b.t, cmd)
	// On a VMware VM the backdoor comes first and reaches the real
	// hypervisor, which the fake program cannot stand in for.
	if strings.Contains(r.Stderr, "source=backdoor") || strings.Contains(r.Stderr, "via=backdoor") {
		b.t.Skip("this machine is a VMware VM: its own guestinfo answered through the backdoor before the fake vmware-rpctool")
	}
	return r
}

// secrets are distinctive values for the wizard's password fields; any of
// them found in an output or a file is a leak.
type secrets struct {
	props  []string // key, value pairs to set in the environment
	values []string // what must never appear
}

// newSecrets makes passwords and a real CA (the certificate must match its
// key to pass validation), with the PEM newlines turned into spaces, as
// they arrive from the vSphere web form.
func newSecrets(t *testing.T) secrets {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "anyip test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	flat := func(b []byte) string { return strings.Join(strings.Fields(string(b)), " ") }
	certPEM := flat(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM := flat(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	body := strings.Fields(keyPEM)[4] // after "-----BEGIN PRIVATE KEY-----"
	return secrets{
		props: []string{
			"appliance.root_pwd", "Rt-S3cret-q9Wz",
			"loadbalance.haproxy_pwd", "Api-S3cret-x7Kp",
			"appliance.ca_cert", certPEM,
			"appliance.ca_cert_key", keyPEM,
		},
		values: []string{"Rt-S3cret-q9Wz", "Api-S3cret-x7Kp", keyPEM, body[:32]},
	}
}

// check fails the test if a secret appears in any of the texts or in any
// file under the directories.
func (s secrets) check(t *testing.T, texts []string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() && !secretDestination(t, p) {
				data, _ := os.ReadFile(p)
				texts = append(texts, string(data))
			}
			return nil
		})
	}
	all := strings.Join(texts, "\n")
	for i, v := range s.values {
		if strings.Contains(all, v) {
			t.Errorf("secret %d (%.12s...) leaked", i, v)
		}
	}
}

// secretDestination reports whether p is the one file a secret is written
// to as it is, the CA's key under a first-boot root, and fails the test
// unless that file is 0600. (Passwords reach /etc/shadow and the Data
// Plane API's userlist only as crypt hashes, and are searched for there.)
func secretDestination(t *testing.T, p string) bool {
	t.Helper()
	if !strings.HasSuffix(p, string(filepath.Separator)+filepath.FromSlash(firstboot.CAKeyFile)) {
		return false
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: the CA key's file is not 0600 (%v)", p, err)
	}
	return true
}

// example returns a shipped example environment with some properties
// replaced, as ESX would hand it over.
func example(t *testing.T, name string, kv ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e2etest.Root(), "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		re := regexp.MustCompile(`(oe:key="` + regexp.QuoteMeta(kv[i]) + `"\s+oe:value=")[^"]*(")`)
		if !re.Match(data) {
			t.Fatalf("%s has no property %s", name, kv[i])
		}
		v := html.EscapeString(kv[i+1])
		data = re.ReplaceAllFunc(data, func(m []byte) []byte {
			sub := re.FindSubmatch(m)
			return slices.Concat(sub[1], []byte(v), sub[2])
		})
	}
	return data
}

// wantedRanges reads the VIP ranges the environment asks for.
func wantedRanges(t *testing.T, env []byte) []string {
	t.Helper()
	e, err := ovfenv.Parse(env)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range strings.Split(e.Properties["loadbalance.service_ip_range"], ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(f))
		if err != nil {
			t.Fatalf("example range %q: %v", f, err)
		}
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkApplied checks the routes, the ranges file and the published status
// of a successful run.
func (b *box) checkApplied(r result, tool *rpctool, want []string) {
	b.t.Helper()
	b.want(r, 0)
	e2etest.WantRoutes(b.t, b.routes(), want...)
	cfg := b.readCfg()
	for _, rt := range want {
		if !strings.Contains(cfg, "\n"+rt+"\n") {
			b.t.Errorf("cfg lacks %s:\n%s", rt, cfg)
		}
	}
	if got, w := tool.status(), "ok: "+cli.Plural(len(want), "range")+" in place"; got != w {
		b.t.Errorf("published status %q, want %q", got, w)
	}
	if !strings.Contains(r.Stderr, "via=vmware-rpctool") {
		b.t.Errorf("the log does not say the status went through vmware-rpctool:\n%s", r.Stderr)
	}
}

var examples = []string{"ovf-env-2nic.xml", "ovf-env-3nic.xml"}

// roles are the NICs an example deploys.
func roles(name string) []string {
	if strings.Contains(name, "3nic") {
		return []string{"management", "workload", "frontend"}
	}
	return []string{"management", "workload"}
}

// With no --ovf-env the backdoor is tried first and fails cleanly off
// VMware, then vmware-rpctool answers.
func TestGuestinfoDeployExamples(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			sec := newSecrets(t)
			env := example(t, name, sec.props...)
			tool := newRpctool(t, writeTemp(t, "ovf-env.xml", env))
			b := newBox(t)
			b.roleNICs(roles(name)...)

			r := b.firstboot(tool.dir)
			b.checkApplied(r, tool, wantedRanges(t, env))
			if !strings.Contains(r.Stderr, "source=vmware-rpctool") {
				t.Errorf("the log does not name the source vmware-rpctool:\n%s", r.Stderr)
			}
			// The CA certificate the wizard gave, published for the
			// Supervisor as the old appliance did; never the key.
			cert, _ := os.ReadFile(filepath.Join(b.root, firstboot.CACertFile))
			if ca := records(t, tool.ca); len(ca) != 1 || ca[0] != base64.StdEncoding.EncodeToString(cert) || len(cert) == 0 {
				t.Errorf("published CA certificates %.40q, want the one in %s", ca, firstboot.CACertFile)
			}
			calls := records(t, tool.calls)
			if len(calls) == 0 || calls[0] != "info-get "+ovfenv.OVFEnvKey {
				t.Errorf("vmware-rpctool requests %q, want info-get %s first", calls, ovfenv.OVFEnvKey)
			}

			// The next boot with the same properties is a no-op, and
			// says so in guestinfo too.
			r2 := b.firstboot(tool.dir)
			b.want(r2, 0)
			if !strings.Contains(r2.Stdout, "nothing to do") {
				t.Errorf("second run:\n%s", r2.Stdout)
			}
			if s := tool.statuses(); len(s) != 2 || s[1] != s[0] {
				t.Errorf("statuses %q, want the same ok twice", s)
			}
			sec.check(t, []string{r.Stdout, r.Stderr, r2.Stdout, r2.Stderr}, b.dir, filepath.Dir(tool.sets))
		})
	}
}

// isoBuilders make an ISO 9660 image holding ovf-env.xml: always the Go
// writer, and xorriso, the tool scripts/deps.sh installs, when present.
func isoBuilders(t *testing.T) map[string]func(t *testing.T, env []byte) string {
	b := map[string]func(t *testing.T, env []byte) string{
		"go writer": func(t *testing.T, env []byte) string {
			return writeTemp(t, "ovf-env.iso", isotest.Build(t, isotest.OVFEnv(env)))
		},
	}
	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Log("xorriso not on PATH (scripts/deps.sh installs it): images from the Go writer only")
		return b
	}
	b["xorriso"] = func(t *testing.T, env []byte) string {
		src := t.TempDir()
		if err := os.WriteFile(filepath.Join(src, "ovf-env.xml"), env, 0o600); err != nil {
			t.Fatal(err)
		}
		iso := filepath.Join(t.TempDir(), "ovf-env.iso")
		out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-J", "-R", "-V", "OVF ENV", "-o", iso, src).CombinedOutput()
		if err != nil {
			t.Fatalf("xorriso: %v\n%s", err, out)
		}
		return iso
	}
	return b
}

// The OVF ISO transport: --ovf-env names the image. vmware-rpctool is on
// PATH only to record the status: it has no environment to give.
func TestISODeployExamples(t *testing.T) {
	for builder, build := range isoBuilders(t) {
		for _, name := range examples {
			t.Run(builder+"/"+name, func(t *testing.T) {
				sec := newSecrets(t)
				env := example(t, name, sec.props...)
				iso := build(t, env)
				tool := newRpctool(t, "")
				b := newBox(t)
				b.roleNICs(roles(name)...)

				r := b.firstboot(tool.dir, "--ovf-env", iso)
				b.checkApplied(r, tool, wantedRanges(t, env))
				if !strings.Contains(r.Stderr, "source="+iso) {
					t.Errorf("the log does not name the image as the source:\n%s", r.Stderr)
				}
				if calls := records(t, tool.calls); slices.Contains(calls, "info-get "+ovfenv.OVFEnvKey) {
					t.Errorf("asked guestinfo although --ovf-env was given: %q", calls)
				}
				sec.check(t, []string{r.Stdout, r.Stderr}, b.dir, filepath.Dir(tool.sets))
			})
		}
	}
}

// An invalid environment exits 1, changes nothing, and publishes
// "invalid: ..." naming each bad property, without their secret values.
func TestGuestinfoInvalidEnvironment(t *testing.T) {
	const shortPwd = "Qz7xk" // under MinLen(6)
	const badKey = "-----BEGIN PRIVATE KEY----- S3cretKeyMaterialYh7 -----END PRIVATE KEY-----"
	sec := newSecrets(t)
	sec.values = append(sec.values, shortPwd, "S3cretKeyMaterialYh7")
	props := append(slices.Clone(sec.props),
		// Contains the frontend gateway 10.40.30.1 and address 10.40.30.5.
		"loadbalance.service_ip_range", "10.40.30.0/26",
		"appliance.root_pwd", shortPwd,
		"appliance.ca_cert_key", badKey,
	)
	for _, via := range []string{"guestinfo", "iso"} {
		t.Run(via, func(t *testing.T) {
			env := example(t, "ovf-env-3nic.xml", props...)
			b := newBox(t)
			var r result
			var tool *rpctool
			if via == "iso" {
				tool = newRpctool(t, "")
				r = b.firstboot(tool.dir, "--ovf-env", writeTemp(t, "env.iso", isotest.Build(t, isotest.OVFEnv(env))))
			} else {
				tool = newRpctool(t, writeTemp(t, "ovf-env.xml", env))
				r = b.firstboot(tool.dir)
			}
			b.want(r, 1)
			st := tool.status()
			if !strings.HasPrefix(st, "invalid: ") {
				t.Errorf("published status %q, want invalid: ...", st)
			}
			for _, w := range []string{"loadbalance.service_ip_range", "10.40.30.0/26", "10.40.30.1", "appliance.root_pwd", "appliance.ca_cert_key", "nothing was changed"} {
				if !strings.Contains(st, w) {
					t.Errorf("published status lacks %q:\n%s", w, st)
				}
			}
			if len(st) > ovfenv.MaxStatusSize {
				t.Errorf("published status is %d bytes, over %d", len(st), ovfenv.MaxStatusSize)
			}
			if cfg := b.readCfg(); cfg != "" {
				t.Errorf("invalid run wrote the cfg:\n%s", cfg)
			}
			if _, err := os.Stat(b.state); err == nil {
				t.Error("invalid run wrote state")
			}
			e2etest.WantRoutes(t, b.routes())
			sec.check(t, []string{r.Stdout, r.Stderr}, b.dir, filepath.Dir(tool.sets))
		})
	}
}

// No source at all: not VMware, no open-vm-tools programs on PATH, no
// CD-ROM with an environment. Exit 3, naming every source tried.
func TestNoSourceWorks(t *testing.T) {
	b := newBox(t)
	r := b.firstboot(t.TempDir()) // an empty PATH directory
	b.want(r, 3)
	out := r.All()
	for _, w := range []string{"no OVF environment found", "backdoor:", "vmware-rpctool: not found in PATH", "vmtoolsd: not found in PATH", "iso:"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// Off VMware (the CPU says so) not publishing is a note, once; on a
	// VMware VM whose channels all fail it is a warning.
	switch {
	case strings.Contains(r.Stderr, `level=INFO msg="not a VMware VM: the outcome is not published"`):
		if strings.Contains(r.Stderr, "could not publish") || strings.Count(r.Stderr, "not a VMware VM") != 1 {
			t.Errorf("off VMware the publication is noted more than once, or warned about:\n%s", r.Stderr)
		}
	case !strings.Contains(r.Stderr, "level=WARN msg=\"could not publish"):
		t.Errorf("the failed publication is not logged:\n%s", r.Stderr)
	}
	if b.readCfg() != "" {
		t.Error("cfg written")
	}
	e2etest.WantRoutes(t, b.routes())
}

// A VM deployed without vApp options: vmware-rpctool works but has no
// environment. Exit 3, and the failure reaches guestinfo.
func TestGuestinfoWithoutEnvironment(t *testing.T) {
	b := newBox(t)
	tool := newRpctool(t, "")
	r := b.firstboot(tool.dir)
	b.want(r, 3)
	st := tool.status()
	for _, w := range []string{"failed: no OVF environment found", "backdoor:", "vmware-rpctool: exit status 1: No value found", "vmtoolsd: not found in PATH", "iso:"} {
		if !strings.Contains(st, w) {
			t.Errorf("published status lacks %q:\n%s", w, st)
		}
	}
	if !strings.Contains(r.Stdout, "No value found") {
		t.Errorf("output does not say why:\n%s", r.Stdout)
	}
	e2etest.WantRoutes(t, b.routes())
}

package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-crypt/crypt"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/firstboot"
	"github.com/anyip/anyip/internal/ovfenv/isotest"
)

// The wizard's secrets (appliance.root_pwd, loadbalance.haproxy_pwd,
// appliance.ca_cert_key) must never reach stdout, stderr, a file first boot
// writes, or the status published to guestinfo: on any command path. One
// test runs them all with recognisable values and searches every byte.

// leakSecrets are the values the test plants, and what may never appear.
type leakSecrets struct {
	root, api    string // passwords
	inject       string // a password with what govc's InjectOvfEnv leaves unescaped
	cert, key    string // a CA certificate and its key, PEM newlines as spaces
	otherKey     string // a key that does not belong to cert
	short        string // a password too short to be accepted
	forbidden    []string
	forbiddenWhy []string
}

// rsaCA makes a self-signed CA and returns its certificate and PKCS #1 key
// in PEM, each flattened to one line as the vSphere web form sends it.
func rsaCA(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "anyip secrets test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	flat := func(b []byte) string { return strings.Join(strings.Fields(string(b)), " ") }
	return flat(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		flat(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

func newLeakSecrets(t *testing.T, public string) *leakSecrets {
	t.Helper()
	s := &leakSecrets{root: "Rt-S3cret-q9Wz-7Hd", api: "Api-S3cret-x7Kp-2Mv", short: "Qz7xk", inject: "In&j<3c>t'Pw-k4Rn"}
	s.cert, s.key = rsaCA(t)
	_, s.otherKey = rsaCA(t)
	// Non-secret text: what the environment holds besides the secrets,
	// and the certificate. An 8-character piece of a secret that occurs
	// in it is not distinctive.
	public += "\n" + s.cert
	add := func(why, v string) {
		if !strings.Contains(public, v) {
			s.forbidden = append(s.forbidden, v)
			s.forbiddenWhy = append(s.forbiddenWhy, why)
		}
	}
	for name, v := range map[string]string{"appliance.root_pwd": s.root, "loadbalance.haproxy_pwd": s.api, "short appliance.root_pwd": s.short, "InjectOvfEnv appliance.root_pwd": s.inject} {
		add(name, v)
		for i := 0; i+8 <= len(v); i++ {
			add(fmt.Sprintf("%s[%d:%d]", name, i, i+8), v[i:i+8])
		}
	}
	for name, v := range map[string]string{"appliance.ca_cert_key": s.key, "mismatched appliance.ca_cert_key": s.otherKey} {
		add(name, v)
		// The base64 body, line by line as PEM has it, and every
		// 8-character piece of it. The armour is not secret.
		f := strings.Fields(v)
		body := f[4 : len(f)-4] // -----BEGIN RSA PRIVATE KEY----- ... -----END RSA PRIVATE KEY-----
		if len(body) < 10 {
			t.Fatalf("%s: %d body lines", name, len(body))
		}
		for i, l := range body {
			add(fmt.Sprintf("%s body line %d", name, i+1), l)
		}
		all := strings.Join(body, "")
		for i := 0; i+8 <= len(all); i++ {
			add(fmt.Sprintf("%s body[%d:%d]", name, i, i+8), all[i:i+8])
		}
	}
	return s
}

// hashFor reports whether a line of data (shadow's or a userlist's) for
// user holds a crypt hash of pw.
func hashFor(data []byte, user, pw string) bool {
	for _, l := range strings.Split(string(data), "\n") {
		var fields []string
		switch {
		case strings.HasPrefix(l, user+":"):
			fields = strings.Split(l, ":")
		case strings.HasPrefix(strings.TrimSpace(l), "user "+user+" password "):
			fields = append([]string{""}, strings.Fields(l)[3])
		default:
			continue
		}
		if ok, err := crypt.CheckPassword(pw, fields[1]); err == nil && ok {
			return true
		}
	}
	return false
}

// props sets the secrets on p.
func (s *leakSecrets) props(p e2etest.Props) e2etest.Props {
	return p.With("appliance.root_pwd", s.root, "loadbalance.haproxy_pwd", s.api,
		"appliance.ca_cert", s.cert, "appliance.ca_cert_key", s.key)
}

// find returns a description of every forbidden value found in hay.
func (s *leakSecrets) find(hay string) []string {
	var out []string
	for i, v := range s.forbidden {
		if strings.Contains(hay, v) {
			out = append(out, s.forbiddenWhy[i])
		}
	}
	return out
}

// leakRun is one command run and what it showed.
type leakRun struct {
	name string
	r    result
}

// breakAttr returns env with the attribute holding value replaced by a
// broken one made from it.
func breakAttr(t *testing.T, env []byte, value string, broken func(v string) string) []byte {
	t.Helper()
	attr := `oe:value="` + value + `"`
	if bytes.Count(env, []byte(attr)) != 1 {
		t.Fatalf("the environment does not hold %.20s... exactly once", attr)
	}
	return bytes.Replace(env, []byte(attr), []byte(broken(value)), 1)
}

// Every command path of first boot, and anyip-routes on what it wrote:
// success from each source, each kind of failure, dry run, JSON, --force,
// the unchanged second run. Nothing any of them writes holds a secret.
func TestSecretsNeverLeak(t *testing.T) {
	base := e2etest.Base3NIC()
	public := string(base.With("appliance.root_pwd", "", "loadbalance.haproxy_pwd", "", "appliance.ca_cert_key", "").EnvXML())
	sec := newLeakSecrets(t, public)
	good := sec.props(base)

	b := newBox(t)
	envFile := filepath.Join(t.TempDir(), "guestinfo-ovf-env.xml")
	tool := newRpctool(t, envFile) // answers info-get with envFile, records info-set
	noEnv := newRpctool(t, "")     // a VM without vApp options
	var runs []leakRun
	runWith := func(name string, tool *rpctool, stdin []byte, wantCode int, want []string, args ...string) result {
		t.Helper()
		var in *bytes.Reader
		if stdin != nil {
			in = bytes.NewReader(stdin)
		}
		var r result
		if in != nil {
			r = b.firstbootStdin(tool.dir, in, args...)
		} else {
			r = b.firstboot(tool.dir, args...)
		}
		runs = append(runs, leakRun{name, r})
		if r.Code != wantCode {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", name, r.Code, wantCode, r.Stdout, r.Stderr)
		}
		for _, w := range want {
			if !strings.Contains(r.Stdout, w) {
				t.Errorf("%s: stdout lacks %q:\n%s", name, w, r.Stdout)
			}
		}
		return r
	}
	// guestinfo makes the fake vmware-rpctool answer with the environment.
	guestinfo := func(p e2etest.Props) {
		t.Helper()
		if err := os.WriteFile(envFile, p.EnvXML(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := func(env []byte) string { return writeTemp(t, "ovf-env.xml", env) }
	withRanges := func(r string) e2etest.Props { return good.With("loadbalance.service_ip_range", r) }

	// govc's InjectOvfEnv writes values unescaped: the ranges apply and
	// root's password is exactly what was typed, & < > ' included.
	injected := good.With("appliance.root_pwd", sec.inject, "loadbalance.service_ip_range", "10.30.0.64/29")
	runWith("InjectOvfEnv, unescaped values", tool, nil, 0, []string{"10.30.0.64/29", "root password: applied"}, "--ovf-env", file(injected.InjectOvfEnvXML()))
	if sh, _ := os.ReadFile(filepath.Join(b.root, firstboot.ShadowFile)); !hashFor(sh, "root", sec.inject) {
		t.Error("after the InjectOvfEnv run root's password is not the one typed")
	}

	// Success, from every source; each run changes the ranges, so each
	// one really applies.
	guestinfo(good)
	if r := runWith("guestinfo", tool, nil, 0, []string{"10.30.0.128/26"}); !strings.Contains(r.Stderr, "source=vmware-rpctool") {
		t.Errorf("the environment did not come from guestinfo (vmware-rpctool):\n%s", r.Stderr)
	}
	runWith("guestinfo, unchanged second run", tool, nil, 0, []string{"nothing to do"})
	runWith("guestinfo, --force", tool, nil, 0, nil, "--force")
	runWith("guestinfo, unchanged, JSON", tool, nil, 0, []string{`"result": "unchanged"`}, "--output", "json")
	runWith("--ovf-env file", tool, nil, 0, []string{"10.30.0.64/27"}, "--ovf-env", file(withRanges("10.30.0.64/27").EnvXML()))
	runWith("--ovf-env - (stdin)", tool, withRanges("10.30.0.96/27").EnvXML(), 0, []string{"10.30.0.96/27"}, "--ovf-env", "-")
	runWith("--ovf-env ISO", tool, nil, 0, []string{"10.30.0.160/27"},
		"--ovf-env", writeTemp(t, "ovf-env.iso", isotest.Build(t, isotest.OVFEnv(withRanges("10.30.0.160/27").EnvXML()))))
	runWith("--ovf-env file, JSON", tool, nil, 0, []string{`"result": "ok"`}, "--ovf-env", file(withRanges("10.30.0.128/26, 10.30.0.192/27").EnvXML()), "--output", "json")
	runWith("dry run", tool, nil, 0, []string{"dry run", "+ 10.30.0.64/28"}, "--ovf-env", file(withRanges("10.30.0.64/28").EnvXML()), "--dry-run")
	runWith("dry run, JSON", tool, nil, 0, []string{`"mode": "dry-run"`}, "--ovf-env", file(withRanges("10.30.0.64/28").EnvXML()), "--dry-run", "--output", "json")
	runWith("dry run, stdin", tool, withRanges("10.30.0.64/28").EnvXML(), 0, []string{"dry run"}, "--ovf-env", "-", "--dry-run")
	cfgAfterSuccess := b.readCfg()

	// Each kind of failure, as text from a file and as JSON from
	// guestinfo; nothing is changed by any of them.
	malformed := func(broken func(v string) string) []byte {
		return breakAttr(t, good.EnvXML(), sec.root, broken)
	}
	for _, f := range []struct {
		name string
		env  []byte
		want []string
	}{
		{"invalid range", withRanges("10.30.0.0/24").EnvXML(), []string{"loadbalance.service_ip_range", "10.30.0.1"}},
		{"short password", good.With("appliance.root_pwd", sec.short).EnvXML(), []string{"appliance.root_pwd"}},
		{"mismatched CA key", good.With("appliance.ca_cert_key", sec.otherKey).EnvXML(), []string{"appliance.ca_cert_key", "does not match"}},
		{"malformed XML: unterminated value", malformed(func(v string) string { return `oe:value="` + v }), []string{"malformed"}},
		{"malformed XML: unquoted value", malformed(func(v string) string { return `oe:value=` + v }), []string{"malformed"}},
		{"malformed XML: \" in a password", malformed(func(v string) string { return `oe:value="` + v[:4] + `"` + v[4:] + `"` }), []string{"malformed", `"appliance.root_pwd"`, "InjectOvfEnv"}},
		{"malformed XML: \" in the key", breakAttr(t, good.EnvXML(), sec.key, func(v string) string { return `oe:value="` + v[:40] + `"` + v[40:] + `"` }), []string{"malformed", `"appliance.ca_cert_key"`}},
	} {
		runWith(f.name+", file", tool, nil, 1, append(f.want, "nothing was changed"), "--ovf-env", file(f.env))
		if err := os.WriteFile(envFile, f.env, 0o600); err != nil {
			t.Fatal(err)
		}
		runWith(f.name+", guestinfo, JSON", tool, nil, 1, []string{`"result": "invalid"`}, "--output", "json")
		runWith(f.name+", stdin, dry run", tool, f.env, 1, nil, "--ovf-env", "-", "--dry-run")
	}
	runWith("no source at all", noEnv, nil, 3, []string{"no OVF environment found"})
	runWith("no source at all, JSON", noEnv, nil, 3, []string{`"result": "failed"`}, "--output", "json")
	if got := b.readCfg(); got != cfgAfterSuccess {
		t.Errorf("a failed run changed the cfg:\nbefore:\n%s\nafter:\n%s", cfgAfterSuccess, got)
	}

	// anyip-routes on what first boot left: it never sees a secret, but
	// the whole appliance path is searched.
	routesRun := func(name string, wantCodes []int, args ...string) result {
		t.Helper()
		cmd := b.ns.Command(e2etest.Binary(t, "anyip-routes"), append([]string{"--config", b.cfg, "--resolv-conf", b.resolvConf}, args...)...)
		r := e2etest.Exec(t, cmd)
		runs = append(runs, leakRun{name, r})
		if !slices.Contains(wantCodes, r.Code) {
			t.Errorf("%s: exit %d, want one of %v\n%s", name, r.Code, wantCodes, r.All())
		}
		return r
	}
	routesRun("anyip-routes up", []int{0}, "up")
	r := routesRun("anyip-routes check --output json", []int{0, 1, 3}, "check", "--haproxy-config=", "--output", "json")
	var rep struct {
		Checks []struct{ Name, Status string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || len(rep.Checks) == 0 {
		t.Errorf("anyip-routes check --output json: not a report (%v):\n%s", err, r.Stdout)
	}
	for _, c := range rep.Checks {
		if c.Name == "config" && !strings.EqualFold(c.Status, "pass") {
			t.Errorf("check of the cfg first boot wrote: config %s\n%s", c.Status, r.Stdout)
		}
	}

	// Search everything: outputs, every file under the config and state
	// directories, every request to vmware-rpctool (every status
	// published).
	type source struct{ name, text string }
	var hay []source
	for _, run := range runs {
		hay = append(hay, source{run.name + ": stdout", run.r.Stdout}, source{run.name + ": stderr", run.r.Stderr})
	}
	files := 0
	for _, dir := range []string{b.dir, filepath.Dir(tool.sets), filepath.Dir(noEnv.sets)} {
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.Type().IsRegular() && !strings.HasPrefix(p, tool.dir) && !strings.HasPrefix(p, noEnv.dir) && !secretDestination(t, p) {
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				hay = append(hay, source{p, string(data)})
				files++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	statuses := append(tool.statuses(), noEnv.statuses()...)
	for i, s := range statuses {
		hay = append(hay, source{fmt.Sprintf("published status %d", i+1), s})
	}
	for _, h := range hay {
		if found := sec.find(h.text); len(found) > 0 {
			t.Errorf("%s holds %d secret pieces, e.g. %s", h.name, len(found), strings.Join(found[:min(3, len(found))], ", "))
		}
	}

	// The search looked at what it should have: the files of both
	// directories, the statuses of every published run, and reports that
	// name the secret properties.
	for _, p := range []string{b.cfg, filepath.Join(b.state, "firstboot.yaml"), filepath.Join(b.root, firstboot.DataplaneConf), filepath.Join(b.root, firstboot.SSHDropIn)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("nothing to search in %s: %v", p, err)
		}
	}
	// The passwords reached their files, as hashes only (searched above
	// for the clear text), and the key its own 0600 file.
	for _, h := range []struct{ file, user, pw string }{
		{firstboot.ShadowFile, "root", sec.root},
		{firstboot.DataplaneUsers, "admin", sec.api},
	} {
		data, _ := os.ReadFile(filepath.Join(b.root, h.file))
		if !hashFor(data, h.user, h.pw) {
			t.Errorf("%s holds no hash of the wizard's password for %s", h.file, h.user)
		}
	}
	if key, err := os.ReadFile(filepath.Join(b.root, firstboot.CAKeyFile)); err != nil || !strings.Contains(strings.Join(strings.Fields(string(key)), " "), sec.key) {
		t.Errorf("%s does not hold the wizard's CA key (%v)", firstboot.CAKeyFile, err)
	}
	published := 0
	for _, run := range runs {
		if strings.HasPrefix(run.name, "anyip-routes") || strings.Contains(run.name, "dry run") {
			continue
		}
		published++
	}
	if len(statuses) != published {
		t.Errorf("%d statuses published, want one per run that publishes (%d)", len(statuses), published)
	}
	all := ""
	for _, h := range hay {
		all += h.text
	}
	for _, w := range []string{"appliance.root_pwd", "appliance.ca_cert_key", "invalid: ", "ok: "} {
		if !strings.Contains(all, w) {
			t.Errorf("no output or status mentions %q: the failures did not run as meant", w)
		}
	}
	t.Logf("%d runs, %d files, %d published statuses searched for %d secret values and pieces", len(runs), files, len(statuses), len(sec.forbidden))
}

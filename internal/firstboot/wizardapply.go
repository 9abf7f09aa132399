package firstboot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/anyip/anyip/internal/pki"
	"github.com/anyip/anyip/internal/render"
	"github.com/anyip/anyip/internal/shadow"
	"github.com/anyip/anyip/internal/textfile"
)

// dataplaneRounds are the SHA-512 crypt rounds of the Data Plane API's
// password: it checks the hash on every request, so glibc's default
// (5000) rather than root's shadow.Rounds.
const dataplaneRounds = 5000

// maxFile bounds every file the wizard's parts read back.
const maxFile = 1 << 20

// wizardParts are the rest of the wizard's parts, in the order they apply.
var wizardParts = []string{PartRootPassword, PartSSH, PartDataplane, PartCA}

// applyWizard applies the root password, SSH, Data Plane API and CA parts,
// each on its own.
func applyWizard(o Options, p WizardPlan, refused map[string]bool, log *slog.Logger) []Outcome {
	parts := []struct {
		name  string
		apply func(Options, WizardPlan, *slog.Logger) Outcome
	}{
		{PartRootPassword, applyRootPassword},
		{PartSSH, applySSH},
		{PartDataplane, applyDataplane},
		{PartCA, applyCA},
	}
	var out []Outcome
	for _, part := range parts {
		if refused[part.name] {
			log.Error("the part is refused; it stays as it is", "part", part.name)
			out = append(out, Outcome{Part: part.name, Result: Refused})
			continue
		}
		oc := part.apply(o, p, log)
		oc.Part = part.name
		if oc.Result == Failed {
			log.Error("the part failed", "part", part.name, "err", oc.Detail)
		}
		out = append(out, oc)
	}
	return out
}

// plannedWizard is a dry run's outcome of the rest of the wizard: each
// part is unchanged when its files already say what the wizard says (read
// only, as the apply would find them), else planned, or refused.
func plannedWizard(o Options, p WizardPlan, refused map[string]bool) []Outcome {
	same := map[string]func() bool{
		PartRootPassword: func() bool {
			if !p.RootPassword.IsSet() {
				return true
			}
			data, err := readBounded(filepath.Join(o.Root, ShadowFile))
			h, herr := shadow.Get(data, "root")
			return err == nil && herr == nil && shadow.Matches(h, p.RootPassword.Reveal())
		},
		PartSSH: func() bool {
			if _, err := os.Stat(filepath.Join(o.Root, SSHDConfig)); errors.Is(err, fs.ErrNotExist) {
				return true
			}
			cur, err := readBounded(filepath.Join(o.Root, SSHDropIn))
			return err == nil && bytes.Equal(cur, p.SSHDropIn)
		},
		PartDataplane: func() bool {
			conf, cerr := readBounded(filepath.Join(o.Root, DataplaneConf))
			users, uerr := readBounded(filepath.Join(o.Root, DataplaneUsers))
			if cerr != nil || uerr != nil || !bytes.Equal(conf, p.DataplaneConf) || secretModeWrong(filepath.Join(o.Root, DataplaneUsers)) {
				return false
			}
			hash := ""
			if p.DataplanePassword.IsSet() {
				if hash = userlistHash(users, p.DataplaneUser); !shadow.Matches(hash, p.DataplanePassword.Reveal()) {
					return false
				}
			}
			return bytes.Equal(users, userlistFile(p.DataplaneUser, hash))
		},
		PartCA: func() bool {
			cert, cerr := readBounded(filepath.Join(o.Root, CACertFile))
			key, kerr := readBounded(filepath.Join(o.Root, CAKeyFile))
			if cerr != nil || kerr != nil || pki.CheckPair(cert, key) != nil || secretModeWrong(filepath.Join(o.Root, CAKeyFile)) {
				return false
			}
			if len(p.CACert) > 0 && (!bytes.Equal(cert, p.CACert) || !bytes.Equal(key, []byte(p.CAKey.Reveal()))) {
				return false
			}
			srv, serr := readBounded(filepath.Join(o.Root, ServerCertFile))
			srvKey, skerr := readBounded(filepath.Join(o.Root, ServerKeyFile))
			return serr == nil && skerr == nil && !secretModeWrong(filepath.Join(o.Root, ServerKeyFile)) &&
				pki.ServerCurrent(srv, srvKey, cert, p.ServerNames, p.ServerIPs, time.Now())
		},
	}
	out := make([]Outcome, 0, len(wizardParts))
	for _, part := range wizardParts {
		switch {
		case refused[part]:
			out = append(out, Outcome{Part: part, Result: Refused})
		case same[part]():
			out = append(out, Outcome{Part: part, Result: Unchanged})
		default:
			out = append(out, Outcome{Part: part, Result: Planned})
		}
	}
	return out
}

func secretModeWrong(path string) bool {
	st, err := os.Stat(path)
	return err != nil || st.Mode().Perm() != 0o600
}

func failed(err error) Outcome { return Outcome{Result: Failed, Detail: err.Error()} }

func applyRootPassword(o Options, p WizardPlan, log *slog.Logger) Outcome {
	if !p.RootPassword.IsSet() {
		return Outcome{Result: Unchanged, Detail: "appliance.root_pwd is not set; root's password is left as it is"}
	}
	path := filepath.Join(o.Root, ShadowFile)
	data, err := readBounded(path)
	if err != nil {
		return failed(err)
	}
	cur, err := shadow.Get(data, "root")
	if err != nil {
		return failed(fmt.Errorf("%s: %w", path, err))
	}
	if shadow.Matches(cur, p.RootPassword.Reveal()) {
		return Outcome{Result: Unchanged}
	}
	hash, err := shadow.Hash(p.RootPassword.Reveal(), shadow.Rounds)
	if err != nil {
		return failed(err)
	}
	next, err := shadow.Set(data, "root", hash, time.Now())
	if err != nil {
		return failed(fmt.Errorf("%s: %w", path, err))
	}
	if err := render.WriteFile(path, next, 0o640); err != nil {
		return failed(fmt.Errorf("write %s: %w", path, err))
	}
	log.Info("set root's password", "file", path, "hash", "SHA-512 crypt")
	return Outcome{Result: Applied}
}

// sshdIncludes matches the line of sshd_config that reads the drop-ins.
var sshdIncludes = regexp.MustCompile(`(?mi)^\s*Include\s+\S*sshd_config\.d/\*\.conf\b`)

func applySSH(o Options, p WizardPlan, log *slog.Logger) Outcome {
	conf := filepath.Join(o.Root, SSHDConfig)
	main, err := readBounded(conf)
	if errors.Is(err, fs.ErrNotExist) {
		return Outcome{Result: Unchanged, Detail: "sshd is not installed (no " + conf + ")"}
	}
	if err != nil {
		return failed(err)
	}
	if !sshdIncludes.Match(main) {
		return failed(fmt.Errorf("%s does not read /etc/ssh/sshd_config.d/*.conf: add the line \"Include /etc/ssh/sshd_config.d/*.conf\" at its top", conf))
	}
	path := filepath.Join(o.Root, SSHDropIn)
	changed, err := writeIfChanged(path, p.SSHDropIn)
	if err != nil {
		return failed(fmt.Errorf("write %s: %w", path, err))
	}
	if !changed {
		return Outcome{Result: Unchanged}
	}
	log.Info("wrote the sshd drop-in", "file", path)
	if o.live() {
		reloadUnit(log, "ssh.service")
	}
	return Outcome{Result: Applied}
}

func applyDataplane(o Options, p WizardPlan, log *slog.Logger) Outcome {
	users := filepath.Join(o.Root, DataplaneUsers)
	cur, err := readBounded(users)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return failed(err)
	}
	hash := ""
	if p.DataplanePassword.IsSet() {
		// The same password keeps its hash: no new salt, no write.
		if h := userlistHash(cur, p.DataplaneUser); shadow.Matches(h, p.DataplanePassword.Reveal()) {
			hash = h
		} else if hash, err = shadow.Hash(p.DataplanePassword.Reveal(), dataplaneRounds); err != nil {
			return failed(err)
		}
	}
	list := userlistFile(p.DataplaneUser, hash)
	changed := false
	if !bytes.Equal(cur, list) {
		if err := os.MkdirAll(filepath.Dir(users), 0o755); err != nil {
			return failed(err)
		}
		if err := checkUserlist(filepath.Dir(users), list); err != nil {
			return failed(err)
		}
		if err := writeSecret(users, list); err != nil {
			return failed(fmt.Errorf("write %s: %w", users, err))
		}
		changed = true
	} else if fixed, err := keepSecretMode(users); err != nil {
		return failed(err)
	} else {
		changed = fixed
	}
	conf := filepath.Join(o.Root, DataplaneConf)
	wrote, err := writeIfChanged(conf, p.DataplaneConf)
	if err != nil {
		return failed(fmt.Errorf("write %s: %w", conf, err))
	}
	if !changed && !wrote {
		return Outcome{Result: Unchanged}
	}
	log.Info("wrote the Data Plane API's user and configuration", "users", users, "config", conf, "user", p.DataplaneUser)
	if o.live() {
		reloadUnit(log, "dataplaneapi.service")
	}
	return Outcome{Result: Applied}
}

// checkUserlist has HAProxy check the userlist before it replaces the
// one there is. It is skipped when HAProxy is not installed (an image
// being built); haproxy -c exits 2 for a valid file without a listener.
func checkUserlist(dir string, data []byte) error {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return nil
	}
	tmp, err := os.CreateTemp(dir, ".dataplaneapi-users.check-*") // 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Its output is not shown: it may quote the line with the hash.
	err = exec.CommandContext(ctx, bin, "-c", "-q", "-f", tmp.Name()).Run()
	var ee *exec.ExitError
	if err == nil || errors.As(err, &ee) && ee.ExitCode() == 2 {
		return nil
	}
	return fmt.Errorf("haproxy -c refused the Data Plane API's userlist (%v); check loadbalance.haproxy_user", err)
}

func applyCA(o Options, p WizardPlan, log *slog.Logger) Outcome {
	certPath, keyPath := filepath.Join(o.Root, CACertFile), filepath.Join(o.Root, CAKeyFile)
	if err := os.MkdirAll(filepath.Dir(certPath), 0o755); err != nil {
		return failed(err)
	}
	cert, key, detail, changed, err := settleCA(certPath, keyPath, p, log)
	if err != nil {
		return failed(err)
	}
	srv, err := settleServer(o, p, cert, key, log)
	if err != nil {
		return failed(err)
	}
	switch {
	case changed && srv:
		detail = strings.TrimPrefix(detail+"; a new server certificate", "; ")
	case srv:
		detail = "a new server certificate"
	case !changed:
		return Outcome{Result: Unchanged}
	}
	return Outcome{Result: Applied, Detail: detail}
}

// settleCA writes the wizard's CA, or keeps the one there is, or makes
// one, and returns the pair in place.
func settleCA(certPath, keyPath string, p WizardPlan, log *slog.Logger) (cert, key []byte, detail string, changed bool, err error) {
	cert, key = p.CACert, []byte(p.CAKey.Reveal())
	generated := false
	if len(cert) == 0 {
		// No CA in the wizard: keep the one there is (generated at an
		// earlier boot, or by the image), or make one.
		curCert, cerr := readBounded(certPath)
		curKey, kerr := readBounded(keyPath)
		if cerr == nil && kerr == nil && pki.CheckPair(curCert, curKey) == nil {
			fixed, err := keepSecretMode(keyPath)
			if fixed {
				detail = "the CA key made private (0600)"
			}
			return curCert, curKey, detail, fixed, err
		}
		if cerr == nil || kerr == nil {
			log.Warn("the CA files do not hold a CA and its key; generating a new CA", "cert", certPath, "key", keyPath)
		}
		if cert, key, err = pki.NewCA(p.CAName, time.Now()); err != nil {
			return nil, nil, "", false, fmt.Errorf("generate a CA: %w", err)
		}
		generated = true
	}
	// The key first: a crash between the two leaves a pair that does not
	// match, which the next boot replaces (or rewrites from the wizard).
	keyChanged, err := writeSecretIfChanged(keyPath, key)
	if err != nil {
		return nil, nil, "", false, fmt.Errorf("write %s: %w", keyPath, err)
	}
	certChanged, err := writeIfChanged(certPath, cert)
	if err != nil {
		return nil, nil, "", false, fmt.Errorf("write %s: %w", certPath, err)
	}
	if err := os.Chmod(certPath, 0o644); err != nil {
		return nil, nil, "", false, err
	}
	switch {
	case !keyChanged && !certChanged:
	case generated:
		log.Info("generated a CA", "cert", certPath, "key", keyPath, "common_name", p.CAName)
		detail = "generated " + certPath
	default:
		log.Info("wrote the CA from the vApp properties", "cert", certPath, "key", keyPath)
	}
	return cert, key, detail, keyChanged || certChanged, nil
}

// settleServer makes the Data Plane API's server certificate, signed by
// the CA, when there is none that is current for the appliance's names.
func settleServer(o Options, p WizardPlan, caCert, caKey []byte, log *slog.Logger) (bool, error) {
	certPath, keyPath := filepath.Join(o.Root, ServerCertFile), filepath.Join(o.Root, ServerKeyFile)
	cur, cerr := readBounded(certPath)
	curKey, kerr := readBounded(keyPath)
	if cerr == nil && kerr == nil && pki.ServerCurrent(cur, curKey, caCert, p.ServerNames, p.ServerIPs, time.Now()) {
		return keepSecretMode(keyPath)
	}
	cert, key, err := pki.NewServer(caCert, caKey, p.ServerNames, p.ServerIPs, time.Now())
	if err != nil {
		return false, fmt.Errorf("make the server certificate: %w", err)
	}
	if err := writeSecret(keyPath, key); err != nil {
		return false, fmt.Errorf("write %s: %w", keyPath, err)
	}
	if _, err := writeIfChanged(certPath, cert); err != nil {
		return false, fmt.Errorf("write %s: %w", certPath, err)
	}
	log.Info("made the Data Plane API's server certificate", "cert", certPath, "names", p.ServerNames, "addresses", p.ServerIPs)
	return true, nil
}

// writeSecret writes a file that holds a secret: mode 0600, owner root,
// whatever mode an older file had (the old appliance wrote ca.key 0644).
func writeSecret(path string, data []byte) error {
	if _, err := keepSecretMode(path); err != nil {
		return err
	}
	return render.WriteFile(path, data, 0o600)
}

func writeSecretIfChanged(path string, data []byte) (bool, error) {
	cur, err := readBounded(path)
	if err == nil && bytes.Equal(cur, data) {
		return keepSecretMode(path)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, writeSecret(path, data)
}

// keepSecretMode makes an existing secret file 0600 and reports whether
// it was not.
func keepSecretMode(path string) (bool, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if st.Mode().Perm() == 0o600 {
		return false, nil
	}
	return true, os.Chmod(path, 0o600)
}

// readBounded reads a file of the wizard's parts, bounded as every read.
func readBounded(path string) ([]byte, error) { return textfile.ReadFile(path, maxFile) }

// reloadUnit asks systemd to have a running service read its changed
// configuration. Best effort: the service may not be installed, and at
// boot it starts later and reads the files then.
func reloadUnit(log *slog.Logger, unit string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "systemctl", "try-reload-or-restart", unit).CombinedOutput(); err != nil {
		log.Warn("could not reload the service; it reads the new configuration when it next starts", "unit", unit, "err", err, "output", string(bytes.TrimSpace(out)))
	}
}

package firstboot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/netconf"
	"github.com/anyip/anyip/internal/procgroup"
	"github.com/anyip/anyip/internal/render"
	"github.com/anyip/anyip/internal/textfile"
)

// applyNetwork writes what the host name, resolver and NIC parts planned,
// and asks networkd to apply changed NIC files. Each part's outcome is its
// own: a refused part's file stays as it is.
func applyNetwork(o Options, p Plan, w *Wizard, log *slog.Logger) []Outcome {
	out := []Outcome{applyHostname(o, p.Network.Hostname, p.Refused[PartHostname], log)}
	out = append(out, applyResolver(o, p.Network.Resolver, p.Refused[PartResolver], log))

	dir := filepath.Join(o.Root, NetworkDir)
	want := make(map[string][]byte, len(p.Network.Files)+len(p.Network.Keep))
	for name, data := range p.Network.Files {
		want[name] = data
	}
	for _, name := range p.Network.Keep {
		// A refused NIC keeps the file it has (and has none if it had none).
		if data, err := textfile.ReadFile(filepath.Join(dir, name), maxNetworkFile); err == nil {
			want[name] = data
		}
	}
	owned := render.Owned{Dir: dir, Prefix: netconf.FilePrefix, Suffix: ".network"}
	written, removed, err := owned.Sync(want, 0o644)
	for _, name := range removed {
		log.Info("removed a network file of a NIC the wizard no longer has", "file", filepath.Join(dir, name))
	}
	if err == nil && len(written)+len(removed) > 0 && o.live() && !o.Early {
		err = reloadNetworkd()
	}
	for _, nic := range w.Config.NICs {
		part, name := nicPart(nic.Role), netconf.FilePrefix+nic.Role+".network"
		o := Outcome{Part: part, Result: Unchanged}
		switch {
		case p.Refused[part]:
			o.Result = Refused
			log.Error("the NIC's settings are refused; its network file stays as it is", "nic", nic.Role)
		case err != nil:
			o.Result, o.Detail = Failed, err.Error()
			log.Error("could not configure the NIC", "nic", nic.Role, "err", err)
		case slices.Contains(written, name):
			o.Result = Applied
			log.Info("wrote the NIC's network file", "nic", nic.Role, "file", filepath.Join(dir, name))
		}
		out = append(out, o)
	}
	return out
}

// reloadNetworkd has systemd-networkd read the changed files and reconfigure
// the links they match. Early in boot networkd has not started yet and reads
// them when it does.
func reloadNetworkd() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := procgroup.Command(ctx, "networkctl", "reload")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("networkctl reload: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

func applyHostname(o Options, name string, refused bool, log *slog.Logger) Outcome {
	out := Outcome{Part: PartHostname, Result: Unchanged}
	if refused {
		out.Result = Refused
		log.Error("the host name is refused; it stays as it is")
		return out
	}
	path := filepath.Join(o.Root, HostnameFile)
	changed, err := writeIfChanged(path, []byte(name+"\n"))
	if err == nil && o.live() {
		if cur, herr := os.Hostname(); herr == nil && cur != name {
			err = unix.Sethostname([]byte(name))
			changed = true
		}
	}
	switch {
	case err != nil:
		out.Result, out.Detail = Failed, err.Error()
		log.Error("could not set the host name", "hostname", name, "err", err)
	case changed:
		out.Result = Applied
		log.Info("set the host name", "hostname", name)
	}
	return out
}

// applyResolver writes the name servers into resolv.conf, unless another
// program owns that file (a symlink, as systemd-resolved's stub is): the
// management NIC's network file then hands them to it (DNS=).
func applyResolver(o Options, data []byte, refused bool, log *slog.Logger) Outcome {
	out := Outcome{Part: PartResolver, Result: Unchanged}
	if refused {
		out.Result = Refused
		log.Error("the name servers are refused; the resolver stays as it is")
		return out
	}
	path := filepath.Join(o.Root, ResolverFile)
	if st, err := os.Lstat(path); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(path)
		out.Detail = "through systemd-networkd (DNS=): " + path + " links to " + target
		return out
	}
	changed, err := writeIfChanged(path, data)
	switch {
	case err != nil:
		out.Result, out.Detail = Failed, err.Error()
		log.Error("could not write the resolver configuration", "path", path, "err", err)
	case changed:
		out.Result = Applied
		log.Info("wrote the name servers", "path", path, "nameservers", strings.Count(string(data), "nameserver "))
	}
	return out
}

// maxNetworkFile bounds what is read of a file first boot compares before
// it writes (/etc/hostname, resolv.conf, networkd files): what it writes
// is a few hundred bytes.
const maxNetworkFile = 1 << 20

// writeIfChanged writes data to path atomically when it differs.
func writeIfChanged(path string, data []byte) (bool, error) {
	cur, err := textfile.ReadFile(path, maxNetworkFile)
	if err == nil && bytes.Equal(cur, data) {
		return false, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	return true, render.WriteFile(path, data, 0o644)
}

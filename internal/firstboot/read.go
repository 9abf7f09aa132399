package firstboot

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/netconf"
	"github.com/anyip/anyip/internal/ovfenv"
	"github.com/anyip/anyip/internal/state"
	"github.com/anyip/anyip/internal/sysfacts"
	"github.com/anyip/anyip/internal/textfile"
	"github.com/anyip/anyip/internal/upgrade"
	"github.com/anyip/anyip/internal/validate"
)

// Wizard is the OVF environment, parsed into the appliance's configuration.
type Wizard struct {
	Source string
	Env    *ovfenv.Env
	Config appliance.Config
	Props  appliance.Properties
	// Findings are what the properties alone show: values that do not
	// parse, and network settings that do not fit together.
	Findings finding.List
	// parsed are the findings of parsing alone, for Attach to check the
	// settings again once it knows the deployment option.
	parsed finding.List
}

// ReadWizard parses the OVF environment. It is pure; an error means the
// document itself is malformed.
func ReadWizard(data []byte, source string) (*Wizard, error) {
	env, err := ovfenv.Parse(data)
	if err != nil {
		return nil, err
	}
	conf, props, parsed := appliance.FromProperties(env.Properties)
	fs := append(slices.Clip(parsed), conf.Check()...)
	return &Wizard{Source: source, Env: env, Config: conf, Props: props, Findings: fs, parsed: parsed}, nil
}

// Attach completes the wizard's NICs from the NICs the guest has: with the
// frontend deployment option and the frontend left to DHCP, both frontend
// keys are empty, and the one sign of the option is the NIC in the
// frontend's pinned PCI slot, which the image names frontend (the old
// appliance decided by that NIC too). Its settings are then DHCP, and the
// settings are checked again for that option: with it, VIPs in the
// workload network are on the wrong network.
func (w *Wizard) Attach(links []string) {
	has := slices.ContainsFunc(w.Config.NICs, func(n appliance.NIC) bool { return n.Role == netconf.Frontend })
	if has || !slices.Contains(links, netconf.Frontend) {
		return
	}
	w.Config.NICs = append(w.Config.NICs, appliance.NIC{Role: netconf.Frontend, Key: appliance.KeyFrontendIP, GatewayKey: appliance.KeyFrontendGateway})
	w.Findings = append(slices.Clip(w.parsed), w.Config.Check()...)
}

// System is what a plan is made against, as the running system shows it.
type System struct {
	// Cfg is the ranges file as it is; nil when there is none.
	Cfg []byte
	// CfgRefused says why the ranges file was not read (it is not a
	// regular file, or too large): the operator's to fix, like a bad line.
	CfgRefused finding.List
	// Facts are the addresses, default gateways and name servers in use.
	Facts validate.Facts
	// Links are the names of the network interfaces.
	Links []string
	// NonlocalBind6 is net.ipv6.ip_nonlocal_bind: HAProxy can bind an
	// IPv6 VIP that is only routed to lo.
	NonlocalBind6 bool
	// OldFirstBoot says the old appliance's first boot had run here (its
	// marker, or the upgrade's record of it): the ranges file's plain
	// lines were written from the wizard and edited by hand since.
	OldFirstBoot bool
	// Migrated is what the last run left out when it took the old
	// ranges file over.
	Migrated *Migration
}

// ReadSystem reads the ranges file and the system's facts.
func ReadSystem(o Options) (System, error) {
	var s System
	data, refused, err := cfgfile.Read(o.Config)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("read %s: %w", o.Config, err)
	}
	s.Cfg, s.CfgRefused = data, refused
	if _, err := os.Stat(filepath.Join(o.Root, upgrade.OldMarker)); err == nil {
		s.OldFirstBoot = true
	} else if rec, err := upgrade.LoadRecord(o.Root); err == nil && rec != nil {
		s.OldFirstBoot = rec.OldFirstBoot
	}
	if prev, err := state.Load(o.StateDir); err == nil && prev != nil {
		s.Migrated = prev.Migrated
	}
	if s.Facts, err = sysfacts.Gather(o.ResolvConf); err != nil {
		return s, fmt.Errorf("read the system's addresses and routes: %w", err)
	}
	if b, err := textfile.ReadFile("/proc/sys/net/ipv6/ip_nonlocal_bind", 64); err == nil {
		s.NonlocalBind6 = strings.TrimSpace(string(b)) != "0"
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return s, fmt.Errorf("list the network interfaces: %w", err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			s.Links = append(s.Links, i.Name)
		}
	}
	return s, nil
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

package firstboot

import (
	"bytes"
	"fmt"
	"net"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/anyip/anyip/internal/appliance"
)

// Where the rest of the wizard writes, under Options.Root (DESIGN.md, "The
// rest of the wizard").
const (
	ShadowFile    = "etc/shadow"
	SSHDConfig    = "etc/ssh/sshd_config"
	SSHDropIn     = "etc/ssh/sshd_config.d/10-anyip.conf"
	DataplaneConf = "etc/haproxy/dataplaneapi.yaml"
	// DataplaneUsers is the Data Plane API's userlist: a file of its own
	// (userlist_file), which HAProxy never loads, so that no rewrite of
	// haproxy.cfg by the control plane can drop the user.
	DataplaneUsers = "etc/haproxy/dataplaneapi-users.cfg"
	CACertFile     = "etc/haproxy/ca.crt"
	CAKeyFile      = "etc/haproxy/ca.key"
	// The Data Plane API's server certificate, signed by the CA.
	ServerCertFile = "etc/haproxy/server.crt"
	ServerKeyFile  = "etc/haproxy/server.key"
	// Userlist is the name the Data Plane API looks the user up in, the
	// old appliance's.
	Userlist = "controller"
)

// WizardPlan is what the root password, SSH, Data Plane API and CA parts
// would write. Secrets stay in appliance.Secret until they reach their file.
type WizardPlan struct {
	// RootPassword is root's new password; unset leaves it as it is.
	RootPassword appliance.Secret
	// SSHDropIn is the sshd drop-in.
	SSHDropIn []byte
	// DataplaneConf is the Data Plane API's configuration; DataplaneUser
	// and DataplanePassword its user (none when the password is unset).
	DataplaneConf     []byte
	DataplaneUser     string
	DataplanePassword appliance.Secret
	// CACert and CAKey are the wizard's CA; both empty means "keep the
	// one there is, or generate one".
	CACert []byte
	CAKey  appliance.Secret
	// CAName is a generated CA's common name: the host name.
	CAName string
	// ServerNames and ServerIPs are what the server certificate is for:
	// the host name and localhost, loopback and the static addresses.
	ServerNames []string
	ServerIPs   []net.IP
}

// PlanWizard renders the rest of the wizard. It is pure.
func PlanWizard(c appliance.Config, hostname string) WizardPlan {
	return WizardPlan{
		RootPassword:      c.RootPassword,
		SSHDropIn:         sshDropIn(c.PermitRootLogin),
		DataplaneConf:     dataplaneConf(c.DataplanePort, managementAddr(c)),
		DataplaneUser:     c.HAProxyUser,
		DataplanePassword: c.HAProxyPassword,
		CACert:            []byte(c.CACert),
		CAKey:             c.CAKey,
		CAName:            hostname,
		ServerNames:       serverNames(hostname),
		ServerIPs:         serverIPs(c),
	}
}

func serverNames(hostname string) []string {
	if hostname == "localhost" {
		return []string{"localhost"}
	}
	return []string{hostname, "localhost"}
}

func serverIPs(c appliance.Config) []net.IP {
	ips := []net.IP{net.IPv4(127, 0, 0, 1).To4()}
	for _, n := range c.NICs {
		if n.Static() {
			ips = append(ips, net.IP(n.Addr.Addr().AsSlice()))
		}
	}
	return ips
}

func sshDropIn(permit bool) []byte {
	v := "no"
	if permit {
		v = "yes"
	}
	// sshd takes the first value it reads, and Debian's sshd_config reads
	// sshd_config.d/*.conf first, in name order: 10- goes before the
	// drop-ins of cloud-init (50-) and of most packages.
	return []byte("# Written by anyip-firstboot from the vApp property appliance.permit_root_login.\n" +
		"PermitRootLogin " + v + "\n")
}

// userlistFile renders the Data Plane API's userlist in HAProxy's syntax
// (haproxy -c checks it). hash is a crypt(3) hash; with no user the list
// is empty and the API accepts no login.
func userlistFile(user, hash string) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by anyip-firstboot from the vApp properties loadbalance.haproxy_user and\n")
	b.WriteString("# loadbalance.haproxy_pwd. The Data Plane API reads it (userlist_file in dataplaneapi.yaml);\n")
	b.WriteString("# HAProxy does not load it, so rewrites of haproxy.cfg leave it alone.\n")
	fmt.Fprintf(&b, "userlist %s\n", Userlist)
	if user != "" && hash != "" {
		fmt.Fprintf(&b, "    user %s password %s\n", user, hash)
	}
	return b.Bytes()
}

// userlistHash returns the hash of user's line in a userlist file written
// by userlistFile, or "".
func userlistHash(data []byte, user string) string {
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == "user" && f[1] == user && f[2] == "password" {
			return f[3]
		}
	}
	return ""
}

// dataplaneYAML is the part of the Data Plane API's configuration file
// (config_version 2) first boot owns: all of it. The TLS files are the
// server certificate the image signs with the CA.
type dataplaneYAML struct {
	ConfigVersion int `yaml:"config_version"`
	Dataplaneapi  struct {
		Scheme []string `yaml:"scheme"`
		TLS    struct {
			Host        string `yaml:"tls_host"`
			Port        uint16 `yaml:"tls_port"`
			Certificate string `yaml:"tls_certificate"`
			Key         string `yaml:"tls_key"`
		} `yaml:"tls"`
		Userlist struct {
			Userlist string `yaml:"userlist"`
			File     string `yaml:"userlist_file"`
		} `yaml:"userlist"`
	} `yaml:"dataplaneapi"`
	HAProxy struct {
		ConfigFile string `yaml:"config_file"`
		Bin        string `yaml:"haproxy_bin"`
		Reload     struct {
			Delay   int    `yaml:"reload_delay"`
			Cmd     string `yaml:"reload_cmd"`
			Restart string `yaml:"restart_cmd"`
		} `yaml:"reload"`
	} `yaml:"haproxy"`
}

// managementAddr is where the Data Plane API listens: the management
// NIC's static address, as the old appliance set TLS_HOST, so the API is
// not reachable from the workload or frontend networks; with DHCP every
// address (the lease is not known when the file is written).
func managementAddr(c appliance.Config) string {
	for _, n := range c.NICs {
		if n.Role == "management" && n.Static() {
			return n.Addr.Addr().String()
		}
	}
	return "0.0.0.0"
}

func dataplaneConf(port uint16, host string) []byte {
	var d dataplaneYAML
	d.ConfigVersion = 2
	d.Dataplaneapi.Scheme = []string{"https"}
	d.Dataplaneapi.TLS.Host = host
	d.Dataplaneapi.TLS.Port = port
	d.Dataplaneapi.TLS.Certificate = "/" + ServerCertFile
	d.Dataplaneapi.TLS.Key = "/" + ServerKeyFile
	d.Dataplaneapi.Userlist.Userlist = Userlist
	d.Dataplaneapi.Userlist.File = "/" + DataplaneUsers
	d.HAProxy.ConfigFile = "/etc/haproxy/haproxy.cfg"
	d.HAProxy.Bin = "/usr/sbin/haproxy"
	d.HAProxy.Reload.Delay = 30
	d.HAProxy.Reload.Cmd = "systemctl reload haproxy"
	d.HAProxy.Reload.Restart = "systemctl restart haproxy"
	out, err := yaml.Marshal(&d)
	if err != nil {
		panic(err) // a fixed struct of strings and numbers always marshals
	}
	return append([]byte("# Written by anyip-firstboot from the vApp property loadbalance.dataplane_port; rewritten at every boot.\n"), out...)
}

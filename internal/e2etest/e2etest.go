// Package e2etest builds the project's binaries once per test binary and
// writes OVF environments in the shape ESX hands a guest, for tests that
// drive the commands as an operator or systemd would.
package e2etest

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/ovf"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
	buildOut  []byte
)

// Binary returns the path of a freshly built command from cmd/NAME. The
// build happens once per test binary, into a directory removed at exit
// only by the OS temp cleaner: tests in parallel share it.
func Binary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "anyip-e2e-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./cmd/...")
		cmd.Dir = repoRoot()
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build: %v\n%s", buildErr, buildOut)
	}
	return filepath.Join(binDir, name)
}

// Root is the repository's top directory.
func Root() string { return repoRoot() }

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Props are OVF properties by full key.
type Props map[string]string

// Base2NIC is a valid 2-NIC deployment: VIPs on the workload network.
func Base2NIC() Props {
	return Props{
		"appliance.ca_cert":                    "",
		"appliance.ca_cert_key":                "",
		"appliance.permit_root_login":          "True",
		"appliance.root_pwd":                   "example-root-password",
		"loadbalance.dataplane_port":           "5556",
		"loadbalance.haproxy_pwd":              "example-api-password",
		"loadbalance.haproxy_user":             "admin",
		"loadbalance.service_ip_range":         "10.20.0.128/26",
		"network.additional_workload_networks": "",
		"network.frontend_gateway":             "",
		"network.frontend_ip":                  "",
		"network.hostname":                     "lb-01.example.internal",
		"network.management_gateway":           "10.10.0.1",
		"network.management_ip":                "10.10.0.5/24",
		"network.nameservers":                  "10.10.0.53, 10.10.0.54",
		"network.workload_gateway":             "10.20.0.1",
		"network.workload_ip":                  "10.20.0.5/24",
	}
}

// Base3NIC is a valid 3-NIC deployment: VIPs on the frontend network.
func Base3NIC() Props {
	p := Base2NIC()
	p["network.frontend_ip"] = "10.30.0.5/24"
	p["network.frontend_gateway"] = "10.30.0.1"
	p["loadbalance.service_ip_range"] = "10.30.0.128/26, 10.30.0.192/27"
	p["network.additional_workload_networks"] = "10.40.0.0/16"
	return p
}

// With returns a copy with some keys changed.
func (p Props) With(kv ...string) Props {
	out := make(Props, len(p))
	for k, v := range p {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// EnvXML renders the properties as ESX writes guestinfo.ovfEnv.
func (p Props) EnvXML() []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<Environment
     xmlns="http://schemas.dmtf.org/ovf/environment/1"
     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xmlns:oe="http://schemas.dmtf.org/ovf/environment/1"
     xmlns:ve="http://www.vmware.com/schema/ovfenv"
     oe:id=""
     ve:vCenterId="vm-4242">
   <PlatformSection>
      <Kind>VMware ESXi</Kind>
      <Version>8.0.2</Version>
      <Vendor>VMware, Inc.</Vendor>
      <Locale>en</Locale>
   </PlatformSection>
   <PropertySection>
`)
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(`         <Property oe:key="`)
		xml.EscapeText(&b, []byte(k))
		b.WriteString(`" oe:value="`)
		xml.EscapeText(&b, []byte(p[k]))
		b.WriteString("\"/>\n")
	}
	b.WriteString(`   </PropertySection>
   <ve:EthernetAdapterSection>
      <ve:Adapter ve:mac="00:50:56:aa:10:05" ve:network="Management" ve:unitNumber="7"/>
      <ve:Adapter ve:mac="00:50:56:aa:20:05" ve:network="Workload" ve:unitNumber="8"/>
   </ve:EthernetAdapterSection>
</Environment>
`)
	return []byte(b.String())
}

// InjectOvfEnvXML renders the properties as govc import.ova with
// "InjectOvfEnv": true writes guestinfo.ovfEnv for a standalone ESXi host:
// govmomi's ovf.Env.MarshalManual, which does not escape values.
func (p Props) InjectOvfEnvXML() []byte {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := ovf.Env{EsxID: "vm-17", Platform: &ovf.PlatformSection{Kind: "VMware ESXi", Version: "8.0.2", Vendor: "VMware, Inc.", Locale: "en"},
		Property: &ovf.PropertySection{}}
	for _, k := range keys {
		env.Property.Properties = append(env.Property.Properties, ovf.EnvProperty{Key: k, Value: p[k]})
	}
	return []byte(env.MarshalManual())
}

// WriteEnv writes the environment to a file in dir and returns its path.
func (p Props) WriteEnv(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ovf-env.xml")
	if err := os.WriteFile(path, p.EnvXML(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

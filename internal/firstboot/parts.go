package firstboot

import (
	"slices"
	"strings"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/finding"
)

// The parts of first boot, in the order they apply. Each is refused on its
// own, by an error on a key it reads; the others go on.
const (
	PartHostname   = "hostname"
	PartResolver   = "resolver"
	PartManagement = "nic management"
	PartWorkload   = "nic workload"
	PartFrontend   = "nic frontend"
	// PartRanges is the VIP ranges: the managed block of anyip-routes.cfg
	// and the AnyIP routes.
	PartRanges = "ranges"
	// The rest of the wizard: root's password in /etc/shadow, sshd's
	// PermitRootLogin, the Data Plane API's user and port, the CA.
	PartRootPassword = "root password"
	PartSSH          = "ssh"
	PartDataplane    = "dataplane"
	PartCA           = "ca"
)

var nicKeys = []string{
	appliance.KeyManagementIP, appliance.KeyManagementGateway,
	appliance.KeyWorkloadIP, appliance.KeyWorkloadGateway,
	appliance.KeyFrontendIP, appliance.KeyFrontendGateway,
	appliance.KeyAdditionalNetworks,
}

// partKeys are the keys whose errors refuse each part. The VIP ranges are
// checked against the wizard's gateways, addresses, name servers and
// backend networks, so an error on any of those refuses them too: a range
// is never applied unchecked.
var partKeys = map[string][]string{
	PartHostname:     {appliance.KeyHostname},
	PartResolver:     {appliance.KeyNameservers},
	PartManagement:   {appliance.KeyManagementIP, appliance.KeyManagementGateway, appliance.KeyNameservers},
	PartWorkload:     {appliance.KeyWorkloadIP, appliance.KeyWorkloadGateway, appliance.KeyAdditionalNetworks},
	PartFrontend:     {appliance.KeyFrontendIP, appliance.KeyFrontendGateway},
	PartRanges:       append([]string{appliance.KeyServiceRanges, appliance.KeyNameservers}, nicKeys...),
	PartRootPassword: {appliance.KeyRootPassword},
	PartSSH:          {appliance.KeyPermitRootLogin},
	PartDataplane:    {appliance.KeyDataplanePort, appliance.KeyHAProxyUser, appliance.KeyHAProxyPassword},
	PartCA:           {appliance.KeyCACert, appliance.KeyCAKey},
}

// refused returns the parts an error of fs refuses. An error that names no
// key of any part (a misspelled key, the environment itself) refuses every
// part: nothing is applied from a wizard that may not say what was meant.
// An error naming a line of the ranges file refuses the ranges.
func refused(fs finding.List, cfgPath string) map[string]bool {
	out := map[string]bool{}
	for _, f := range fs {
		if f.Severity != finding.Error {
			continue
		}
		if f.Where == cfgPath || strings.HasPrefix(f.Where, cfgPath+":") {
			out[PartRanges] = true
			continue
		}
		owned := false
		for part, keys := range partKeys {
			if slices.Contains(keys, f.Where) {
				out[part], owned = true, true
			}
		}
		if !owned {
			for part := range partKeys {
				out[part] = true
			}
		}
	}
	return out
}

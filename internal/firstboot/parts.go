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

// partKeys are the keys whose errors refuse each part.
var partKeys = map[string][]string{
	PartHostname:     {appliance.KeyHostname},
	PartResolver:     {appliance.KeyNameservers},
	PartManagement:   {appliance.KeyManagementIP, appliance.KeyManagementGateway, appliance.KeyNameservers},
	PartWorkload:     {appliance.KeyWorkloadIP, appliance.KeyWorkloadGateway, appliance.KeyAdditionalNetworks},
	PartFrontend:     {appliance.KeyFrontendIP, appliance.KeyFrontendGateway},
	PartRanges:       {appliance.KeyServiceRanges},
	PartRootPassword: {appliance.KeyRootPassword},
	PartSSH:          {appliance.KeyPermitRootLogin},
	PartDataplane:    {appliance.KeyDataplanePort, appliance.KeyHAProxyUser, appliance.KeyHAProxyPassword},
	PartCA:           {appliance.KeyCACert, appliance.KeyCAKey},
}

// refused returns the parts an error of fs refuses. An error that names no
// key of any part (a misspelled key, the environment itself) refuses every
// part: nothing is applied from a wizard that may not say what was meant.
// An error naming a line of the ranges file refuses the ranges.
//
// The VIP ranges are checked against the wizard's gateways, addresses,
// name servers and backend networks. An error on one of those keys refuses
// the ranges only when it leaves a check undone (unchecked, from
// appliance.Config.Unchecked: a gateway no address reads from might lie
// inside a range, which would cut the appliance off): a range is never
// applied unchecked. Any other error on them (a management_ip without its
// prefix length, whose address is still kept out of every range; a gateway
// outside its subnet) refuses that NIC and leaves the ranges to their own
// checks, so that one mistake on a NIC does not take the VIPs down too.
func refused(fs finding.List, cfgPath string, unchecked []appliance.Unchecked) map[string]bool {
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
		if slices.ContainsFunc(unchecked, func(u appliance.Unchecked) bool { return u.Key == f.Where }) {
			out[PartRanges] = true
		}
		if !owned {
			for part := range partKeys {
				out[part] = true
			}
		}
	}
	return out
}

// uncheckedWhy says why the ranges are refused for keys that leave them
// unchecked, for the ranges part's detail; "" when none does.
func uncheckedWhy(unchecked []appliance.Unchecked) string {
	if len(unchecked) == 0 {
		return ""
	}
	var b strings.Builder
	for i, u := range unchecked {
		if i > 0 {
			b.WriteString(", nor ")
		} else {
			b.WriteString("they cannot be checked ")
		}
		b.WriteString("against " + u.What + " while " + u.Key + " is invalid")
	}
	return b.String()
}

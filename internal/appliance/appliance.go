// Package appliance turns the vApp properties the operator typed into the
// deployment wizard into a typed configuration. It is pure: strings in,
// values and findings out. Parsing asks whether each value reads; Check
// whether the network settings make sense together; Rules and Ranges hand
// the VIP ranges and what they must respect to the validate package.
package appliance

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/ovf"
)

// The property keys the configurator reads, as they appear in the OVF
// environment (class.key). They are the old appliance's keys, so existing
// deployment automation keeps working.
const (
	KeyHostname           = "network.hostname"
	KeyNameservers        = "network.nameservers"
	KeyManagementIP       = "network.management_ip"
	KeyManagementGateway  = "network.management_gateway"
	KeyWorkloadIP         = "network.workload_ip"
	KeyWorkloadGateway    = "network.workload_gateway"
	KeyAdditionalNetworks = "network.additional_workload_networks"
	KeyFrontendIP         = "network.frontend_ip"
	KeyFrontendGateway    = "network.frontend_gateway"
	KeyServiceRanges      = cfgfile.BlockProperty
	KeyDataplanePort      = "loadbalance.dataplane_port"
	KeyHAProxyUser        = "loadbalance.haproxy_user"
	KeyHAProxyPassword    = "loadbalance.haproxy_pwd"
	KeyRootPassword       = "appliance.root_pwd"
	KeyPermitRootLogin    = "appliance.permit_root_login"
	KeyCACert             = "appliance.ca_cert"
	KeyCAKey              = "appliance.ca_cert_key"
)

// Kind is how a property's text is read.
type Kind int

const (
	Text     Kind = iota // free text (host name, user name)
	Password             // a secret
	PEM                  // PEM text, possibly with newlines turned to spaces
	PEMKey               // a PEM private key: a secret
	Bool                 // true/false in any case
	Port                 // TCP port
	HostCIDR             // an interface address with its prefix length
	Addr                 // one IP address
	AddrList             // comma-separated IP addresses
	CIDRList             // comma-separated prefixes
)

// Spec says how the configurator reads one key. The OVF descriptor says
// what type, default and bounds the wizard gives it; a test keeps the two
// in step.
type Spec struct {
	Key  string
	Kind Kind
}

// Specs lists every key the configurator reads.
var Specs = []Spec{
	{KeyHostname, Text},
	{KeyNameservers, AddrList},
	{KeyManagementIP, HostCIDR},
	{KeyManagementGateway, Addr},
	{KeyWorkloadIP, HostCIDR},
	{KeyWorkloadGateway, Addr},
	{KeyAdditionalNetworks, CIDRList},
	{KeyFrontendIP, HostCIDR},
	{KeyFrontendGateway, Addr},
	{KeyServiceRanges, CIDRList},
	{KeyDataplanePort, Port},
	{KeyHAProxyUser, Text},
	{KeyHAProxyPassword, Password},
	{KeyRootPassword, Password},
	{KeyPermitRootLogin, Bool},
	{KeyCACert, PEM},
	{KeyCAKey, PEMKey},
}

// IsSecret reports whether a key's value must never be shown. Both sides
// are asked: the configurator's kind and the descriptor's password flag, so
// a mistake in either one still redacts.
func IsSecret(key string) bool {
	for _, s := range Specs {
		if s.Key == key && (s.Kind == Password || s.Kind == PEMKey) {
			return true
		}
	}
	p, ok := ovf.Lookup(key)
	return ok && p.Password
}

// Normalize applies what a web form needs before anything else: surrounding
// space trimmed, and the empty string and the literal "null" (which some
// automation sends for an unset field) both mean unset, reported as "".
func Normalize(v string) string {
	v = strings.TrimSpace(strings.TrimPrefix(v, "\ufeff"))
	if strings.EqualFold(v, "null") || strings.EqualFold(v, "(null)") {
		return ""
	}
	return v
}

// SplitList splits a list the way people type one into a single field:
// commas, semicolons or white space between items, stray separators ignored.
func SplitList(v string) []string {
	items := strings.FieldsFunc(v, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	// Some automation joins unset list entries as "null".
	return slices.DeleteFunc(items, func(s string) bool { return Normalize(s) == "" })
}

// NIC is one of the appliance's network interfaces as configured.
type NIC struct {
	Role       string       // "management", "workload", "frontend"
	Key        string       // property key of the address
	GatewayKey string       // property key of the gateway
	Addr       netip.Prefix // address with its prefix length; invalid means DHCP
	Gateway    netip.Addr   // invalid means none
}

// Static reports whether the NIC has a configured address (not DHCP).
func (n NIC) Static() bool { return n.Addr.IsValid() }

// Subnet is the NIC's network, e.g. 10.0.0.5/24 → 10.0.0.0/24.
func (n NIC) Subnet() netip.Prefix { return n.Addr.Masked() }

// Config is the appliance configuration, typed.
type Config struct {
	Hostname    string
	Nameservers []netip.Addr
	// Management, Workload, Frontend, in that order; Frontend is present
	// only when its address or gateway was given.
	NICs               []NIC
	AdditionalNetworks []netip.Prefix
	// ServiceRanges are the VIP ranges exactly as typed: host bits are
	// kept so validation can say "did you mean ...?" rather than silently
	// widening or narrowing what the operator asked for.
	ServiceRanges   []netip.Prefix
	DataplanePort   uint16
	HAProxyUser     string
	HAProxyPassword Secret
	RootPassword    Secret
	PermitRootLogin bool
	CACert          string
	CAKey           Secret
	// invalid are the keys whose value did not parse (in whole or in
	// part): what follows only from that error is not reported again.
	invalid map[string]bool
	// readable are the addresses still read from address keys that did
	// not parse ("10.40.10.5" without its prefix length, a gateway typed
	// with one), and unreadable the address keys with an item no address
	// reads from: see Rules and Unchecked.
	readable   map[string][]netip.Addr
	unreadable map[string]bool
}

// Invalid reports whether key's value did not parse.
func (c Config) Invalid(key string) bool { return c.invalid[key] }

// Properties is the normalized view of the raw OVF properties: only the
// keys the configurator reads, each trimmed, missing ones filled with the
// descriptor's default.
type Properties map[string]string

// NormalizeProperties picks and normalizes the keys the configurator reads.
// A key absent from the environment takes the descriptor's default (ESX
// always sends every declared key; older OVAs or hand-written environments
// may not). A key present but empty stays empty: the operator cleared it.
func NormalizeProperties(raw map[string]string) Properties {
	out := make(Properties, len(Specs))
	for _, s := range Specs {
		v, ok := raw[s.Key]
		if !ok {
			if p, found := ovf.Lookup(s.Key); found {
				v = p.Default
			}
		}
		out[s.Key] = Normalize(v)
	}
	return out
}

// Hash identifies the configuration the properties describe, for "nothing
// changed since last boot". Secrets are left out on purpose: a hash of a
// short password is an offline guessing oracle, and no secret influences
// the routes this project installs.
func (p Properties) Hash() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		if !IsSecret(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(canonicalValue(p[k])))
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// canonicalValue makes "10.0.0.0/24,10.0.1.0/24" and "10.0.0.0/24, 10.0.1.0/24"
// hash alike: the separators are not the configuration.
func canonicalValue(v string) string {
	return strings.Join(SplitList(v), ",")
}

// Shown is a value as it may appear in a message: redacted for secrets.
func Shown(key, value string) string {
	if IsSecret(key) && value != "" {
		return Redacted
	}
	return value
}

// finding helpers bound to a key, so every complaint names it and never
// leaks a secret value.
func errAt(key, value, hint, format string, args ...any) finding.Finding {
	return finding.Errorf(key, Shown(key, value), hint, format, args...)
}

func warnAt(key, value, hint, format string, args ...any) finding.Finding {
	return finding.Warnf(key, Shown(key, value), hint, format, args...)
}

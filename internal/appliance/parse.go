package appliance

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/ipx"
	"github.com/anyip/anyip/ovf"
)

// FromProperties reads the raw OVF properties into a Config. It reports
// every value that does not parse, not just the first, so one boot shows
// the operator everything to fix. Values that do not parse are left out of
// the Config; the findings make the whole configuration invalid.
func FromProperties(raw map[string]string) (Config, Properties, finding.List) {
	p := NormalizeProperties(raw)
	r := reader{props: p, findings: checkKeys(raw)}
	c := Config{
		Hostname:           r.hostname(KeyHostname),
		Nameservers:        r.addrList(KeyNameservers),
		AdditionalNetworks: r.prefixList(KeyAdditionalNetworks, false),
		ServiceRanges:      r.prefixList(KeyServiceRanges, true),
		DataplanePort:      r.port(KeyDataplanePort),
		HAProxyUser:        r.userName(KeyHAProxyUser),
		HAProxyPassword:    r.dataplanePassword(KeyHAProxyPassword),
		RootPassword:       r.password(KeyRootPassword),
		PermitRootLogin:    r.boolean(KeyPermitRootLogin),
	}
	c.NICs = append(c.NICs,
		r.nic("management", KeyManagementIP, KeyManagementGateway),
		r.nic("workload", KeyWorkloadIP, KeyWorkloadGateway))
	if p[KeyFrontendIP] != "" || p[KeyFrontendGateway] != "" {
		c.NICs = append(c.NICs, r.nic("frontend", KeyFrontendIP, KeyFrontendGateway))
	}
	c.CACert, c.CAKey = r.ca(KeyCACert, KeyCAKey)
	r.nameserverCount(KeyNameservers, len(c.Nameservers))
	for _, f := range r.findings {
		if f.Severity == finding.Error {
			if c.invalid == nil {
				c.invalid = map[string]bool{}
			}
			c.invalid[f.Where] = true
		}
	}
	c.readable, c.unreadable = readInvalid(p, c.invalid)
	r.findings = append(r.findings, listShape(p)...)
	return c, p, r.findings
}

type reader struct {
	props    Properties
	findings finding.List
}

func (r *reader) fail(key, value, hint, format string, args ...any) {
	r.findings = append(r.findings, errAt(key, value, hint, format, args...))
}

func (r *reader) warn(key, value, hint, format string, args ...any) {
	r.findings = append(r.findings, warnAt(key, value, hint, format, args...))
}

func (r *reader) text(key string) string {
	v := r.props[key]
	r.lengths(key, v)
	return v
}

// lengths applies the descriptor's MinLen/MaxLen, as the wizard would. An
// empty value is left to the caller: for most keys empty means "unset".
func (r *reader) lengths(key, v string) bool {
	p, _ := ovf.Lookup(key)
	n := len([]rune(v))
	if v == "" {
		return true
	}
	if p.MinLen > 0 && n < p.MinLen || p.MaxLen > 0 && n > p.MaxLen {
		r.fail(key, v, fmt.Sprintf("use %d to %d characters", p.MinLen, p.MaxLen),
			"is %d characters long", n)
		return false
	}
	return true
}

var hostnameLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

func (r *reader) hostname(key string) string {
	v := r.props[key]
	if v == "" {
		r.fail(key, v, "give a host name such as haproxy or lb-01.example.com", "is empty")
		return ""
	}
	name := strings.TrimSuffix(v, ".")
	ok := len(name) <= 253
	for _, l := range strings.Split(name, ".") {
		ok = ok && hostnameLabel.MatchString(l)
	}
	if !ok {
		r.fail(key, v, "use letters, digits and hyphens in dot-separated labels of at most 63 characters, not starting or ending with a hyphen",
			"is not a valid host name")
		return ""
	}
	return name
}

func (r *reader) password(key string) Secret {
	v := r.props[key]
	if v == "" {
		r.warn(key, "", "set it in the vApp options if the appliance should have one", "is not set")
		return Secret{}
	}
	r.lengths(key, v)
	return NewSecret(v)
}

// DefaultHAProxyUser is the old appliance's user for an empty
// loadbalance.haproxy_user.
const DefaultHAProxyUser = "admin"

var userName = regexp.MustCompile(`^[A-Za-z0-9._@-]+$`)

// userName reads the Data Plane API's user: it goes into an HAProxy
// userlist line, where a space or a '#' would change what the line says.
func (r *reader) userName(key string) string {
	v := r.text(key)
	if v == "" {
		return DefaultHAProxyUser
	}
	if !userName.MatchString(v) {
		r.fail(key, v, "use letters, digits and . _ @ - only", "is not a valid user name")
		return ""
	}
	return v
}

// dataplanePassword reads the Data Plane API's password. The old appliance
// turned an empty one into "haproxy", a password anyone can guess; we do
// not: no user is written, the API accepts no login, and the warning says
// so (DESIGN.md, "The rest of the wizard").
func (r *reader) dataplanePassword(key string) Secret {
	if r.props[key] == "" {
		r.warn(key, "", "set it in the vApp options; the old appliance's default password \"haproxy\" is not used",
			"is not set: the Data Plane API gets no user and accepts no login")
		return Secret{}
	}
	return r.password(key)
}

func (r *reader) boolean(key string) bool {
	v := r.props[key]
	switch strings.ToLower(v) {
	case "true", "yes", "1", "on":
		return true
	case "false", "no", "0", "off":
		return false
	case "":
		p, _ := ovf.Lookup(key)
		return strings.EqualFold(p.Default, "true")
	}
	r.fail(key, v, "use true or false", "is not a boolean")
	return false
}

func (r *reader) port(key string) uint16 {
	v := r.props[key]
	if v == "" || v == "0" {
		// The old appliance's first boot read 0 as "the default" too.
		p, _ := ovf.Lookup(key)
		v = p.Default
	}
	lo, hi := int64(1), int64(65535)
	if p, ok := ovf.Lookup(key); ok {
		if p.MinValue != nil {
			lo = max(lo, *p.MinValue)
		}
		if p.MaxValue != nil {
			hi = min(hi, *p.MaxValue)
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		r.fail(key, v, fmt.Sprintf("use a whole number from %d to %d", lo, hi), "is not a valid port")
		return 0
	}
	return uint16(n)
}

func (r *reader) nic(role, addrKey, gwKey string) NIC {
	n := NIC{Role: role, Key: addrKey, GatewayKey: gwKey}
	if v := r.props[addrKey]; v != "" {
		if isAddr(v) {
			r.fail(addrKey, v, fmt.Sprintf("add the prefix length of the %s network, e.g. %s/24", role, v),
				"needs CIDR form (address/prefix-length)")
		} else if p, err := nicSyntax.Parse(v); err != nil {
			bad := err.(*ipx.BadPrefix)
			r.fail(addrKey, v, bad.Hint, "%s", bad.Problem)
		} else {
			n.Addr = p
		}
	}
	if v := r.props[gwKey]; v != "" {
		n.Gateway = r.addr(gwKey, v)
	}
	return n
}

// nicSyntax reads a NIC's address: host bits are the point of it.
var nicSyntax = ipx.Syntax{Example4: "192.168.10.5/24", Example6: "fd00:10::5/64"}

func (r *reader) addr(key, v string) netip.Addr {
	a, err := netip.ParseAddr(v)
	switch {
	case err == nil && a.Zone() == "" && !a.Is4In6():
		return a
	case strings.Contains(v, "/"):
		bare, _, _ := strings.Cut(v, "/")
		r.fail(key, v, fmt.Sprintf("write only the address, e.g. %s", bare), "must be a single address, not a prefix")
	default:
		r.fail(key, v, "write one IPv4 or IPv6 address, e.g. 192.168.10.1", "is not an IP address: %s", reason(err))
	}
	return netip.Addr{}
}

func (r *reader) addrList(key string) []netip.Addr {
	var out []netip.Addr
	for _, item := range SplitList(r.props[key]) {
		if a := r.addr(key, item); a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

func (r *reader) nameserverCount(key string, n int) {
	if n > 3 {
		r.warn(key, r.props[key], "list at most three; the resolver ignores the rest", "lists %d servers", n)
	}
}

// prefixList reads CIDRs. Host bits are kept (see Config.ServiceRanges);
// what cannot be a prefix at all gets the most specific hint we can give.
// With bare, an address alone is its own /32 (/128), as the ranges file
// and the old appliance read it.
func (r *reader) prefixList(key string, bare bool) []netip.Prefix {
	sy := ipx.Syntax{Bare: bare, Ranges: true}
	var out []netip.Prefix
	for _, item := range splitRanges(r.props[key]) {
		p, err := sy.Parse(item)
		if err != nil {
			bad := err.(*ipx.BadPrefix)
			r.fail(key, item, bad.Hint, "%s", bad.Problem)
			continue
		}
		out = append(out, p)
	}
	return out
}

// splitRanges is SplitList that keeps "a - b" together, so an address
// range typed with spaces gets the range hint rather than three errors,
// and "a / n" together, so a stray space is named as such.
func splitRanges(v string) []string {
	v = spacedDash.ReplaceAllString(v, "-")
	var out []string
	for _, typed := range SplitList(spacedSlash.ReplaceAllStringFunc(v, func(m string) string {
		return strings.NewReplacer(" ", "\x00", "\t", "\x01").Replace(m)
	})) {
		out = append(out, strings.NewReplacer("\x00", " ", "\x01", "\t").Replace(typed))
	}
	return out
}

var (
	spacedDash  = regexp.MustCompile(`\s*-\s*`)
	spacedSlash = regexp.MustCompile(`[ \t]+/[ \t]*|/[ \t]+`)
)

// ParsePrefix reads one CIDR as an operator typed it, as the range keys
// do (a first-last that is one CIDR is that CIDR; host bits are kept). On
// failure it returns a hint that says what to write instead.
func ParsePrefix(s string) (netip.Prefix, string, error) {
	p, err := ipx.Syntax{Ranges: true}.Parse(s)
	if err != nil {
		bad := err.(*ipx.BadPrefix)
		return netip.Prefix{}, bad.Hint, errors.New(bad.Problem)
	}
	return p, "", nil
}

// ca checks the CA certificate and key: both or neither, each real PEM,
// and the key belongs to the certificate. PEM pasted into a single-line
// form field arrives with its newlines turned into spaces; that is
// repaired rather than refused.
func (r *reader) ca(certKey, keyKey string) (string, Secret) {
	cert, key := r.props[certKey], r.props[keyKey]
	if cert == "" && key == "" {
		return "", Secret{}
	}
	if cert == "" || key == "" {
		missing, given := certKey, keyKey
		if key == "" {
			missing, given = keyKey, certKey
		}
		r.fail(missing, "", fmt.Sprintf("set both %s and %s, or clear both to have a CA generated", certKey, keyKey),
			"is empty while %s is set", given)
		return "", Secret{}
	}
	cert, key = RepairPEM(cert), RepairPEM(key)
	ok := true
	if b, _ := pem.Decode([]byte(cert)); b == nil || b.Type != "CERTIFICATE" {
		r.fail(certKey, "", "paste the whole PEM certificate, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----",
			"is not a PEM certificate")
		ok = false
	}
	if b, _ := pem.Decode([]byte(key)); b == nil || !strings.Contains(b.Type, "PRIVATE KEY") {
		r.fail(keyKey, key, "paste the whole PEM private key, from -----BEGIN ... PRIVATE KEY----- to its END line",
			"is not a PEM private key")
		ok = false
	}
	if ok {
		// The error text of X509KeyPair never contains key material.
		if _, err := tls.X509KeyPair([]byte(cert), []byte(key)); err != nil {
			r.fail(keyKey, key, fmt.Sprintf("give the key that belongs to %s", certKey),
				"does not match the certificate: %s", reason(err))
			ok = false
		}
	}
	if !ok {
		return "", Secret{}
	}
	return cert, NewSecret(key)
}

var pemBlock = regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----`)

// RepairPEM puts back the newlines a web form turned into spaces; text
// that already has line breaks is returned with its ends trimmed.
func RepairPEM(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\r\n", "\n")
	if strings.Contains(s, "\n") {
		return s + "\n"
	}
	var b strings.Builder
	for _, m := range pemBlock.FindAllStringSubmatch(s, -1) {
		b.WriteString("-----BEGIN " + m[1] + "-----\n")
		body := strings.Join(strings.Fields(m[2]), "")
		for len(body) > 64 {
			b.WriteString(body[:64] + "\n")
			body = body[64:]
		}
		if body != "" {
			b.WriteString(body + "\n")
		}
		b.WriteString("-----END " + m[3] + "-----\n")
	}
	if b.Len() == 0 {
		return s
	}
	return b.String()
}

func isAddr(s string) bool { a, err := netip.ParseAddr(s); return err == nil && a.Zone() == "" }

// reason trims the parser's own error to its explanation: netip repeats
// the input in its messages, which we already show as the value.
func reason(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		return msg[i+3:]
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

package appliance

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/ovf"
)

// valid is a complete, valid set of properties as ESX sends them.
func valid() map[string]string {
	return map[string]string{
		KeyHostname:           "lb-01.example.com",
		KeyNameservers:        "192.168.10.2, 192.168.10.3",
		KeyManagementIP:       "192.168.10.5/24",
		KeyManagementGateway:  "192.168.10.1",
		KeyWorkloadIP:         "192.168.20.5/24",
		KeyWorkloadGateway:    "192.168.20.1",
		KeyAdditionalNetworks: "10.10.0.0/16",
		KeyServiceRanges:      "192.168.20.128/25",
		KeyDataplanePort:      "5556",
		KeyHAProxyUser:        "admin",
		KeyHAProxyPassword:    "s3cret-dataplane",
		KeyRootPassword:       "s3cret-root",
		KeyPermitRootLogin:    "True",
		KeyCACert:             "",
		KeyCAKey:              "",
	}
}

func with(kv ...string) map[string]string {
	m := valid()
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func errorsAt(fs finding.List, key string) finding.List {
	var out finding.List
	for _, f := range fs {
		if f.Severity == finding.Error && f.Where == key {
			out = append(out, f)
		}
	}
	return out
}

func mustPrefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestValidPropertiesHaveNoErrors(t *testing.T) {
	c, _, fs := FromProperties(valid())
	if fs.HasErrors() {
		t.Fatalf("valid properties gave errors:\n%v", fs)
	}
	if c.Hostname != "lb-01.example.com" || c.DataplanePort != 5556 || !c.PermitRootLogin ||
		c.HAProxyUser != "admin" || c.HAProxyPassword.Reveal() != "s3cret-dataplane" || c.RootPassword.Reveal() != "s3cret-root" {
		t.Errorf("config = %+v", c)
	}
	if len(c.NICs) != 2 || c.NICs[0].Role != "management" || c.NICs[1].Role != "workload" {
		t.Fatalf("NICs = %+v, want management and workload only", c.NICs)
	}
	if c.NICs[1].Addr != netip.MustParsePrefix("192.168.20.5/24") || c.NICs[1].Gateway != netip.MustParseAddr("192.168.20.1") {
		t.Errorf("workload NIC = %+v", c.NICs[1])
	}
	if c.NICs[1].Key != KeyWorkloadIP || c.NICs[1].GatewayKey != KeyWorkloadGateway {
		t.Errorf("workload NIC keys = %q, %q", c.NICs[1].Key, c.NICs[1].GatewayKey)
	}
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{" 10.0.0.0/24 ", "10.0.0.0/24"},
		{"\t10.0.0.0/24\r\n", "10.0.0.0/24"},
		{"\ufeff haproxy", "haproxy"},
		{"null", ""},
		{"NULL", ""},
		{" Null ", ""},
		{"(null)", ""},
		{"nullx", "nullx"},
		{"True", "True"},
	} {
		if got := Normalize(c.in); got != c.want {
			t.Errorf("Normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSplitList(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ;", nil},
		{"a", []string{"a"}},
		{"a,b", []string{"a", "b"}},
		{"a, b", []string{"a", "b"}},
		{"a ,b ,", []string{"a", "b"}},
		{",a,,b,", []string{"a", "b"}},
		{"a;b; c", []string{"a", "b", "c"}},
		{"a b\tc\nd\r\ne", []string{"a", "b", "c", "d", "e"}},
	} {
		if got := SplitList(c.in); !slices.Equal(got, c.want) {
			t.Errorf("SplitList(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestWebFormValues(t *testing.T) {
	for _, c := range []struct {
		name   string
		key    string
		value  string
		ranges []string // expected ServiceRanges
		ns     []string // expected Nameservers
	}{
		{"surrounding spaces", KeyServiceRanges, "  192.168.20.128/25  ", []string{"192.168.20.128/25"}, nil},
		{"comma-space separators", KeyServiceRanges, "192.168.20.128/26, 192.168.20.192/26", []string{"192.168.20.128/26", "192.168.20.192/26"}, nil},
		{"semicolons", KeyServiceRanges, "192.168.20.128/26;192.168.20.192/26", []string{"192.168.20.128/26", "192.168.20.192/26"}, nil},
		{"stray commas", KeyServiceRanges, ",192.168.20.128/26,, 192.168.20.192/26 ,", []string{"192.168.20.128/26", "192.168.20.192/26"}, nil},
		{"empty", KeyServiceRanges, "", nil, nil},
		{"null", KeyServiceRanges, "null", nil, nil},
		{"NULL", KeyServiceRanges, " NULL ", nil, nil},
		{"host bits kept as typed", KeyServiceRanges, "192.168.20.130/25", []string{"192.168.20.130/25"}, nil},
		{"ipv6", KeyServiceRanges, "2001:db8:20::/64", []string{"2001:db8:20::/64"}, nil},
		{"nameservers comma-space", KeyNameservers, "192.168.10.2, 192.168.10.3", nil, []string{"192.168.10.2", "192.168.10.3"}},
		{"nameservers semicolon", KeyNameservers, "192.168.10.2;2001:db8::53", nil, []string{"192.168.10.2", "2001:db8::53"}},
		{"nameservers null", KeyNameservers, "null", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := with(c.key, c.value)
			if c.key == KeyNameservers {
				raw[KeyServiceRanges] = ""
			}
			cfg, _, fs := FromProperties(raw)
			if fs.HasErrors() {
				t.Fatalf("errors:\n%v", fs)
			}
			if c.key == KeyServiceRanges {
				if !slices.Equal(cfg.ServiceRanges, mustPrefixes(t, c.ranges...)) {
					t.Errorf("ServiceRanges = %v, want %v", cfg.ServiceRanges, c.ranges)
				}
			} else {
				var got []string
				for _, a := range cfg.Nameservers {
					got = append(got, a.String())
				}
				if !slices.Equal(got, c.ns) {
					t.Errorf("Nameservers = %v, want %v", got, c.ns)
				}
			}
		})
	}
}

func TestBooleans(t *testing.T) {
	def, ok := ovf.Lookup(KeyPermitRootLogin)
	if !ok {
		t.Fatal("descriptor lacks " + KeyPermitRootLogin)
	}
	defVal, err := strconv.ParseBool(def.Default)
	if err != nil {
		t.Fatalf("descriptor default %q: %v", def.Default, err)
	}
	for _, c := range []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{"True", true, false},
		{"true", true, false},
		{"TRUE", true, false},
		{" yes ", true, false},
		{"1", true, false},
		{"on", true, false},
		{"False", false, false},
		{"false", false, false},
		{"FALSE", false, false},
		{"no", false, false},
		{"0", false, false},
		{"", defVal, false},
		{"null", defVal, false},
		{"maybe", false, true},
		{"ture", false, true},
		{"2", false, true},
		{"y e s", false, true},
	} {
		cfg, _, fs := FromProperties(with(KeyPermitRootLogin, c.in))
		errs := errorsAt(fs, KeyPermitRootLogin)
		if c.wantErr {
			if len(errs) != 1 {
				t.Errorf("%q: want one error at %s, got %v", c.in, KeyPermitRootLogin, fs)
			} else if !strings.Contains(errs[0].Hint, "true or false") {
				t.Errorf("%q: hint %q does not say what to write", c.in, errs[0].Hint)
			}
			continue
		}
		if fs.HasErrors() {
			t.Errorf("%q: errors %v", c.in, fs)
		}
		if cfg.PermitRootLogin != c.want {
			t.Errorf("%q: PermitRootLogin = %v, want %v", c.in, cfg.PermitRootLogin, c.want)
		}
	}
}

// A key absent from the environment takes the descriptor's default.
func TestMissingKeysTakeDescriptorDefaults(t *testing.T) {
	cfg, props, fs := FromProperties(map[string]string{})
	for _, s := range Specs {
		p, ok := ovf.Lookup(s.Key)
		if !ok {
			t.Errorf("%s: not in the descriptor", s.Key)
			continue
		}
		if props[s.Key] != Normalize(p.Default) {
			t.Errorf("%s = %q, want the descriptor default %q", s.Key, props[s.Key], p.Default)
		}
	}
	if fs.HasErrors() {
		t.Errorf("the descriptor defaults gave errors:\n%v", fs)
	}
	def := func(k string) string { p, _ := ovf.Lookup(k); return p.Default }
	if cfg.Hostname != def(KeyHostname) {
		t.Errorf("Hostname = %q, want %q", cfg.Hostname, def(KeyHostname))
	}
	var ns []string
	for _, a := range cfg.Nameservers {
		ns = append(ns, a.String())
	}
	if want := SplitList(def(KeyNameservers)); !slices.Equal(ns, want) || len(want) == 0 {
		t.Errorf("Nameservers = %v, want %v", ns, want)
	}
	if port, _ := strconv.Atoi(def(KeyDataplanePort)); int(cfg.DataplanePort) != port || port == 0 {
		t.Errorf("DataplanePort = %d, want %d", cfg.DataplanePort, port)
	}
	if cfg.HAProxyUser != def(KeyHAProxyUser) {
		t.Errorf("HAProxyUser = %q, want %q", cfg.HAProxyUser, def(KeyHAProxyUser))
	}
	if b, _ := strconv.ParseBool(def(KeyPermitRootLogin)); cfg.PermitRootLogin != b {
		t.Errorf("PermitRootLogin = %v, want %v", cfg.PermitRootLogin, b)
	}
	for _, n := range cfg.NICs {
		if n.Static() {
			t.Errorf("%s NIC is static by default: %v", n.Role, n.Addr)
		}
	}
	if len(cfg.NICs) != 2 {
		t.Errorf("frontend NIC present without frontend properties: %+v", cfg.NICs)
	}

	// Missing is not the same as present but empty: the operator cleared it.
	_, props, _ = FromProperties(map[string]string{KeyHostname: "", KeyNameservers: ""})
	if props[KeyHostname] != "" || props[KeyNameservers] != "" {
		t.Errorf("cleared keys took defaults: %q, %q", props[KeyHostname], props[KeyNameservers])
	}
}

func TestFrontendNIC(t *testing.T) {
	cfg, _, fs := FromProperties(with(KeyFrontendIP, "192.168.30.5/24", KeyFrontendGateway, "192.168.30.1"))
	if fs.HasErrors() {
		t.Fatalf("errors:\n%v", fs)
	}
	if len(cfg.NICs) != 3 || cfg.NICs[2].Role != "frontend" || cfg.NICs[2].Key != KeyFrontendIP ||
		cfg.NICs[2].Addr != netip.MustParsePrefix("192.168.30.5/24") || cfg.NICs[2].Gateway != netip.MustParseAddr("192.168.30.1") {
		t.Errorf("NICs = %+v", cfg.NICs)
	}
	cfg, _, _ = FromProperties(with(KeyFrontendIP, "null", KeyFrontendGateway, " "))
	if len(cfg.NICs) != 2 {
		t.Errorf("frontend NIC present for null/blank properties: %+v", cfg.NICs)
	}
}

// One case per mistake an operator makes in a single field: the finding is
// an error at that key, with the value as typed, and says what to write.
func TestFieldErrors(t *testing.T) {
	for _, c := range []struct {
		name      string
		key       string
		value     string
		wantValue string // the finding's Value; defaults to value
		msg       string // substring of Message
		hint      string // substring of Hint
	}{
		{"static IP without prefix length", KeyManagementIP, "192.168.10.5", "", "needs CIDR form", "192.168.10.5/24"},
		{"workload IP without prefix length", KeyWorkloadIP, " 192.168.20.5 ", "192.168.20.5", "needs CIDR form", "add the prefix length of the workload network"},
		{"static IP octet typo", KeyManagementIP, "192.168.10.300/24", "", "has an IPv4 address in which 300 is more than 255", "an IPv4 address is four numbers from 0 to 255, e.g. 192.168.10.5/24"},
		{"static IP with zone", KeyManagementIP, "fe80::5%eth0/64", "", "IPv6 zone", "remove the %zone"},
		{"static IP with zone, no prefix length", KeyWorkloadIP, "fe80::5%eth0", "", "IPv6 zone", "remove the %zone"},
		{"static IP with a space before the /", KeyFrontendIP, "10.40.30.5 /24", "", "has a space next to the /", "did you mean 10.40.30.5/24?"},
		{"static IP prefix too long", KeyFrontendIP, "10.40.30.5/33", "", `has a bad prefix length "33"`, "the prefix length after / must be a number from 0 to 32"},
		{"static IP with a netmask", KeyManagementIP, "192.168.10.5/255.255.255.0", "", "has a netmask (255.255.255.0) after the /, not a prefix length", "did you mean 192.168.10.5/24?"},
		{"static IPv6 address too short", KeyManagementIP, "fd00:10:5/64", "", "has an IPv6 address of 3 groups; it needs eight, or :: for the zero groups left out", "e.g. fd00:10::5/64"},
		{"range with zone", KeyServiceRanges, "fe80::%eth0/64", "", "IPv6 zone", "remove the %zone"},
		{"gateway given as prefix", KeyManagementGateway, "192.168.10.1/24", "", "must be a single address", "192.168.10.1"},
		{"gateway garbage", KeyWorkloadGateway, "gw.example.com", "", "is not an IP address", "one IPv4 or IPv6 address"},
		{"nameserver typo", KeyNameservers, "192.168.10.2, 192.168.10.256", "192.168.10.256", "is not an IP address", "one IPv4 or IPv6 address"},
		{"range octet typo", KeyServiceRanges, "10.0.0.300/24", "", "has an IPv4 address in which 300 is more than 255", "an IPv4 address is four numbers from 0 to 255, e.g. 192.168.30.128/26"},
		{"ipv6 range too short", KeyServiceRanges, "fd00:30:100/120", "", "has an IPv6 address of 3 groups; it needs eight, or :: for the zero groups left out", "write the address with eight groups of hex digits, or :: for one run of zero groups, e.g. fd00:30::1:0/120"},
		{"range with a netmask", KeyServiceRanges, "10.40.30.64/255.255.255.192", "", "has a netmask (255.255.255.192) after the /, not a prefix length", "did you mean 10.40.30.64/26?"},
		{"range with a netmask that is not contiguous", KeyServiceRanges, "10.40.30.64/255.255.0.255", "", "has the netmask 255.255.0.255 after the /, which is not contiguous", "write the prefix length, a number from 0 to 32"},
		{"range prefix length with a leading zero", KeyServiceRanges, "10.40.30.0/027", "", "has a prefix length with a leading zero (027)", "did you mean 10.40.30.0/27?"},
		{"range prefix too long", KeyServiceRanges, "10.0.0.0/33", "", `bad prefix length "33"`, "from 0 to 32"},
		{"ipv6 prefix too long", KeyServiceRanges, "2001:db8::/129", "", `bad prefix length "129"`, "from 0 to 128"},
		{"range with backslash", KeyServiceRanges, `10.0.0.0\24`, "", "is not a CIDR", "address/prefix-length"},
		{"address range with spaces", KeyServiceRanges, "10.0.0.64 - 10.0.0.126", "10.0.0.64-10.0.0.126", "is an address range that is not one CIDR", "10.0.0.64/27, 10.0.0.96/28, 10.0.0.112/29, 10.0.0.120/30, 10.0.0.124/31, 10.0.0.126/32"},
		{"unaligned address range", KeyServiceRanges, "10.0.0.10-10.0.0.20", "", "is an address range", "10.0.0.10/31, 10.0.0.12/30, 10.0.0.16/30, 10.0.0.20/32"},
		{"bare address in additional networks", KeyAdditionalNetworks, "10.0.0.5", "", "has no prefix length", "10.0.0.5/32"},
		{"bare ipv6 address in additional networks", KeyAdditionalNetworks, "2001:db8::5", "", "has no prefix length", "2001:db8::5/128"},
		{"user name with a space", KeyHAProxyUser, "ad min", "", "is not a valid user name", "letters, digits"},
		{"user name with a hash", KeyHAProxyUser, "admin#x", "", "is not a valid user name", "letters, digits"},
		{"ipv4-mapped range", KeyServiceRanges, "::ffff:10.0.0.0/120", "", "IPv4-mapped", "10.0.0.0/24"},
		{"bad additional network", KeyAdditionalNetworks, "10.10.0.0/16, 10.20.0.0/", "10.20.0.0/", "bad prefix length", "from 0 to 32"},
		{"port too large", KeyDataplanePort, "65536", "", "is not a valid port", "from 1 to 65535"},
		{"port negative", KeyDataplanePort, "-1", "", "is not a valid port", "from 1 to 65535"},
		{"port not a number", KeyDataplanePort, "https", "", "is not a valid port", "whole number"},
		{"port with decimals", KeyDataplanePort, "5556.0", "", "is not a valid port", "whole number"},
		{"hostname leading hyphen", KeyHostname, "-lb.example.com", "", "is not a valid host name", "hyphen"},
		{"hostname trailing hyphen", KeyHostname, "lb-.example.com", "", "is not a valid host name", "hyphen"},
		{"hostname underscore", KeyHostname, "lb_01.example.com", "", "is not a valid host name", "letters, digits and hyphens"},
		{"hostname empty label", KeyHostname, "lb..example.com", "", "is not a valid host name", "dot-separated"},
		{"hostname space", KeyHostname, "lb 01", "", "is not a valid host name", "letters"},
		{"hostname label too long", KeyHostname, strings.Repeat("a", 64) + ".example.com", "", "is not a valid host name", "63 characters"},
		{"hostname empty", KeyHostname, "", "", "is empty", "host name"},
		{"hostname null", KeyHostname, "null", "", "is empty", "host name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, fs := FromProperties(with(c.key, c.value))
			errs := errorsAt(fs, c.key)
			if len(errs) != 1 {
				t.Fatalf("want exactly one error at %s, got:\n%v", c.key, fs)
			}
			f := errs[0]
			want := c.wantValue
			if want == "" {
				want = Normalize(c.value)
			}
			if f.Value != want {
				t.Errorf("Value = %q, want %q", f.Value, want)
			}
			if !strings.Contains(f.Message, c.msg) {
				t.Errorf("Message = %q, want it to contain %q", f.Message, c.msg)
			}
			if !strings.Contains(f.Hint, c.hint) {
				t.Errorf("Hint = %q, want it to contain %q", f.Hint, c.hint)
			}
			if n, _ := fs.Count(); n != 1 {
				t.Errorf("one mistake gave %d errors:\n%v", n, fs)
			}
		})
	}
}

// A bare address in the ranges is one address, as in the ranges file.
func TestBareAddressIsOneAddressRange(t *testing.T) {
	cfg, _, fs := FromProperties(with(KeyServiceRanges, "10.0.0.5, 2001:db8::5, 10.0.1.0/24"))
	if fs.HasErrors() {
		t.Fatal(fs)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32"), netip.MustParsePrefix("2001:db8::5/128"), netip.MustParsePrefix("10.0.1.0/24")}
	if !slices.Equal(cfg.ServiceRanges, want) {
		t.Errorf("ServiceRanges = %v, want %v", cfg.ServiceRanges, want)
	}
}

func TestDataplaneUserAndPasswordDefaults(t *testing.T) {
	cfg, _, fs := FromProperties(with(KeyHAProxyUser, "", KeyHAProxyPassword, ""))
	if cfg.HAProxyUser != DefaultHAProxyUser {
		t.Errorf("empty user = %q, want %q", cfg.HAProxyUser, DefaultHAProxyUser)
	}
	if cfg.HAProxyPassword.IsSet() {
		t.Error("an empty password became a password")
	}
	var warned bool
	for _, f := range fs {
		if f.Where == KeyHAProxyPassword && f.Severity == finding.Warning && strings.Contains(f.Message, "accepts no login") {
			warned = true
		}
	}
	if !warned || fs.HasErrors() {
		t.Errorf("want one warning that the API accepts no login, got:\n%v", fs)
	}
}

func TestHostnames(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"haproxy", "haproxy"},
		{"lb-01.example.com", "lb-01.example.com"},
		{"LB-01.Example.COM", "LB-01.Example.COM"},
		{"lb-01.example.com.", "lb-01.example.com"},
		{" haproxy.local ", "haproxy.local"},
		{strings.Repeat("a", 63) + ".example.com", strings.Repeat("a", 63) + ".example.com"},
	} {
		cfg, _, fs := FromProperties(with(KeyHostname, c.in))
		if fs.HasErrors() || cfg.Hostname != c.want {
			t.Errorf("hostname %q: got %q, findings %v", c.in, cfg.Hostname, fs)
		}
	}
}

func TestPorts(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint16
	}{
		{"1", 1},
		{"443", 443},
		{" 8443 ", 8443},
		{"65535", 65535},
		{"", 5556},  // the descriptor's default
		{"0", 5556}, // the old appliance's reading of 0
	} {
		cfg, _, fs := FromProperties(with(KeyDataplanePort, c.in))
		if fs.HasErrors() || cfg.DataplanePort != c.want {
			t.Errorf("port %q: got %d, findings %v", c.in, cfg.DataplanePort, fs)
		}
	}
}

// Every mistake in one configuration is reported, not just the first.
func TestAllFieldErrorsAtOnce(t *testing.T) {
	_, _, fs := FromProperties(with(
		KeyManagementIP, "192.168.10.5",
		KeyServiceRanges, "10.0.0.0/33, 10.0.0.5/",
		KeyDataplanePort, "x",
		KeyPermitRootLogin, "perhaps",
	))
	if n, _ := fs.Count(); n != 5 {
		t.Errorf("want 5 errors, got %d:\n%v", n, fs)
	}
}

func TestPasswords(t *testing.T) {
	const short = "abc12"
	long := strings.Repeat("p", 129)
	for _, key := range []string{KeyRootPassword, KeyHAProxyPassword} {
		for _, c := range []struct {
			name    string
			value   string
			wantErr bool
			wantSet bool
		}{
			{"shorter than 6", short, true, false},
			{"longer than 128", long, true, false},
			{"exactly 6", "abc123", false, true},
			{"128", strings.Repeat("q", 128), false, true},
			{"6 runes, more bytes", "pässwö", false, true},
			{"unset", "", false, false},
		} {
			t.Run(key+"/"+c.name, func(t *testing.T) {
				cfg, _, fs := FromProperties(with(key, c.value))
				errs := errorsAt(fs, key)
				if c.wantErr != (len(errs) == 1) || len(errs) > 1 {
					t.Fatalf("errors at %s: %v", key, errs)
				}
				for _, f := range fs {
					assertNoSecret(t, f, c.value)
				}
				if c.wantErr {
					if errs[0].Value != Redacted {
						t.Errorf("Value = %q, want %q", errs[0].Value, Redacted)
					}
					if !strings.Contains(errs[0].Hint, "6 to 128") {
						t.Errorf("Hint = %q, want the allowed length", errs[0].Hint)
					}
					return
				}
				s := cfg.RootPassword
				if key == KeyHAProxyPassword {
					s = cfg.HAProxyPassword
				}
				if s.IsSet() != c.wantSet || s.Reveal() != c.value {
					t.Errorf("secret set=%v value ok=%v", s.IsSet(), s.Reveal() == c.value)
				}
				if !c.wantSet {
					var warned bool
					for _, f := range fs {
						warned = warned || f.Where == key && f.Severity == finding.Warning
					}
					if !warned {
						t.Errorf("no warning for unset %s", key)
					}
				}
			})
		}
	}
}

// assertNoSecret fails when any part of f shows secret.
func assertNoSecret(t *testing.T, f finding.Finding, secret string) {
	t.Helper()
	if secret == "" {
		return
	}
	for name, s := range map[string]string{"Where": f.Where, "Value": f.Value, "Message": f.Message, "Hint": f.Hint, "String()": f.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("finding %s shows the secret: %q", name, s)
		}
	}
}

// selfSigned returns a CA certificate and its key in PEM, and a second,
// unrelated key of the same kind.
func selfSigned(t *testing.T, kind string) (certPEM, keyPEM, otherKeyPEM string) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "anyip test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	var pub, priv any
	keyPEMOf := func(k any) string {
		var b *pem.Block
		switch k := k.(type) {
		case *ecdsa.PrivateKey:
			der, err := x509.MarshalECPrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			b = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
		default:
			der, err := x509.MarshalPKCS8PrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			b = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
		}
		return string(pem.EncodeToMemory(b))
	}
	var other any
	switch kind {
	case "ecdsa":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, priv, other = &k.PublicKey, k, o
	case "ed25519":
		p, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		_, o, _ := ed25519.GenerateKey(rand.Reader)
		pub, priv, other = p, k, o
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), keyPEMOf(priv), keyPEMOf(other)
}

// flatten is what a single-line web form field does to PEM text.
func flatten(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", " ") }

// body is the base64 text of a PEM block, the part that must never leak.
func body(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

func TestRepairPEM(t *testing.T) {
	cert, key, _ := selfSigned(t, "ecdsa")
	for _, c := range []struct{ name, in, want string }{
		{"intact", cert, cert},
		{"intact with surrounding space", "  " + cert + "\n\n", cert},
		{"CRLF", strings.ReplaceAll(cert, "\n", "\r\n"), cert},
		{"newlines became spaces", flatten(cert), cert},
		{"newlines became spaces, key", flatten(key), key},
		{"two blocks flattened", flatten(cert) + " " + flatten(key), cert + key},
		{"not PEM", "hello world", "hello world"},
	} {
		if got := RepairPEM(c.in); got != c.want {
			t.Errorf("%s: RepairPEM = %q, want %q", c.name, got, c.want)
		}
	}
	// Repaired text decodes to the same DER.
	b, _ := pem.Decode([]byte(RepairPEM(flatten(cert))))
	o, _ := pem.Decode([]byte(cert))
	if b == nil || o == nil || string(b.Bytes) != string(o.Bytes) {
		t.Error("repaired certificate does not decode to the original DER")
	}
}

func TestCA(t *testing.T) {
	for _, kind := range []string{"ecdsa", "ed25519"} {
		cert, key, otherKey := selfSigned(t, kind)
		for _, c := range []struct {
			name    string
			cert    string
			key     string
			errKeys []string // keys with an error; none means accepted
			msg     string
		}{
			{"neither", "", "", nil, ""},
			{"both, intact", cert, key, nil, ""},
			{"both, newlines became spaces", flatten(cert), flatten(key), nil, ""},
			{"both, null", "null", "NULL", nil, ""},
			{"cert without key", cert, "", []string{KeyCAKey}, "is empty while " + KeyCACert + " is set"},
			{"key without cert", "", key, []string{KeyCACert}, "is empty while " + KeyCAKey + " is set"},
			{"mismatched key", cert, otherKey, []string{KeyCAKey}, "does not match the certificate"},
			{"mismatched key, flattened", flatten(cert), flatten(otherKey), []string{KeyCAKey}, "does not match the certificate"},
			{"key is not PEM", cert, "not a key at all", []string{KeyCAKey}, "is not a PEM private key"},
			{"cert is not PEM", "MIIB garbage", key, []string{KeyCACert}, "is not a PEM certificate"},
			{"cert and key swapped", key, cert, []string{KeyCACert, KeyCAKey}, "is not a PEM"},
		} {
			t.Run(kind+"/"+c.name, func(t *testing.T) {
				cfg, _, fs := FromProperties(with(KeyCACert, c.cert, KeyCAKey, c.key))
				for _, f := range fs {
					for _, secret := range append(body(key), body(otherKey)...) {
						assertNoSecret(t, f, secret)
					}
				}
				if len(c.errKeys) == 0 {
					if fs.HasErrors() {
						t.Fatalf("errors:\n%v", fs)
					}
					if c.cert == "" || c.cert == "null" {
						if cfg.CACert != "" || cfg.CAKey.IsSet() {
							t.Errorf("CA set without properties")
						}
						return
					}
					if cfg.CACert != cert || cfg.CAKey.Reveal() != key {
						t.Errorf("CA not repaired to the original PEM:\ncert %q\nkey ok=%v", cfg.CACert, cfg.CAKey.Reveal() == key)
					}
					return
				}
				if n, _ := fs.Count(); n != len(c.errKeys) {
					t.Errorf("want %d errors, got:\n%v", len(c.errKeys), fs)
				}
				for _, k := range c.errKeys {
					errs := errorsAt(fs, k)
					if len(errs) != 1 || !strings.Contains(errs[0].Message, c.msg) {
						t.Errorf("want an error at %s saying %q, got:\n%v", k, c.msg, fs)
					}
					if k == KeyCAKey && errs[0].Value != "" && errs[0].Value != Redacted {
						t.Errorf("key finding Value = %q", errs[0].Value)
					}
				}
				if cfg.CACert != "" || cfg.CAKey.IsSet() {
					t.Errorf("an invalid CA was kept in the config")
				}
			})
		}
	}
}

func TestParsePrefix(t *testing.T) {
	for _, c := range []struct {
		in, want string // want "" means an error
		hint     string
	}{
		{"10.0.0.0/24", "10.0.0.0/24", ""},
		{"10.0.0.5/24", "10.0.0.5/24", ""}, // host bits are validate's business
		{"2001:db8::/64", "2001:db8::/64", ""},
		{"10.0.0.5", "", "10.0.0.5/32"},
		{"2001:db8::5", "", "2001:db8::5/128"},
		{"10.0.0.64-10.0.0.127", "10.0.0.64/26", ""},
		{"10.0.0.64 - 10.0.0.127", "10.0.0.64/26", ""},
		{"10.0.0.64-10.0.0.128", "", "write it in CIDR form: 10.0.0.64/26, 10.0.0.128/32"},
		{"10.0.0.0/33", "", "0 to 32"},
		{"10.0.0.0/x", "", "0 to 32"},
		{"10.0.0.300/24", "", "0 to 255"},
		{`10.0.0.0\24`, "", "address/prefix-length"},
		{"fe80::%eth0/64", "", "remove the %zone"},
		{"fe80::5%eth0", "", "remove the %zone"},
		{"", "", "address/prefix-length"},
	} {
		p, hint, err := ParsePrefix(c.in)
		if c.want != "" {
			if err != nil || p.String() != c.want {
				t.Errorf("ParsePrefix(%q) = %v, %v; want %s", c.in, p, err, c.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParsePrefix(%q) = %v, want an error", c.in, p)
			continue
		}
		if p.IsValid() {
			t.Errorf("ParsePrefix(%q) returned %v with its error", c.in, p)
		}
		if hint == "" || !strings.Contains(hint, c.hint) {
			t.Errorf("ParsePrefix(%q) hint = %q, want it to contain %q", c.in, hint, c.hint)
		}
	}
}

func TestIsSecret(t *testing.T) {
	for _, s := range Specs {
		want := s.Key == KeyRootPassword || s.Key == KeyHAProxyPassword || s.Key == KeyCAKey
		if got := IsSecret(s.Key); got != want {
			t.Errorf("IsSecret(%s) = %v, want %v", s.Key, got, want)
		}
	}
	if Shown(KeyRootPassword, "hunter22") != Redacted || Shown(KeyRootPassword, "") != "" || Shown(KeyHostname, "lb") != "lb" {
		t.Error("Shown does not redact exactly the secret values")
	}
}

func TestHash(t *testing.T) {
	hash := func(kv ...string) string {
		t.Helper()
		_, p, _ := FromProperties(with(kv...))
		return p.Hash()
	}
	base := hash()
	if !strings.HasPrefix(base, "sha256:") || len(base) != len("sha256:")+64 {
		t.Fatalf("Hash = %q", base)
	}
	if hash() != base {
		t.Fatal("Hash is not deterministic")
	}
	same := []struct {
		name string
		kv   []string
	}{
		{"spaces around a value", []string{KeyHostname, "  lb-01.example.com  "}},
		{"comma without space", []string{KeyNameservers, "192.168.10.2,192.168.10.3"}},
		{"semicolon", []string{KeyNameservers, "192.168.10.2; 192.168.10.3"}},
		{"stray commas", []string{KeyNameservers, ",192.168.10.2,, 192.168.10.3,"}},
		{"root password changed", []string{KeyRootPassword, "another-root-pw"}},
		{"haproxy password changed", []string{KeyHAProxyPassword, "another-dp-pw"}},
		{"root password cleared", []string{KeyRootPassword, ""}},
	}
	for _, c := range same {
		if got := hash(c.kv...); got != base {
			t.Errorf("%s: Hash changed (%s → %s)", c.name, base, got)
		}
	}
	changed := []struct {
		name string
		kv   []string
	}{
		{"range changed", []string{KeyServiceRanges, "192.168.20.192/26"}},
		{"range added", []string{KeyServiceRanges, "192.168.20.128/25, 192.168.21.0/24"}},
		{"hostname changed", []string{KeyHostname, "lb-02.example.com"}},
		{"nameserver order changed", []string{KeyNameservers, "192.168.10.3, 192.168.10.2"}},
		{"port changed", []string{KeyDataplanePort, "5557"}},
		{"user changed", []string{KeyHAProxyUser, "operator"}},
		{"gateway changed", []string{KeyWorkloadGateway, "192.168.20.254"}},
		{"permit root login changed", []string{KeyPermitRootLogin, "false"}},
		{"frontend added", []string{KeyFrontendIP, "192.168.30.5/24"}},
	}
	seen := map[string]string{base: "base"}
	for _, c := range changed {
		got := hash(c.kv...)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: Hash equals that of %s", c.name, prev)
		}
		seen[got] = c.name
	}

	// The CA key is a secret too: it must not move the hash.
	cert, key, other := selfSigned(t, "ecdsa")
	if hash(KeyCACert, cert, KeyCAKey, key) != hash(KeyCACert, cert, KeyCAKey, other) {
		t.Error("Hash changed when only the CA key changed")
	}
	// Hash works on Properties directly, whatever their source.
	p := Properties{KeyServiceRanges: "10.0.0.0/24, 10.0.1.0/24", KeyRootPassword: "a"}
	q := Properties{KeyServiceRanges: "10.0.0.0/24;10.0.1.0/24", KeyRootPassword: "b"}
	if p.Hash() != q.Hash() {
		t.Error("Properties.Hash depends on separators or secrets")
	}
}

package appliance_test

import (
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/internal/validate"
)

// FuzzFromProperties feeds web-form shaped values through the property
// conversion and the validation behind it: nothing may panic, every
// complaint names a key the configurator reads and says something, and a
// password never shows up in any of them.
func FuzzFromProperties(f *testing.F) {
	for _, s := range [][6]string{
		{"10.99.30.128/26, 10.99.30.192/27", "10.99.30.5/24", "10.99.30.1", "10.99.10.53, 10.99.10.54", "True", ""},
		{" null ", "", "", "", "TRUE", "-----BEGIN CERTIFICATE----- MIIB AAAA -----END CERTIFICATE-----"},
		{"10.0.0.70/26,,;10.0.0.0/8", "10.0.0.5", "10.0.0.300", "1.1.1.1 1.0.0.1", "yes", "null"},
		{"fd00:20::1:0/112, fe80::/64", "fd00:20::5/64", "fd00:20::1", "::1", "0", ""},
		{"10.0.0.10 - 10.0.0.20", "0.0.0.0/0", "::ffff:10.0.0.1", "fe80::1%eth0", "maybe", "-----BEGIN"},
		{"\ufeff10.1.0.0/24\r\n", "10.1.0.255/24", "10.2.0.1", ",,,", "", "\r\n"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5])
	}
	const secret = "Pw-FUZZ-SECRET-q7"
	f.Fuzz(func(t *testing.T, ranges, ip, gw, ns, boolean, pem string) {
		raw := map[string]string{
			appliance.KeyServiceRanges:      ranges,
			appliance.KeyWorkloadIP:         ip,
			appliance.KeyWorkloadGateway:    gw,
			appliance.KeyNameservers:        ns,
			appliance.KeyAdditionalNetworks: ranges + "," + ip,
			appliance.KeyPermitRootLogin:    boolean,
			appliance.KeyCACert:             pem,
			appliance.KeyCAKey:              pem + secret,
			appliance.KeyRootPassword:       secret + ip,
			appliance.KeyHAProxyPassword:    secret,
			appliance.KeyDataplanePort:      boolean,
			appliance.KeyFrontendIP:         gw,
		}
		c, props, found := appliance.FromProperties(raw)
		found = append(found, c.Check()...)
		found = append(found, validate.Ranges(c.Ranges(), validate.Against{Own: c.Rules()}.Rules())...)
		known := make(map[string]bool)
		for _, s := range appliance.Specs {
			known[s.Key] = true
		}
		for _, fd := range found {
			if !known[fd.Where] {
				t.Errorf("finding names %q, not a property key: %v", fd.Where, fd)
			}
			if strings.TrimSpace(fd.Message) == "" {
				t.Errorf("finding without a message: %#v", fd)
			}
			if strings.Contains(fd.String(), secret) {
				t.Fatalf("a secret leaked into a finding: %v", fd)
			}
		}
		_ = props.Hash()
	})
}

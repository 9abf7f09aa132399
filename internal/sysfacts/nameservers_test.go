package sysfacts

import (
	"slices"
	"testing"
)

func TestParseNameservers(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"one", "nameserver 192.168.10.2\n", []string{"192.168.10.2"}},
		{"several, in order", "nameserver 192.168.10.2\nnameserver 1.1.1.1\nnameserver 2001:db8::53\n", []string{"192.168.10.2", "1.1.1.1", "2001:db8::53"}},
		{"systemd-resolved stub",
			"# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n# Do not edit.\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.com\n",
			[]string{"127.0.0.53"}},
		{"comment lines", "# nameserver 10.0.0.1\n; nameserver 10.0.0.2\n#nameserver 10.0.0.3\nnameserver 10.0.0.4\n", []string{"10.0.0.4"}},
		{"trailing comment", "nameserver 10.0.0.4 # office DNS\n", []string{"10.0.0.4"}},
		{"tabs and spaces", "  nameserver\t10.0.0.5  \n", []string{"10.0.0.5"}},
		{"CRLF", "nameserver 10.0.0.6\r\nnameserver 10.0.0.7\r\n", []string{"10.0.0.6", "10.0.0.7"}},
		{"bare CR", "nameserver 10.0.0.6\rnameserver 10.0.0.7\r", []string{"10.0.0.6", "10.0.0.7"}},
		{"no final newline", "nameserver 10.0.0.8", []string{"10.0.0.8"}},
		{"IPv6 with zone", "nameserver fe80::1%eth0\nnameserver fe80::2%2\n", []string{"fe80::1", "fe80::2"}},
		{"IPv4-mapped", "nameserver ::ffff:10.0.0.9\n", []string{"10.0.0.9"}},
		{"junk", "nameserver\nnameserver dns.example.com\nnameserver 10.0.0.300\nnameservers 10.0.0.10\nNAMESERVER 10.0.0.11\nnameserver10.0.0.12\n\x00\xff\nsearch 10.0.0.13\ndomain example.com\n", nil},
		{"junk around a good line", "garbage line\nnameserver 10.0.0.14\nnameserver\n", []string{"10.0.0.14"}},
		{"a prefix is not an address", "nameserver 10.0.0.0/24\n", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ParseNameservers([]byte(c.in))
			var s []string
			for _, a := range got {
				s = append(s, a.String())
				if a.Zone() != "" || a.Is4In6() {
					t.Errorf("%v keeps a zone or IPv4 mapping", a)
				}
			}
			if !slices.Equal(s, c.want) {
				t.Errorf("ParseNameservers = %v, want %v", s, c.want)
			}
		})
	}
}

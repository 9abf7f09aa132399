package ipx

import (
	"net/netip"
	"testing"

	"go4.org/netipx"
)

// The range arithmetic is netipx's; these pin what the callers rely on:
// the last address of a prefix (a subnet's broadcast address), and the
// fewest prefixes that cover a first-last range exactly.
func TestLast(t *testing.T) {
	for _, c := range []struct{ p, want string }{
		{"10.0.0.0/24", "10.0.0.255"},
		{"10.0.0.64/26", "10.0.0.127"},
		{"10.0.0.5/32", "10.0.0.5"},
		{"0.0.0.0/0", "255.255.255.255"},
		{"2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff"},
		{"2001:db8::1/128", "2001:db8::1"},
	} {
		if got := netipx.PrefixLastIP(netip.MustParsePrefix(c.p)); got.String() != c.want {
			t.Errorf("Last(%s) = %s, want %s", c.p, got, c.want)
		}
	}
}

func TestCover(t *testing.T) {
	for _, c := range []struct{ from, to, want string }{
		{"10.0.0.64", "10.0.0.127", "10.0.0.64/26"},
		{"10.0.0.0", "10.0.0.0", "10.0.0.0/32"},
		{"10.0.0.1", "10.0.0.6", "10.0.0.1/32, 10.0.0.2/31, 10.0.0.4/31, 10.0.0.6/32"},
		{"0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"192.168.1.200", "192.168.2.7", "192.168.1.200/29, 192.168.1.208/28, 192.168.1.224/27, 192.168.2.0/29"},
		{"2001:db8::", "2001:db8::ffff", "2001:db8::/112"},
	} {
		got := FormatPrefixes(netipx.IPRangeFrom(netip.MustParseAddr(c.from), netip.MustParseAddr(c.to)).Prefixes())
		if got != c.want {
			t.Errorf("Cover(%s, %s) = %s, want %s", c.from, c.to, got, c.want)
		}
	}
	if netipx.IPRangeFrom(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")).Prefixes() != nil {
		t.Error("Cover of a reversed range must be nil")
	}
}

func TestParseRange(t *testing.T) {
	from, to, err := ParseRange(" 10.0.0.10 - 10.0.0.20 ")
	if err != nil || from.String() != "10.0.0.10" || to.String() != "10.0.0.20" {
		t.Fatalf("got %v %v %v", from, to, err)
	}
	for _, bad := range []string{"10.0.0.1", "10.0.0.5-10.0.0.1", "10.0.0.1-::1", "x-y"} {
		if _, _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) accepted", bad)
		}
	}
}

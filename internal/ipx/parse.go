package ipx

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"go4.org/netipx"
)

// Syntax is how one CIDR as an operator typed it is read: the one reader
// of the ranges file's lines, the vApp ranges and NIC addresses, and the
// check's --control-plane-ranges, so one mistake reads the same wherever
// it is made, and the range a mistake most likely stands for is the one
// its "did you mean" names.
type Syntax struct {
	// Bare: an address alone is its own /32 (/128).
	Bare bool
	// Ranges: "first-last" that is exactly one CIDR is that CIDR.
	Ranges bool
	// Masked: host bits set are an error, and a suggestion is masked.
	Masked bool
	// Example4 and Example6 end the hint of a value nothing more can be
	// said of; a CIDR of the key's kind (a range, an interface address).
	Example4, Example6 string
}

// BadPrefix says why a CIDR does not parse.
type BadPrefix struct {
	// Problem completes "VALUE ...": "has host bits set".
	Problem string
	// Hint says what to write instead: "did you mean 10.0.0.0/24?".
	Hint string
	// Meant are the addresses the operator most likely meant: the
	// suggestion's, or the span of a first-last range; not valid when
	// the text does not say.
	Meant netipx.IPRange
	// Cover are the CIDRs of a first-last range that is not one CIDR.
	Cover []netip.Prefix
}

func (e *BadPrefix) Error() string { return e.Problem + " (" + e.Hint + ")" }

var (
	spacedSlash = regexp.MustCompile(`\s*/\s*`)
	spacedDash  = regexp.MustCompile(`\s*-\s*`)
)

// Tidy takes out the white space around a / and a -: what is left with
// spaces in it holds more than one value.
func Tidy(s string) string {
	return spacedDash.ReplaceAllString(spacedSlash.ReplaceAllString(strings.TrimSpace(s), "/"), "-")
}

// Parse reads s, which is trimmed. A failure is a *BadPrefix.
func (sy Syntax) Parse(s string) (netip.Prefix, error) {
	p, bad := sy.parse(strings.TrimSpace(s))
	if bad != nil {
		return netip.Prefix{}, bad
	}
	return p, nil
}

func (sy Syntax) parse(s string) (netip.Prefix, *BadPrefix) {
	if t := spacedSlash.ReplaceAllString(s, "/"); t != s {
		// The deeper mistake, when there is one, is the one to name.
		p, bad := sy.parse(t)
		if bad != nil {
			return p, bad
		}
		return netip.Prefix{}, sy.suggest("has a space next to the /", p)
	}
	if i := strings.IndexByte(s, '%'); i >= 0 {
		// netip.ParsePrefix refuses zones, and ParseAddr would take
		// "eth0/64" in "fe80::1%eth0/64" for the zone.
		zone, rest, slash := strings.Cut(s[i:], "/")
		bare := s[:i]
		if slash {
			bare += "/" + rest
		}
		bad := &BadPrefix{Problem: fmt.Sprintf("has an IPv6 zone (%s), which a route or an interface address cannot carry", zone), Hint: "remove the %zone"}
		if p, b := sy.parse(bare); b == nil {
			bad.Meant = netipx.RangeOfPrefix(p.Masked())
		} else {
			bad.Meant = b.Meant
		}
		return netip.Prefix{}, bad
	}
	if sy.Ranges && strings.Contains(s, "-") {
		if p, bad, ok := sy.span(s); ok {
			return p, bad
		}
	}
	a, bits, slash := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(a)
	if err != nil {
		if p, ok := ShortIPv4(s); ok {
			return netip.Prefix{}, sy.suggest("has an address of fewer than four numbers", p)
		}
		return netip.Prefix{}, sy.badAddr(a, bits, slash)
	}
	if !slash {
		if sy.Bare {
			addr = addr.Unmap()
			return netip.PrefixFrom(addr, addr.BitLen()), nil
		}
		return netip.Prefix{}, &BadPrefix{Problem: "has no prefix length",
			Hint:  fmt.Sprintf("for this one address write %s/%d", addr, addr.BitLen()),
			Meant: netipx.IPRangeFrom(addr, addr)}
	}
	n, bad := sy.bits(addr, bits)
	if bad != nil {
		return netip.Prefix{}, bad
	}
	p := netip.PrefixFrom(addr, n)
	if addr.Is4In6() {
		bad := &BadPrefix{Problem: "is an IPv4-mapped IPv6 prefix", Hint: "write the IPv4 prefix"}
		if q := netip.PrefixFrom(addr.Unmap(), n-96); q.IsValid() {
			bad.Hint, bad.Meant = "write "+q.String(), netipx.RangeOfPrefix(q.Masked())
		}
		return netip.Prefix{}, bad
	}
	if sy.Masked && p.Masked() != p {
		return netip.Prefix{}, sy.suggest("has host bits set", p)
	}
	return p, nil
}

// span reads "first-last"; ok is false when s is not one.
func (sy Syntax) span(s string) (netip.Prefix, *BadPrefix, bool) {
	a, b, _ := strings.Cut(s, "-")
	from, err1 := netip.ParseAddr(strings.TrimSpace(a))
	to, err2 := netip.ParseAddr(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return netip.Prefix{}, nil, false
	}
	from, to = from.Unmap(), to.Unmap()
	switch {
	case from.Is4() != to.Is4():
		return netip.Prefix{}, &BadPrefix{Problem: "is an address range from an IPv4 to an IPv6 address", Hint: "write both ends in one family"}, true
	case to.Less(from):
		r := netipx.IPRangeFrom(to, from)
		bad := &BadPrefix{Problem: "is an address range that ends before it starts", Hint: fmt.Sprintf("did you mean %s-%s?", to, from), Meant: r}
		if p, ok := r.Prefix(); ok {
			bad.Hint = fmt.Sprintf("did you mean %s (%s)?", r, p)
		}
		return netip.Prefix{}, bad, true
	}
	r := netipx.IPRangeFrom(from, to)
	cover := r.Prefixes()
	if len(cover) == 1 {
		return cover[0], nil, true
	}
	return netip.Prefix{}, &BadPrefix{Problem: "is an address range that is not one CIDR",
		Hint: "write it in CIDR form: " + FormatPrefixes(cover), Meant: r, Cover: cover}, true
}

// bits reads the prefix length after the /.
func (sy Syntax) bits(addr netip.Addr, bits string) (int, *BadPrefix) {
	max := addr.BitLen()
	bad := &BadPrefix{Problem: fmt.Sprintf("has a bad prefix length %q", bits),
		Hint: fmt.Sprintf("the prefix length after / must be a number from 0 to %d", max)}
	if bits != "" && strings.Trim(bits, "0123456789") == "" {
		n, err := strconv.Atoi(bits)
		switch {
		case err != nil || n > max:
			return 0, bad
		case len(bits) > 1 && bits[0] == '0':
			return 0, sy.suggest(fmt.Sprintf("has a prefix length with a leading zero (%s)", bits), netip.PrefixFrom(addr, n))
		}
		return n, nil
	}
	if m, err := netip.ParseAddr(bits); err == nil && m.Is4() && addr.Is4() {
		n, contiguous := maskBits(m)
		if !contiguous {
			bad.Problem = fmt.Sprintf("has the netmask %s after the /, which is not contiguous (its one bits do not all come first)", m)
			bad.Hint = "write the prefix length, a number from 0 to 32"
			return 0, bad
		}
		return 0, sy.suggest(fmt.Sprintf("has a netmask (%s) after the /, not a prefix length", m), netip.PrefixFrom(addr, n))
	}
	return 0, bad
}

// maskBits is a netmask's number of leading one bits, and whether all its
// one bits lead.
func maskBits(m netip.Addr) (int, bool) {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for n < 32 && v&(1<<(31-n)) != 0 {
		n++
	}
	return n, n == 32 || v<<n == 0
}

// suggest is the error for a mistake whose meaning is plain: p (masked
// when the syntax wants it) is what to write.
func (sy Syntax) suggest(problem string, p netip.Prefix) *BadPrefix {
	if sy.Masked {
		p = p.Masked()
	}
	return &BadPrefix{Problem: problem, Hint: fmt.Sprintf("did you mean %s?", p), Meant: netipx.RangeOfPrefix(p.Masked())}
}

// badAddr says, in words, what is wrong with the address of a CIDR.
func (sy Syntax) badAddr(a, bits string, slash bool) *BadPrefix {
	ex4, ex6 := sy.Example4, sy.Example6
	if ex4 == "" {
		ex4 = "192.168.30.128/26"
	}
	if ex6 == "" {
		ex6 = "fd00:30::1:0/120"
	}
	generic := &BadPrefix{Problem: "is not a CIDR", Hint: "write address/prefix-length, e.g. " + ex4}
	switch {
	case strings.Contains(a, ":"):
		generic.Hint = "write address/prefix-length, e.g. " + ex6
		if p := badIPv6(a); p != "" {
			generic.Problem = p
			generic.Hint = "write the address with eight groups of hex digits, or :: for one run of zero groups, e.g. " + ex6
		}
	case a != "" && strings.Trim(a, "0123456789.") == "":
		hint := "an IPv4 address is four numbers from 0 to 255, e.g. " + ex4
		fields := strings.Split(a, ".")
		for _, f := range fields {
			if f == "" {
				return &BadPrefix{Problem: "has an IPv4 address with an empty number (two dots in a row, or a dot at an end)", Hint: hint}
			}
			if n, err := strconv.Atoi(f); err != nil || n > 255 {
				return &BadPrefix{Problem: fmt.Sprintf("has an IPv4 address in which %s is more than 255", f), Hint: hint}
			}
		}
		if len(fields) != 4 {
			return &BadPrefix{Problem: fmt.Sprintf("has an IPv4 address of %d numbers, not four", len(fields)), Hint: hint}
		}
		// Only leading zeros are left, which netip refuses: some tools
		// read them as octal.
		for i, f := range fields {
			n, _ := strconv.Atoi(f)
			fields[i] = strconv.Itoa(n)
		}
		fixed := strings.Join(fields, ".")
		problem := "has an IPv4 address with a leading zero, which some tools read as octal"
		if !slash {
			if sy.Bare {
				return sy.suggest(problem, netip.MustParsePrefix(fixed+"/32"))
			}
			return &BadPrefix{Problem: problem, Hint: "write " + fixed}
		}
		if p, bad := sy.parse(fixed + "/" + bits); bad == nil {
			return sy.suggest(problem, p)
		}
		return &BadPrefix{Problem: problem, Hint: "write " + fixed + " and a prefix length from 0 to 32"}
	}
	return generic
}

// badIPv6 names what is wrong with an IPv6-looking address, or "" when
// nothing plain is.
func badIPv6(a string) string {
	if strings.Count(a, "::") > 1 {
		return "has :: twice in its address; it stands for one run of zero groups only"
	}
	var groups []string
	left, right, elided := strings.Cut(a, "::")
	for _, side := range []string{left, right} {
		if side != "" {
			groups = append(groups, strings.Split(side, ":")...)
		}
	}
	for i, g := range groups {
		if i == len(groups)-1 && strings.Contains(g, ".") {
			return "" // an IPv4 tail: netip's own check is as good as any
		}
		if g == "" || len(g) > 4 || strings.Trim(strings.ToLower(g), "0123456789abcdef") != "" {
			return fmt.Sprintf("has %q in its IPv6 address, which is not a group of one to four hex digits", g)
		}
	}
	switch {
	case !elided && len(groups) != 8:
		return fmt.Sprintf("has an IPv6 address of %d groups; it needs eight, or :: for the zero groups left out", len(groups))
	case elided && len(groups) > 7:
		return fmt.Sprintf("has an IPv6 address of %d groups and a ::, which stands for at least one more", len(groups))
	}
	return ""
}

// Package haproxycfg reads the `bind` lines of an HAProxy configuration:
// which addresses and ports each frontend (and listen section) asks the
// kernel for. It exists so anyip-routes check can tell, before HAProxy is
// restarted, which frontends would fail to bind because their address lies
// outside every AnyIP range.
//
// It is not a full HAProxy parser. It follows HAProxy's own rules for what
// matters here: words split on blanks, '#' starts a comment, backslash
// escapes, single quotes (literal) and double quotes (environment variables
// expanded, which we cannot do: such addresses are reported as unresolved),
// section keywords at the start of a line, and the address syntax of
// str2sa_range: `[addr]:port[-end]`, several of them separated by commas,
// IPv6 in brackets or bare with the last colon before the port, `*`, `::`
// and an empty host as wildcards, and the `ipv4@`, `ipv6@`, `tcp@`, `udp@`,
// `quic4@`... prefixes. UNIX sockets (`/path`, `unix@`, `abns@`), inherited
// descriptors (`fd@`, `sockpair@`) and the like are kept but are not IP
// addresses.
package haproxycfg

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/textfile"
)

// DefaultPath is where Debian's haproxy package keeps its configuration.
const DefaultPath = "/etc/haproxy/haproxy.cfg"

// MaxSize bounds what Parse reads; real configurations with thousands of
// frontends stay far below, and parsing the largest accepted one stays
// within the commands' memory bound.
const MaxSize = 4 << 20

// Kind says what a bind address is.
type Kind int

const (
	// IP is a concrete IPv4 or IPv6 address: it must be local to bind.
	IP Kind = iota
	// Wildcard is "any address" (`*`, empty host, 0.0.0.0, ::): always binds.
	Wildcard
	// Socket is not an IP socket: a UNIX socket path, an abstract
	// socket, an inherited file descriptor, a reverse-HTTP name.
	Socket
	// Unresolved cannot be checked without HAProxy's run-time context: an
	// environment variable, or a host name.
	Unresolved
	// Invalid does not parse; HAProxy refuses it too. Addr.Err says why.
	Invalid
)

func (k Kind) String() string {
	switch k {
	case IP:
		return "ip"
	case Wildcard:
		return "wildcard"
	case Socket:
		return "socket"
	case Unresolved:
		return "unresolved"
	case Invalid:
		return "invalid"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Section is a `frontend` or `listen` section.
type Section struct {
	Kind string // "frontend" or "listen"
	Name string
	Line int // 1-based line of the section keyword
}

func (s Section) String() string {
	if s.Name == "" {
		return s.Kind
	}
	return s.Kind + " " + s.Name
}

// Bind is one `bind` line.
type Bind struct {
	Section Section
	Line    int    // 1-based
	Text    string // the line as written, trimmed, comment included
	Addrs   []Addr
	// Options are the words after the address list, unquoted.
	Options []string
	// Transparent is set by the `transparent` option: HAProxy binds the
	// address even when the system does not hold it.
	Transparent bool
	// V4V6 and V6Only are the options of the same name.
	V4V6, V6Only bool
	// Namespace is the `namespace` option: the socket lives in another
	// network namespace, whose addresses we do not see.
	Namespace string
	// Err is set when the line as a whole is malformed (no address, an
	// unterminated quote); Addrs is then empty.
	Err error
}

// Addr is one address of a bind line's comma-separated list.
type Addr struct {
	Text string // as written, after unquoting
	Kind Kind
	// IP is the address for IP, and 0.0.0.0 or :: for Wildcard; zone and
	// IPv4-mapped form removed.
	IP netip.Addr
	// FirstPort..LastPort is the port range; equal for a single port.
	// Zero for sockets.
	FirstPort, LastPort uint16
	// Transport is "tcp", "udp" or "quic" for IP and Wildcard; empty
	// otherwise.
	Transport string
	// Reason explains Socket and Unresolved kinds ("UNIX socket",
	// "environment variable ${VIP}").
	Reason string
	// Err says why an Invalid address does not parse.
	Err error
}

// Config is what Parse found: every bind line of every frontend and listen
// section, in file order.
type Config struct {
	Path     string
	Sections []Section
	Binds    []Bind
}

// sectionKeywords start a new section when they are the first word of a
// line (HAProxy recognises them at any indentation).
var sectionKeywords = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"userlist": true, "peers": true, "resolvers": true, "mailers": true, "program": true,
	"http-errors": true, "ring": true, "cache": true, "fcgi-app": true, "log-forward": true,
	"crt-store": true, "traces": true, "acme": true, "dynamic-update": true,
}

// ParseError is a problem with the file as a whole.
type ParseError struct {
	Path   string
	Reason string
}

func (e *ParseError) Error() string { return e.Path + ": " + e.Reason }

// Parse reads an HAProxy configuration. It returns an error only when the
// file cannot be read as a configuration at all; a malformed bind line or
// address is reported on its Bind (Err) or Addr (Kind Invalid, Err).
func Parse(path string, data []byte) (*Config, error) {
	if len(data) > MaxSize {
		return nil, &ParseError{path, fmt.Sprintf("is %d bytes long; an HAProxy configuration this large is not supported (limit %d MiB)", len(data), MaxSize>>20)}
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, &ParseError{path, "contains NUL bytes: not a text file"}
	}
	c := &Config{Path: path}
	var cur *Section // nil outside frontend/listen
	for n, line := range textfile.Lines(data) {
		words, err := split(string(line))
		if len(words) == 0 {
			continue // blank, comment, or malformed before any word
		}
		kw := words[0].text
		if sectionKeywords[kw] && !words[0].quoted {
			cur = nil
			if kw == "frontend" || kw == "listen" {
				s := Section{Kind: kw, Line: n}
				if len(words) > 1 {
					s.Name = words[1].text
				}
				c.Sections = append(c.Sections, s)
				cur = &c.Sections[len(c.Sections)-1]
			}
			continue
		}
		if cur == nil || kw != "bind" {
			continue
		}
		b := Bind{Section: *cur, Line: n, Text: strings.TrimSpace(string(line))}
		if err != nil {
			b.Err = err
		} else {
			parseBind(&b, words[1:])
		}
		c.Binds = append(c.Binds, b)
	}
	return c, nil
}

// Binds of a section are usually read by section; this returns those of s.
func (c *Config) BindsOf(s Section) []Bind {
	var out []Bind
	for _, b := range c.Binds {
		if b.Section == s {
			out = append(out, b)
		}
	}
	return out
}

func parseBind(b *Bind, args []word) {
	if len(args) == 0 {
		b.Err = errors.New("bind has no address: HAProxy expects [addr]:port[-end] or a socket path")
		return
	}
	// The first word is the address list. A list written with a blank
	// after a comma ("a:80, b:80") is refused by HAProxy, which reads the
	// next word as an unknown option: say so on that word.
	rest := args[1:]
	for part := range strings.SplitSeq(args[0].text, ",") {
		if part != "" {
			b.Addrs = append(b.Addrs, parseAddr(part))
		}
	}
	if strings.HasSuffix(args[0].text, ",") && len(rest) > 0 && strings.ContainsAny(rest[0].text, ":/@") {
		b.Addrs = append(b.Addrs, Addr{Text: rest[0].text, Kind: Invalid,
			Err: fmt.Errorf("HAProxy reads %q as an option, not an address: remove the blank after the comma", finding.Clip(rest[0].text))})
		rest = rest[1:]
	}
	if len(b.Addrs) == 0 {
		b.Err = fmt.Errorf("bind has an empty address list %q", finding.Clip(args[0].text))
		return
	}
	for i := 0; i < len(rest); i++ {
		o := rest[i].text
		b.Options = append(b.Options, o)
		switch o {
		case "transparent":
			b.Transparent = true
		case "v4v6":
			b.V4V6 = true
		case "v6only":
			b.V6Only = true
		case "namespace":
			if i+1 < len(rest) {
				b.Namespace = rest[i+1].text
			}
		}
	}
}

// transports maps the protocol prefixes of str2sa_range to the family they
// force (4, 6, or 0 for either) and the transport.
var transports = map[string]struct {
	family    int
	transport string
}{
	"ipv4": {4, "tcp"}, "ipv6": {6, "tcp"},
	"tcp": {0, "tcp"}, "tcp4": {4, "tcp"}, "tcp6": {6, "tcp"},
	"mptcp": {0, "tcp"}, "mptcp4": {4, "tcp"}, "mptcp6": {6, "tcp"},
	"udp": {0, "udp"}, "udp4": {4, "udp"}, "udp6": {6, "udp"},
	"quic": {0, "quic"}, "quic4": {4, "quic"}, "quic6": {6, "quic"},
}

// sockets are the prefixes of addresses that are not IP sockets.
var sockets = map[string]string{
	"unix":     "UNIX socket",
	"uxst":     "UNIX stream socket",
	"uxdg":     "UNIX datagram socket",
	"abns":     "abstract UNIX socket",
	"abnsz":    "abstract UNIX socket",
	"fd":       "inherited file descriptor",
	"sockpair": "socket pair",
	"rhttp":    "reverse HTTP",
}

// parseAddr reads one element of a bind address list.
func parseAddr(s string) Addr {
	a := Addr{Text: s}
	invalid := func(format string, args ...any) Addr {
		a.Kind, a.Err = Invalid, fmt.Errorf(format, args...)
		return a
	}
	rest := s
	family := 0
	a.Transport = "tcp"
	if pfx, after, ok := strings.Cut(s, "@"); ok && !strings.ContainsAny(pfx, "[]:/$") {
		if what, ok := sockets[pfx]; ok {
			a.Kind, a.Reason, a.Transport = Socket, what, ""
			return a
		}
		t, ok := transports[pfx]
		if !ok {
			return invalid("unknown address prefix %q", finding.Clip(pfx+"@"))
		}
		family, a.Transport = t.family, t.transport
		rest = after
	}
	if strings.HasPrefix(rest, "/") && family == 0 && rest == s {
		a.Kind, a.Reason, a.Transport = Socket, "UNIX socket", ""
		return a
	}
	if strings.Contains(rest, "$") {
		a.Kind, a.Reason = Unresolved, "environment variable "+envName(rest)
		return a
	}

	// Split host and port: brackets, or the last colon.
	var host, port string
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return invalid("%q has '[' without ']'", finding.Clip(s))
		}
		host = rest[1:end]
		after := rest[end+1:]
		if !strings.HasPrefix(after, ":") {
			return invalid("%q has no port: write [address]:port", finding.Clip(s))
		}
		port = after[1:]
		if host == "" {
			return invalid("%q has an empty address in brackets", finding.Clip(s))
		}
	} else {
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			return invalid("%q has no port: bind wants address:port, e.g. 10.0.0.1:443 or :443", finding.Clip(s))
		}
		host, port = rest[:i], rest[i+1:]
	}
	first, last, err := parsePorts(port)
	if err != nil {
		return invalid("%q: %v", finding.Clip(s), err)
	}
	a.FirstPort, a.LastPort = first, last

	switch {
	case host == "" || host == "*":
		a.Kind = Wildcard
		if family == 6 {
			a.IP = netip.IPv6Unspecified()
		} else {
			a.IP = netip.IPv4Unspecified()
		}
		return a
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if strings.ContainsAny(host, ":[]%") || !isHostname(host) {
			return invalid("%q: %q is not an IP address", finding.Clip(s), finding.Clip(host))
		}
		if looksNumeric(host) {
			return invalid("%q: %q is not an IP address", finding.Clip(s), finding.Clip(host))
		}
		a.Kind, a.Reason = Unresolved, "host name "+host
		return a
	}
	ip = ip.WithZone("").Unmap()
	switch {
	case family == 4 && !ip.Is4():
		return invalid("%q: %s is not an IPv4 address", finding.Clip(s), ip)
	case family == 6 && ip.Is4() && !strings.Contains(host, ":"):
		return invalid("%q: %s is not an IPv6 address", finding.Clip(s), ip)
	}
	a.IP = ip
	if ip.IsUnspecified() {
		a.Kind = Wildcard
	} else {
		a.Kind = IP
	}
	return a
}

// parsePorts reads "443" or "8000-8010".
func parsePorts(s string) (uint16, uint16, error) {
	if s == "" {
		return 0, 0, errors.New("the port is missing")
	}
	lo, hi, isRange := strings.Cut(s, "-")
	first, err := parsePort(lo)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return first, first, nil
	}
	last, err := parsePort(hi)
	if err != nil {
		return 0, 0, err
	}
	if last < first {
		return 0, 0, fmt.Errorf("port range %s ends before it starts", finding.Clip(s))
	}
	return first, last, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a port number", finding.Clip(s))
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d is out of range 1-65535", n)
	}
	return uint16(n), nil
}

func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// looksNumeric catches malformed IPv4 addresses (10.0.0.300) that would
// otherwise pass for host names.
func looksNumeric(s string) bool {
	return strings.Trim(s, "0123456789.") == ""
}

// envName extracts the first variable reference for messages.
func envName(s string) string {
	i := strings.IndexByte(s, '$')
	if i < 0 {
		return finding.Clip(s)
	}
	s = s[i:]
	if strings.HasPrefix(s, "${") {
		if j := strings.IndexByte(s, '}'); j > 0 {
			return finding.Clip(s[:j+1])
		}
		return finding.Clip(s)
	}
	j := 1
	for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
		j++
	}
	return finding.Clip(s[:j])
}

// word is one unquoted word of a line.
type word struct {
	text   string
	quoted bool // some part was quoted or escaped
}

// split cuts a line into words the way HAProxy's parse_line does, as far
// as bind lines need: blanks separate, '#' outside quotes ends the line,
// backslash escapes the next character outside single quotes, single
// quotes are literal, and so are double quotes for our purpose: HAProxy
// expands environment variables ($NAME, ${NAME}) inside them, which we
// cannot, so the '$' stays and parseAddr reports the address as
// unresolved. On a malformed line it returns the words read so far and an
// error.
func split(line string) ([]word, error) {
	var out []word
	var cur strings.Builder
	var w word
	inWord := false
	var squote, dquote bool
	flush := func() {
		if inWord {
			w.text = cur.String()
			out = append(out, w)
		}
		cur.Reset()
		w = word{}
		inWord = false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case squote:
			if c == '\'' {
				squote = false
			} else {
				cur.WriteByte(c)
			}
		case c == '\\':
			inWord, w.quoted = true, true
			if i+1 >= len(line) {
				return out, errors.New("the line ends with a lone backslash")
			}
			i++
			switch e := line[i]; e {
			case 'n':
				cur.WriteByte('\n')
			case 'r':
				cur.WriteByte('\r')
			case 't':
				cur.WriteByte('\t')
			case 'x':
				if i+2 >= len(line) {
					return out, errors.New(`a \x escape needs two hex digits`)
				}
				v, err := strconv.ParseUint(line[i+1:i+3], 16, 8)
				if err != nil {
					return out, fmt.Errorf(`bad escape \x%s`, finding.Clip(line[i+1:i+3]))
				}
				cur.WriteByte(byte(v))
				i += 2
			default:
				cur.WriteByte(e)
			}
		case dquote:
			if c == '"' {
				dquote = false
			} else {
				cur.WriteByte(c)
			}
		case c == '\'':
			squote, inWord, w.quoted = true, true, true
		case c == '"':
			dquote, inWord, w.quoted = true, true, true
		case c == '#':
			flush()
			return out, nil
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f':
			flush()
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if squote || dquote {
		return out, errors.New("a quote is not closed")
	}
	flush()
	return out, nil
}
